"""Every reference function, in float16, float32 and float64, for N = 1, 65,520 and 10⁶.

The result must keep the input's dtype and lie within a few ULP *of that format* of the exact
value of the (already rounded) inputs, computed by mpmath. N = 65,520 is where a float16 count
becomes inf; 10⁶ elements make a float16 sum overflow. Sums, counts and means must therefore be
taken in a wider type and rounded once. Inputs repeat a small pattern of distinct values, so
the exact mean is a weighted sum of a few mpmath values.
"""
import math

import mpmath
import numpy as np
import pytest

from bookfunctions import load_chapter
from oracle import bce_grad as exact_bce_grad, bce_terms, mp, mpf

DTYPES = [np.float16, np.float32, np.float64]
SIZES = [1, 65_520, 1_000_000]
MAX_ULP = 4

bce_ch, logits_ch, cce_ch, info_ch, speed_ch, reductions_ch = (
    load_chapter(n) for n in ("bce", "logits", "cce", "information", "speed", "reductions"))


def ulps(computed, exact, dtype) -> float:
    """Distance from `computed` to the exact value, in ULP of `dtype` at the exact value."""
    computed = float(computed)
    if math.isnan(computed):
        return math.inf
    with np.errstate(over="ignore"):
        rounded = float(dtype(float(exact)))  # exact value rounded to the format (0 or inf too)
    if math.isinf(rounded):                   # beyond the format's range: inf is correct
        return 0.0 if computed == rounded else math.inf
    spacing = float(np.spacing(dtype(abs(rounded))))
    return float(abs(mpf(computed) - exact) / mp.mpf(spacing))


def tiled(pattern, n):
    """`pattern` (rows or elements) repeated to n rows, and how often each row occurs."""
    pattern = np.asarray(pattern)
    counts = np.full(len(pattern), n // len(pattern))
    counts[: n % len(pattern)] += 1
    return np.resize(pattern, (n,) + pattern.shape[1:]), counts


def softplus(x):
    return mp.log1p(mp.exp(x))


def sigma(x):
    return 1 / (1 + mp.exp(-x))


# ----------------------------------------------------------------------------------------------
# Binary functions: elements (y, p) or (y, z); the mean is over all N elements.
Y_BIN = [1.0, 0.0, 0.3, 1.0, 0.0]
P_BIN = [0.999, 0.2, 0.6, 0.5, 0.001]
Z_BIN = [7.0, -3.0, 0.5, 2.0, -9.0]

BINARY_LOSSES = {
    "bce": (bce_ch.bce, P_BIN, lambda y, p: bce_terms(y, p)),
    "bce_with_logits": (logits_ch.bce_with_logits, Z_BIN,
                        lambda y, z: mpf(y) * softplus(-mpf(z)) + (1 - mpf(y)) * softplus(mpf(z))),
    "bce_with_logits_fast": (speed_ch.bce_with_logits_fast, Z_BIN,
                             lambda y, z: mpf(y) * softplus(-mpf(z))
                             + (1 - mpf(y)) * softplus(mpf(z))),
}
BINARY_GRADS = {
    "bce_grad": (bce_ch.bce_grad, P_BIN, lambda y, p, n: exact_bce_grad(y, p, n)),
    "bce_with_logits_grad": (logits_ch.bce_with_logits_grad, Z_BIN,
                             lambda y, z, n: (sigma(mpf(z)) - mpf(y)) / n),
}


def binary_inputs(x_pattern, dtype, n, hard=False):
    y_pat = [1.0, 0.0, 1.0, 1.0, 0.0] if hard else Y_BIN
    pattern = np.stack([np.array(y_pat, dtype), np.array(x_pattern, dtype)], axis=1)
    rows, counts = tiled(pattern, n)
    return rows[:, 0].copy(), rows[:, 1].copy(), pattern, counts


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", list(BINARY_LOSSES))
def test_binary_loss_mean_and_sum(name, dtype, n):
    function, x_pattern, exact_term = BINARY_LOSSES[name]
    y, x, pattern, counts = binary_inputs(x_pattern, dtype, n)
    terms = [exact_term(a, b) for a, b in pattern]
    exact_sum = mp.fsum(c * t for c, t in zip(counts, terms))
    for reduction, exact in (("mean", exact_sum / n), ("sum", exact_sum)):
        got = function(y, x, reduction=reduction)
        assert np.asarray(got).dtype == dtype, (reduction, np.asarray(got).dtype)
        assert ulps(got, exact, dtype) <= MAX_ULP, (reduction, float(got), float(exact))


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", list(BINARY_GRADS))
def test_binary_gradient_of_the_mean(name, dtype, n):
    function, x_pattern, exact_grad = BINARY_GRADS[name]
    y, x, pattern, _ = binary_inputs(x_pattern, dtype, n)
    got = function(y, x)
    assert got.dtype == dtype and got.shape == (n,)
    for k, (a, b) in enumerate(pattern[: min(n, len(pattern))]):
        assert ulps(got[k], exact_grad(a, b, n), dtype) <= MAX_ULP, (k, float(got[k]))


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_focal_loss_and_gradient(dtype, n):
    y, z, pattern, counts = binary_inputs(Z_BIN, dtype, n, hard=True)

    def term(a, b, gamma=2):
        b = b if isinstance(b, mpmath.mpf) else mpf(b)   # keep mp.diff's high-precision steps
        t = b if a == 1 else -b
        return (1 - sigma(t)) ** gamma * softplus(-t)

    exact = mp.fsum(c * term(a, b) for c, (a, b) in zip(counts, pattern)) / n
    got = reductions_ch.focal_loss_with_logits(y, z)
    assert np.asarray(got).dtype == dtype and ulps(got, exact, dtype) <= MAX_ULP
    grad = reductions_ch.focal_loss_with_logits_grad(y, z)
    assert grad.dtype == dtype
    for k, (a, b) in enumerate(pattern[: min(n, len(pattern))]):
        exact_g = mp.diff(lambda v: term(a, v), mpf(b)) / n
        assert ulps(grad[k], exact_g, dtype) <= MAX_ULP, (k, float(grad[k]), float(exact_g))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_sigmoid_elementwise(dtype):
    z = np.array(Z_BIN + [0.0, -20.0, 15.0], dtype)
    got = logits_ch.sigmoid(z)
    assert got.dtype == dtype
    for k in range(z.size):
        assert ulps(got[k], sigma(mpf(z[k])), dtype) <= MAX_ULP


# ----------------------------------------------------------------------------------------------
# Categorical functions: N rows of K = 3 classes; the mean is over the N rows.
Y_ROWS = [[1, 0, 0], [0, 0.25, 0.75], [0, 1, 0], [0.5, 0.5, 0], [0, 0, 1]]
P_ROWS = [[0.625, 0.25, 0.125], [0.25, 0.25, 0.5], [0.0625, 0.875, 0.0625],
          [0.5, 0.375, 0.125], [0.125, 0.125, 0.75]]
Z_ROWS = [[2.0, -1.0, 0.5], [0.0, 3.0, -2.0], [9.0, 0.0, 1.0], [-4.0, -4.5, 1.0],
          [0.25, 0.5, 0.75]]
LABELS = [0, 2, 1, 0, 2]


def log_softmax_exact(z_row):
    z = [mpf(v) for v in z_row]
    lse = mp.log(mp.fsum(mp.exp(v) for v in z))
    return [v - lse for v in z]


def ce_row(y_row, log_p):
    return -mp.fsum(mpf(a) * b for a, b in zip(y_row, log_p) if a != 0)


CATEGORICAL = {
    "cce": (cce_ch.cce, Y_ROWS, P_ROWS,
            lambda y, p: ce_row(y, [mp.log(mpf(v)) for v in p])),
    "cce_with_logits": (cce_ch.cce_with_logits, Y_ROWS, Z_ROWS,
                        lambda y, z: ce_row(y, log_softmax_exact(z))),
    "cce_with_logits_fast": (speed_ch.cce_with_logits_fast, Y_ROWS, Z_ROWS,
                             lambda y, z: ce_row(y, log_softmax_exact(z))),
    "sparse_cce_with_logits": (cce_ch.sparse_cce_with_logits, LABELS, Z_ROWS,
                               lambda k, z: -log_softmax_exact(z)[int(k)]),
    "sparse_cce_with_logits_fast": (speed_ch.sparse_cce_with_logits_fast, LABELS, Z_ROWS,
                                    lambda k, z: -log_softmax_exact(z)[int(k)]),
}


def categorical_inputs(labels, x_rows, dtype, n):
    index, counts = tiled(np.arange(len(x_rows)), n)
    labels = np.asarray(labels)
    y = labels[index] if labels.ndim == 1 else labels[index].astype(dtype)
    return y, np.asarray(x_rows, dtype)[index], counts


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", list(CATEGORICAL))
def test_categorical_loss_mean_and_sum(name, dtype, n):
    function, labels, x_rows, exact_row = CATEGORICAL[name]
    y, x, counts = categorical_inputs(labels, x_rows, dtype, n)
    rows_y = np.asarray(labels) if np.asarray(labels).ndim == 1 else np.asarray(labels, dtype)
    terms = [exact_row(a, b) for a, b in zip(rows_y, np.asarray(x_rows, dtype))]
    exact_sum = mp.fsum(c * t for c, t in zip(counts, terms))
    for reduction, exact in (("mean", exact_sum / n), ("sum", exact_sum)):
        got = function(y, x, reduction=reduction)
        assert np.asarray(got).dtype == dtype, (reduction, np.asarray(got).dtype)
        assert ulps(got, exact, dtype) <= MAX_ULP, (reduction, float(got), float(exact))


CATEGORICAL_GRADS = {
    "cce_grad": (cce_ch.cce_grad, Y_ROWS, P_ROWS,
                 lambda y, p, n: [(-mpf(a) / mpf(b) if a != 0 else mp.mpf(0)) / n
                                  for a, b in zip(y, p)]),
    "cce_with_logits_grad": (cce_ch.cce_with_logits_grad, Y_ROWS, Z_ROWS,
                             lambda y, z, n: [(mp.exp(v) - mpf(a)) / n
                                              for a, v in zip(y, log_softmax_exact(z))]),
    "sparse_cce_with_logits_grad": (
        cce_ch.sparse_cce_with_logits_grad, LABELS, Z_ROWS,
        lambda k, z, n: [(mp.exp(v) - (1 if j == int(k) else 0)) / n
                         for j, v in enumerate(log_softmax_exact(z))]),
}


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", list(CATEGORICAL_GRADS))
def test_categorical_gradient_of_the_mean(name, dtype, n):
    function, labels, x_rows, exact_grad = CATEGORICAL_GRADS[name]
    y, x, _ = categorical_inputs(labels, x_rows, dtype, n)
    got = function(y, x)
    assert got.dtype == dtype and got.shape == x.shape
    for r in range(min(n, len(x_rows))):
        exact = exact_grad(y[r], x[r], n)
        for j in range(3):
            assert ulps(got[r, j], exact[j], dtype) <= MAX_ULP, (r, j, float(got[r, j]))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_softmax_and_log_softmax_rows(dtype):
    z = np.asarray(Z_ROWS, dtype)
    soft, log_soft = cce_ch.softmax(z), cce_ch.log_softmax(z)
    assert soft.dtype == dtype and log_soft.dtype == dtype
    for r in range(len(z)):
        exact = log_softmax_exact(z[r])
        for j in range(3):
            assert ulps(log_soft[r, j], exact[j], dtype) <= MAX_ULP
            assert ulps(soft[r, j], mp.exp(exact[j]), dtype) <= MAX_ULP


# ----------------------------------------------------------------------------------------------
# Information: entropy, cross-entropy and KL divergence of N rows (one value per row), and of
# one distribution over N outcomes (a sum over N terms).
def entropy_row(q):
    return -mp.fsum(mpf(v) * mp.log(mpf(v)) for v in q if v != 0)


def cross_entropy_row(q, p):
    return -mp.fsum(mpf(a) * mp.log(mpf(b)) for a, b in zip(q, p) if a != 0)


def kl_row(q, p):
    return mp.fsum(mpf(a) * mp.log(mpf(a) / mpf(b)) for a, b in zip(q, p) if a != 0)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_information_rows(dtype, n):
    q, _, _ = categorical_inputs(P_ROWS[::-1], P_ROWS, dtype, n)
    p, _, _ = categorical_inputs(P_ROWS, P_ROWS, dtype, n)
    q, p = q.astype(dtype), p.astype(dtype)
    for name, function, exact, args in (
            ("entropy", info_ch.entropy, entropy_row, (q,)),
            ("cross_entropy", info_ch.cross_entropy, cross_entropy_row, (q, p)),
            ("kl_divergence", info_ch.kl_divergence, kl_row, (q, p))):
        got = function(*args)
        assert got.dtype == dtype and got.shape == (n,), name
        for r in range(min(n, len(P_ROWS))):
            assert ulps(got[r], exact(*(a[r] for a in args)), dtype) <= MAX_ULP, (name, r)


# (1/65520 is subnormal in float16: a float16 distribution over 65,520 outcomes cannot sum to 1)
@pytest.mark.parametrize("dtype, n", [(np.float16, 1), (np.float16, 2_000), (np.float32, 1),
                                      (np.float32, 65_520), (np.float64, 1), (np.float64, 65_520)],
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_information_one_long_distribution(dtype, n):
    # one distribution over n outcomes: a sum of n terms
    weights = np.resize(np.array([1.0, 3.0, 2.0]), n)
    q = (weights / weights.sum()).astype(dtype)
    p = np.full(n, 1 / n).astype(dtype)
    distinct = {}
    for a, b in zip(q, p):
        distinct[(float(a), float(b))] = distinct.get((float(a), float(b)), 0) + 1
    exact_h = -mp.fsum(c * mpf(a) * mp.log(mpf(a)) for (a, _), c in distinct.items())
    exact_ce = -mp.fsum(c * mpf(a) * mp.log(mpf(b)) for (a, b), c in distinct.items())
    assert ulps(info_ch.entropy(q), exact_h, dtype) <= MAX_ULP
    assert ulps(info_ch.cross_entropy(q, p), exact_ce, dtype) <= MAX_ULP


# ----------------------------------------------------------------------------------------------
# Calibration: the expected calibration error and the Brier score of N binary forecasts.
cal_ch = load_chapter("calibration")
Y_CAL = [1, 0, 1, 1, 0, 1, 0]
P_CAL = [0.93, 0.07, 0.61, 0.88, 0.38, 0.27, 0.52]   # no value on a bin edge of 10 bins


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_calibration_error_and_brier_score(dtype, n):
    index, counts = tiled(np.arange(len(P_CAL)), n)
    pattern = np.array(P_CAL, dtype)
    y, p = np.array(Y_CAL)[index], pattern[index]
    bins = {}
    for k, c in enumerate(counts):
        if c:
            b = min(int(float(pattern[k]) * 10), 9)
            total, conf, hits = bins.get(b, (0, mp.mpf(0), 0))
            bins[b] = (total + c, conf + c * mpf(pattern[k]), hits + c * Y_CAL[k])
    exact_ece = mp.fsum(abs(hits - conf) for total, conf, hits in bins.values()) / n
    exact_brier = mp.fsum(c * (mpf(pattern[k]) - Y_CAL[k]) ** 2
                          for k, c in enumerate(counts)) / n
    for got, exact in ((cal_ch.expected_calibration_error(y, p, n_bins=10), exact_ece),
                       (cal_ch.brier_score(y, p), exact_brier)):
        assert np.asarray(got).dtype == dtype
        assert ulps(got, exact, dtype) <= MAX_ULP, (float(got), float(exact))


# ----------------------------------------------------------------------------------------------
# The one-hidden-layer network of the backprop chapter: its mean loss and gradients in float16
# and float32, against the same computation in float64 on the same (rounded) inputs, which is
# accurate to far below a float32 ULP.
bp_ch = load_chapter("backprop")


@pytest.mark.parametrize("n", [1, 65_520, 100_000])
@pytest.mark.parametrize("dtype", [np.float16, np.float32], ids=lambda d: d.__name__)
@pytest.mark.parametrize("loss", ["bce", "mse"])
def test_backprop_loss_and_gradients(dtype, n, loss):
    rng = np.random.default_rng(0)
    params = {k: v.astype(dtype) for k, v in bp_ch.mlp_init(2, 4, rng, scale=0.5).items()}
    X = rng.normal(0, 1, (n, 2)).astype(dtype)
    y = (rng.random(n) < 0.5).astype(dtype)
    value, grads = bp_ch.mlp_loss_and_grad(params, X, y, loss=loss)
    wide = {k: v.astype(np.float64) for k, v in params.items()}
    value64, grads64 = bp_ch.mlp_loss_and_grad(wide, X.astype(np.float64), y.astype(np.float64),
                                               loss=loss)
    assert np.asarray(value).dtype == dtype
    assert ulps(value, mpf(value64), dtype) <= MAX_ULP
    for key, grad in grads.items():
        assert grad.dtype == dtype, key
        # each entry within a few ULP of the float64 result, or of its size where it rounds to 0
        scale = np.maximum(np.abs(grads64[key]), np.finfo(dtype).tiny)
        spacing = np.spacing(scale.astype(dtype)).astype(np.float64)
        assert np.all(np.abs(grad.astype(np.float64) - grads64[key]) <= MAX_ULP * spacing), key
