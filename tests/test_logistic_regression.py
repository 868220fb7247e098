"""Tests for the chapter "Logistic regression from scratch": logistic_loss_and_grad.

The function is loaded from the chapter's export cells. The oracles are written here from the
definitions: central finite differences, and a plain loop over the samples in 60-digit mpmath.

Bounds asserted (stated in the chapter where it quotes them):
  gradient vs central differences      < 1e-7 absolute (h = 1e-6, entries of order 1)
  loss, gradient vs the mpmath loop    relative 1e-12 of the sum of the absolute terms
  large logits (|z| = 50, 1000)        loss and gradient within 4 ULP of the exact values
  scikit-learn parity (C = 1, lbfgs)   coefficients within 1e-5; loss = log_loss + L2, rtol 1e-12
"""
import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

from bookfunctions import load_chapter
from oracle import central_difference_gradient, mp, mpf, ulp_error

ch = load_chapter("logistic_regression")
f = ch.logistic_loss_and_grad
ULP = 4


def random_problem(seed, n=40, d=5, scale=1.0, soft=False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, d)
    w = rng.normal(scale=scale, size=d)
    b = float(rng.normal())
    y = rng.uniform(0, 1, n) if soft else (rng.uniform(0, 1, n) < 0.6).astype(float)
    return w, b, X, y


# ----------------------------------------------------------------------------- the oracle
def loop_exact(w, b, X, y, l2):
    """Loss, grad_w, grad_b by a plain loop over samples in 60-digit arithmetic, and the scale
    (sum of absolute terms) of each, for relative error bounds."""
    n, d = X.shape
    loss_terms, gw_terms, gb_terms = [], [[] for _ in range(d)], []
    for i in range(n):
        z = mp.fsum(mpf(X[i, j]) * mpf(w[j]) for j in range(d)) + mpf(b)
        yi = mpf(y[i])
        loss_terms.append(yi * mp.log1p(mp.exp(-z)) + (1 - yi) * mp.log1p(mp.exp(z)))
        err = 1 / (1 + mp.exp(-z)) - yi
        gb_terms.append(err / n)
        for j in range(d):
            gw_terms[j].append(err * mpf(X[i, j]) / n)
    penalty = [mpf(l2) * mpf(w[j]) for j in range(d)]
    loss = mp.fsum(loss_terms) / n + mpf(l2) / 2 * mp.fsum(mpf(v) ** 2 for v in w)
    grad_w = [mp.fsum(gw_terms[j]) + penalty[j] for j in range(d)]
    scale_w = [mp.fsum(abs(t) for t in gw_terms[j]) + abs(penalty[j]) for j in range(d)]
    return loss, grad_w, mp.fsum(gb_terms), scale_w, mp.fsum(abs(t) for t in gb_terms)


# ------------------------------------------------------------------ finite differences
@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_gradient_matches_finite_differences(seed, l2):
    w, b, X, y = random_problem(seed, soft=seed % 2 == 1)
    theta = np.r_[w, b]
    loss_of = lambda t: f(t[:-1], t[-1], X, y, l2)[0]
    _, g_w, g_b = f(w, b, X, y, l2)
    fd = central_difference_gradient(loss_of, theta)
    np.testing.assert_allclose(np.r_[g_w, g_b], fd, rtol=0, atol=1e-7)


def test_finite_differences_detect_a_missing_one_over_n():
    """The check above can fail: a gradient of the sum is N times the finite differences."""
    w, b, X, y = random_problem(99)
    _, g_w, _ = f(w, b, X, y)
    fd = central_difference_gradient(lambda t: f(t, b, X, y)[0], w)
    assert not np.allclose(g_w * len(y), fd, rtol=0, atol=1e-7)


# -------------------------------------------------------------------- independent formula
@pytest.mark.parametrize("seed", range(10, 16))
@pytest.mark.parametrize("l2", [0.0, 0.05])
def test_matches_plain_loop_in_mpmath(seed, l2):
    w, b, X, y = random_problem(seed, n=25, d=4, scale=2.0, soft=seed % 2 == 0)
    loss, g_w, g_b = f(w, b, X, y, l2)
    exact_loss, exact_gw, exact_gb, scale_w, scale_b = loop_exact(w, b, X, y, l2)
    assert abs(mpf(loss) - exact_loss) <= 1e-12 * exact_loss
    for j in range(len(w)):
        assert abs(mpf(g_w[j]) - exact_gw[j]) <= 1e-12 * scale_w[j]
    assert abs(mpf(g_b) - exact_gb) <= 1e-12 * scale_b


def test_l2_adds_exactly_the_penalty_and_leaves_the_bias_alone():
    w, b, X, y = random_problem(20)
    loss_0, gw_0, gb_0 = f(w, b, X, y)
    loss_1, gw_1, gb_1 = f(w, b, X, y, l2=0.7)
    assert np.isclose(loss_1 - loss_0, 0.35 * np.sum(w**2), rtol=1e-13)
    np.testing.assert_allclose(gw_1 - gw_0, 0.7 * w, rtol=1e-13, atol=1e-15)
    assert gb_1 == gb_0


def test_zero_weights_give_log_2():
    X = np.random.default_rng(3).normal(size=(11, 3))
    y = np.array([1, 0, 1, 1, 0, 1, 0, 0, 1, 1, 1], dtype=float)
    loss, g_w, g_b = f(np.zeros(3), 0.0, X, y)
    assert ulp_error(loss, mp.log(2)) <= 2
    assert abs(g_b - (0.5 - y.mean())) <= 1e-16


# ----------------------------------------------------------------------- large logits
@pytest.mark.parametrize("z", [50.0, -50.0, 1000.0, -1000.0])
@pytest.mark.parametrize("label", [0.0, 1.0])
def test_exact_for_large_logits(z, label):
    """The logit z = w x for one feature x = 1, two equal samples: loss softplus(+-z)."""
    X, w, y = np.ones((2, 1)), np.array([z]), np.full(2, label)
    loss, g_w, g_b = f(w, 0.0, X, y)
    zm = mpf(z)
    exact_loss = mp.log1p(mp.exp(-zm)) if label == 1 else mp.log1p(mp.exp(zm))
    exact_grad = 1 / (1 + mp.exp(-zm)) - label           # mean of two equal terms
    assert np.isfinite(loss) and loss >= 0
    assert ulp_error(loss, exact_loss) <= ULP
    assert ulp_error(g_w[0], exact_grad) <= ULP and ulp_error(g_b, exact_grad) <= ULP


def test_large_logits_where_sigmoid_then_log_fails():
    """At z = 50 sigmoid-then-log gives nan; the book's loss is e^-50-sized and positive."""
    X, w, y = np.ones((2, 1)), np.array([50.0]), np.ones(2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 1 / (1 + np.exp(-50.0))
        naive = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert np.isnan(naive)
    loss = f(w, 0.0, X, y)[0]
    assert 0 < loss < 1e-21


# ------------------------------------------------------------------------ dtypes, shapes
def test_dtypes_and_argument_types():
    w, b, X, y = random_problem(30)
    out32 = f(w.astype(np.float32), np.float32(b), X.astype(np.float32), y, 0.1)
    assert [np.asarray(r).dtype for r in out32] == [np.float32] * 3
    out64 = f(w, b, X, y, 0.1)
    assert [np.asarray(r).dtype for r in out64] == [np.float64] * 3
    assert np.isclose(out32[0], out64[0], rtol=1e-5)
    mixed = f(w.astype(np.float32), b, X, y)                 # one float64 input: float64
    assert np.asarray(mixed[0]).dtype == np.float64
    as_lists = f(w.tolist(), np.array(b), X.tolist(), y.tolist(), l2=np.float64(0.1))
    assert as_lists[0] == out64[0]
    assert np.shape(out64[1]) == w.shape and np.ndim(out64[2]) == 0
    integer = f(np.array([1, -1]), 0, np.array([[1, 2], [3, 4], [0, 1]]), np.array([1, 0, 1]))
    assert np.asarray(integer[0]).dtype == np.float64


W_OK, B_OK, X_OK, Y_OK = random_problem(40, n=6, d=3)


@pytest.mark.parametrize("args, message", [
    ((W_OK[:2], B_OK, X_OK, Y_OK, 0.0), "shape mismatch"),
    ((W_OK, B_OK, X_OK, Y_OK[:-1], 0.0), "shape mismatch"),
    ((W_OK, B_OK, X_OK.T, Y_OK, 0.0), "shape mismatch"),
    ((W_OK[None], B_OK, X_OK, Y_OK, 0.0), "expected w"),
    ((W_OK, np.array([B_OK]), X_OK, Y_OK, 0.0), "expected w"),
    ((W_OK, B_OK, X_OK[0], Y_OK, 0.0), "expected w"),
    ((W_OK, B_OK, X_OK, Y_OK[:, None], 0.0), "expected w"),
    ((W_OK, B_OK, X_OK, Y_OK, np.array([0.1])), "expected w"),
    ((W_OK, B_OK, X_OK[:0], Y_OK[:0], 0.0), "no samples"),
    ((W_OK, B_OK, np.where(X_OK > 1, np.nan, X_OK), Y_OK, 0.0), "X must be finite"),
    ((W_OK, B_OK, np.where(X_OK > 1, np.inf, X_OK), Y_OK, 0.0), "X must be finite"),
    ((np.r_[np.nan, W_OK[1:]], B_OK, X_OK, Y_OK, 0.0), "w must be finite"),
    ((W_OK, np.inf, X_OK, Y_OK, 0.0), "b must be finite"),
    ((W_OK, B_OK, X_OK, np.r_[Y_OK[:-1], np.nan], 0.0), "[0, 1]"),
    ((W_OK, B_OK, X_OK, np.r_[Y_OK[:-1], 1.5], 0.0), "[0, 1]"),
    ((W_OK, B_OK, X_OK, np.r_[Y_OK[:-1], -0.1], 0.0), "[0, 1]"),
    ((W_OK, B_OK, X_OK, Y_OK, -1e-3), "l2"),
    ((W_OK, B_OK, X_OK, Y_OK, np.nan), "l2"),
    ((W_OK, B_OK, X_OK, Y_OK, np.inf), "l2"),
    ((W_OK, B_OK, X_OK.astype(complex), Y_OK, 0.0), "real numbers"),
    ((W_OK, B_OK, X_OK.astype(str), Y_OK, 0.0), "real numbers"),
    ((W_OK, "b", X_OK, Y_OK, 0.0), "real numbers"),
])
def test_bad_input_raises_value_error(args, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        f(*args)


# -------------------------------------------------------------------- scikit-learn parity
@pytest.fixture(scope="module")
def cancer():
    data = load_breast_cancer()
    X_train, _, y_train, _ = train_test_split(data.data, data.target.astype(float), test_size=0.2,
                                              random_state=0, stratify=data.target)
    X_train = (X_train - X_train.mean(axis=0)) / X_train.std(axis=0)
    return X_train, y_train, 1 / len(y_train)          # C = 1: l2 = 1/(C N)


def minimise_book_objective(X, y, l2):
    """The book's objective minimised by scipy's BFGS, a route independent of the chapter's."""
    def fun(theta):
        loss, g_w, g_b = f(theta[:-1], theta[-1], X, y, l2)
        return loss, np.r_[g_w, g_b]
    res = minimize(fun, np.zeros(X.shape[1] + 1), jac=True, method="BFGS",
                   options={"gtol": 1e-11, "maxiter": 10_000})
    return res.x


def test_sklearn_lbfgs_coefficients_within_stated_tolerance(cancer):
    X, y, l2 = cancer
    model = LogisticRegression(C=1.0, tol=1e-12, max_iter=10_000).fit(X, y)
    theta = minimise_book_objective(X, y, l2)
    diff = np.max(np.abs(np.r_[model.coef_[0], model.intercept_[0]] - theta))
    assert diff < 1e-5


def test_book_gradient_vanishes_at_sklearn_newton_optimum(cancer):
    X, y, l2 = cancer
    model = LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-12).fit(X, y)
    _, g_w, g_b = f(model.coef_[0], model.intercept_[0], X, y, l2)
    assert np.max(np.abs(np.r_[g_w, g_b])) < 1e-10


def test_loss_equals_sklearn_log_loss_plus_penalty(cancer):
    X, y, l2 = cancer
    model = LogisticRegression(C=1.0, tol=1e-12, max_iter=10_000).fit(X, y)
    w, b = model.coef_[0], model.intercept_[0]
    loss = f(w, b, X, y, l2)[0]
    p = model.predict_proba(X)[:, 1]
    assert np.isclose(loss, log_loss(y, p) + l2 / 2 * (w @ w), rtol=1e-12, atol=0)
