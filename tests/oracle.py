"""High-precision reference values (mpmath, 60 significant digits), ULP measures and a
finite-difference gradient for the tests.

These are the tests' own independent oracle, written from the definitions; they are not a copy
of the book's NumPy functions (which are loaded from the notebooks).
"""
import math

import mpmath
import numpy as np

mpmath.mp.dps = 60
mp = mpmath.mp


def mpf(x) -> mpmath.mpf:
    """The exact value of a float (float32 included) as an mpmath number."""
    return mp.mpf(float(x))


def xlogy(a, b):
    """a·log(b) with 0·log(0) = 0, in high precision."""
    if a == 0:
        return mp.mpf(0)
    if b == 0:
        return -mp.inf
    return a * mp.log(b)


def bce_terms(y, p):
    """Per-element exact binary cross-entropy -(y log p + (1-y) log(1-p))."""
    y, p = mpf(y), mpf(p)
    neg = mp.mpf(0) if y == 1 else (-mp.inf if p == 1 else (1 - y) * mp.log1p(-p))
    return -(xlogy(y, p) + neg)   # log1p: at 60 digits 1 - p would round for tiny p


def bce_mean(y, p):
    values = [bce_terms(a, b) for a, b in zip(np.ravel(y), np.ravel(p))]
    return mp.fsum(values) / len(values)


def bce_grad(y, p, n):
    """d/dp of the mean BCE, one element: -(y/p - (1-y)/(1-p))/n, with the infinite limits."""
    y, p = mpf(y), mpf(p)
    if p == 0:
        return -mp.inf if y > 0 else mp.mpf(1) / n
    if p == 1:
        return mp.inf if y < 1 else mp.mpf(-1) / n
    return -(y / p - (1 - y) / (1 - p)) / n


def ulp_error(computed, exact, dtype=np.float64) -> float:
    """|computed - exact| in units in the last place of the exact value, in `dtype`."""
    computed = float(computed)
    if mp.isinf(exact) or math.isinf(computed):
        return 0.0 if computed == float(exact) else math.inf
    if math.isnan(computed):
        return math.inf
    exact_float = dtype(float(exact))
    spacing = float(np.spacing(np.abs(exact_float)))
    if exact == 0:
        return 0.0 if computed == 0 else math.inf
    return float(abs(mpf(computed) - exact) / mp.mpf(spacing))


def central_difference_gradient(loss, x, h=1e-6):
    """Gradient of the scalar function `loss` at the array `x`, one central difference per entry."""
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = h
        grad[index] = (loss(x + step) - loss(x - step)) / (2 * h)
    return grad


def exact_focal(y, z, gamma, alpha=None):
    """The focal loss of one element: alpha_t sigma(-t)^gamma log(1 + e^-t), t = +-z."""
    t = mp.mpf(float(z)) if y == 1 else -mp.mpf(float(z))
    alpha_t = 1 if alpha is None else (mp.mpf(alpha) if y == 1 else 1 - mp.mpf(alpha))
    return alpha_t * (1 / (1 + mp.exp(t))) ** gamma * mp.log1p(mp.exp(-t))
