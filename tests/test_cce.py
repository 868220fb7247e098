"""Tests of the softmax / categorical cross-entropy chapter (book/chapters/cce.ipynb).

The functions come from the notebook's `export` cells. The oracle is mpmath at 60 digits,
written here from the definitions: log p_k = z_k - m - log1p(sum_{j != a} e^(z_j - m)), an exact
identity (a: one index of the maximum m) that keeps relative accuracy for losses like 1e-300,
where log(sum(...)) at 60 digits would round 1 + 1e-300 to 1.

Accuracy bounds asserted (float64, up to K = 8 classes, logits up to +-1000, ties, -inf,
confident rows): log_softmax and the losses from logits <= 3 ULP, softmax and the hard-label
gradients <= 4 ULP, cce from probabilities <= 4 ULP and cce_grad <= 2 ULP; float32 results
<= 1 ULP. Rows must add up to 1 within 4*K*eps, eps of float32 or of a coarser dtype (float16).
"""
import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bookfunctions import load_chapter
from oracle import central_difference_gradient, mpf, ulp_error

ch = load_chapter("cce")
mp = mpmath.mp
mp.dps = 60
SETTINGS = settings(max_examples=200, deadline=None)
F64_EPS = np.finfo(np.float64).eps


# ---------------------------------------------------------------- oracle (mpmath, 60 digits)
def log_softmax_exact(row):
    z = [mpf(v) for v in row]
    a = max(range(len(z)), key=lambda j: z[j])
    rest = mp.fsum(mp.exp(v - z[a]) for j, v in enumerate(z) if j != a)
    return [v - z[a] - mp.log1p(rest) for v in z]


def loss_exact(y_row, z_row):
    """-sum_k y_k log softmax(z)_k, with 0 log 0 = 0."""
    log_p = log_softmax_exact(z_row)
    return mp.fsum(-mpf(y) * lp for y, lp in zip(y_row, log_p) if y != 0)


def grad_exact(y_row, z_row):
    """p - y per entry. For y >= 1/2 it is written (p - 1) + (1 - y) = expm1(log p) + (1 - y),
    so that p - 1 keeps its digits at 60 digits even when p is within 1e-300 of 1."""
    log_p = log_softmax_exact(z_row)
    return [mp.expm1(lp) + (1 - mpf(y)) if y >= 0.5 else mp.exp(lp) - mpf(y)
            for y, lp in zip(y_row, log_p)]


def random_rows(rng, n_rows, dtype):
    """Rows of logits of every kind the chapter promises to handle."""
    rows = []
    confident_shift = (30, 700) if dtype == np.float64 else (10, 90)
    while len(rows) < n_rows:
        k = int(rng.integers(2, 9))
        z = rng.uniform(-1, 1, k) * 10.0 ** rng.uniform(-3, 3)        # up to +-1000
        kind = rng.random()
        if kind < 0.3:                                                 # a confident row
            z[rng.integers(k)] += rng.uniform(*confident_shift)
        elif kind < 0.4:                                               # a tie for the max
            z = np.round(z)
            z[rng.integers(k)] = z.max()
        elif kind < 0.5:                                               # a class ruled out
            z[rng.integers(k)] = -np.inf
        z = z.astype(dtype)
        if not np.isneginf(z).all():
            rows.append(z)
    return rows


# ------------------------------------------------------------------ accuracy against mpmath
@pytest.mark.parametrize("dtype, bounds", [
    (np.float64, {"log_softmax": 3, "softmax": 4, "loss": 3, "grad": 4}),
    (np.float32, {"log_softmax": 1, "softmax": 1, "loss": 1, "grad": 1}),
])
def test_against_mpmath_random_rows(dtype, bounds):
    rng = np.random.default_rng(20 if dtype == np.float64 else 21)
    worst = dict.fromkeys(bounds, 0.0)
    for z in random_rows(rng, 250, dtype):
        exact = log_softmax_exact(z)
        c = int(rng.integers(len(z)))
        one_hot = np.eye(len(z))[c]
        ls, sm = ch.log_softmax(z), ch.softmax(z)
        loss_sparse = ch.sparse_cce_with_logits([c], z[None])
        loss_dense = ch.cce_with_logits(one_hot[None], z[None])
        g = ch.sparse_cce_with_logits_grad([c], z[None], reduction="sum")[0]
        g_dense = ch.cce_with_logits_grad(one_hot[None], z[None], reduction="sum")[0]
        exact_g = grad_exact(one_hot, z)
        for k in range(len(z)):
            worst["log_softmax"] = max(worst["log_softmax"], ulp_error(ls[k], exact[k], dtype))
            worst["softmax"] = max(worst["softmax"], ulp_error(sm[k], mp.exp(exact[k]), dtype))
            worst["grad"] = max(worst["grad"], ulp_error(g[k], exact_g[k], dtype),
                                ulp_error(g_dense[k], exact_g[k], dtype))
        worst["loss"] = max(worst["loss"], ulp_error(loss_sparse, -exact[c], dtype),
                            ulp_error(loss_dense, -exact[c], dtype))
    for name, bound in bounds.items():
        assert worst[name] <= bound, f"{name}: {worst[name]:.2f} ULP > {bound}"


@pytest.mark.parametrize("dtype, t_max", [(np.float64, 690.0), (np.float32, 87.0)])
def test_confident_rows_keep_relative_accuracy(dtype, t_max):
    """z = (t, 0, -5) with class 0: loss log1p(e^-t + e^-(t+5)), from 1e-5 down to about 1e-300
    (float64) or 1e-38 (float32); the usual log-sum-exp returns 0 for most of them."""
    bound = 3 if dtype == np.float64 else 1
    for t in np.linspace(10.0, t_max, 60):
        z = np.array([[t, 0.0, -5.0]], dtype=dtype)
        exact = -log_softmax_exact(z[0])[0]
        assert exact > 0
        for computed in (ch.sparse_cce_with_logits([0], z),
                         ch.cce_with_logits([[1, 0, 0]], z),
                         -ch.log_softmax(z)[0, 0]):
            assert computed > 0
            assert ulp_error(computed, exact, dtype) <= bound
        gradient = ch.sparse_cce_with_logits_grad([0], z, reduction="sum")[0, 0]
        assert gradient < 0
        assert ulp_error(gradient, grad_exact([1, 0, 0], z[0])[0], dtype) <= bound
    loss_40 = ch.sparse_cce_with_logits([0], [[40.0, 0.0]])
    assert ulp_error(loss_40, mp.log1p(mp.exp(-40))) <= 1
    assert math.isclose(float(loss_40), 4.248354255291589e-18, rel_tol=1e-15)


def test_loss_of_1e300_is_kept():
    z = np.array([[0.0, -690.7755278982137]])        # e^-690.78 = 1e-300
    exact = -log_softmax_exact(z[0])[0]
    assert 0.9e-300 < exact < 1.1e-300
    assert ulp_error(ch.sparse_cce_with_logits([0], z), exact) <= 3


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_soft_labels_against_mpmath(dtype):
    rng = np.random.default_rng(3)
    worst_loss, worst_grad = 0.0, 0.0
    for z in random_rows(rng, 120, dtype):
        y = rng.dirichlet(np.ones(len(z)))
        y[np.isneginf(z)] = 0
        y = y / y.sum()
        if abs(y.sum() - 1) > 0:                       # keep labels exactly normalised
            y[np.argmax(y)] += 1 - y.sum()
        loss = ch.cce_with_logits(y[None], z[None])
        worst_loss = max(worst_loss, ulp_error(loss, loss_exact(y, z), dtype))
        g = ch.cce_with_logits_grad(y[None], z[None], reduction="sum")[0]
        scale = np.maximum(ch.softmax(z.astype(np.float64)), y)
        err = [abs(mpf(gk) - ek) / mpf(sk) if sk > 0 else (0 if gk == 0 else math.inf)
               for gk, ek, sk in zip(g, grad_exact(y, z), scale)]
        worst_grad = max(worst_grad, float(max(err)) / float(np.finfo(dtype).eps))
    assert worst_loss <= (4 if dtype == np.float64 else 1)
    assert worst_grad <= 4            # in units of eps * max(p_k, y_k)


def test_cce_from_probabilities_against_mpmath_with_tiny_probabilities():
    rng = np.random.default_rng(4)
    worst_loss, worst_grad = 0.0, 0.0
    for _ in range(100):
        k, n = int(rng.integers(2, 7)), 3
        P = rng.dirichlet(np.ones(k), n)
        tiny = rng.integers(0, k, n)
        P[np.arange(n), tiny] = 10.0 ** rng.uniform(-300, -5, n)
        for row in P:
            row[np.argmax(row)] += 1 - row.sum()           # still a distribution
        Y = rng.dirichlet(np.ones(k), n) if rng.random() < 0.5 else np.eye(k)[tiny]
        exact_rows = [mp.fsum(-mpf(a) * mp.log(mpf(b)) for a, b in zip(y, p) if a != 0)
                      for y, p in zip(Y, P)]
        worst_loss = max(worst_loss, ulp_error(ch.cce(Y, P), mp.fsum(exact_rows) / n))
        for computed, exact in zip(ch.cce(Y, P, reduction="none"), exact_rows):
            worst_loss = max(worst_loss, ulp_error(computed, exact))
        G = ch.cce_grad(Y, P)
        for g, y, p in zip(G.ravel(), Y.ravel(), P.ravel()):
            worst_grad = max(worst_grad, ulp_error(g, -mpf(y) / mpf(p) / n))
    # 4, not 3: the worst case measures 2.0 ULP with one libm and 3.008 with another that
    # rounds log differently (a sum of K rounded terms y_k * log p_k). An honest bound.
    assert worst_loss <= 4
    assert worst_grad <= 2


def test_float32_probabilities_against_mpmath():
    rng = np.random.default_rng(5)
    for _ in range(100):
        p = rng.dirichlet(np.ones(4)).astype(np.float32)
        y = np.eye(4, dtype=np.float32)[rng.integers(4)]
        loss = ch.cce(y[None], p[None])
        assert loss.dtype == np.float32
        exact = mp.fsum(-mpf(a) * mp.log(mpf(b)) for a, b in zip(y, p) if a != 0)
        assert ulp_error(loss, exact, np.float32) <= 1


def test_logits_up_to_1000_and_huge_logits():
    z = np.array([[1000.0, -1000.0, 999.0], [1e300, -1e300, 0.0], [-1e308, 1e308, 0.0]])
    p = ch.softmax(z)
    assert np.isfinite(p).all() and np.all(p >= 0)
    np.testing.assert_array_equal(p[1], [1.0, 0.0, 0.0])
    ls = ch.log_softmax(z)
    assert not np.isnan(ls).any()
    assert ls[1, 1] == -np.inf or ls[1, 1] < -1e300         # exact -2e300: rounds to a float
    assert ls[2, 0] == -np.inf                                # exact -2e308 overflows float64
    assert ulp_error(ls[0, 0], log_softmax_exact(z[0])[0]) <= 3


# ------------------------------------------------------------------------ finite differences
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradients_against_finite_differences(reduction):
    rng = np.random.default_rng(6)
    z = rng.normal(0, 3, (4, 5))
    y = rng.dirichlet(np.ones(5), 4)
    c = rng.integers(0, 5, 4)
    w = rng.uniform(0.1, 2, 4)

    def total(values):                      # "none": the sum of the weighted per-row losses
        return np.sum(values)

    for weights in (None, w):
        kw = {"sample_weight": weights, "reduction": reduction}
        fd = central_difference_gradient(lambda x: total(ch.cce_with_logits(y, x, **kw)), z)
        np.testing.assert_allclose(ch.cce_with_logits_grad(y, z, **kw), fd, rtol=1e-6, atol=1e-9)
        fd = central_difference_gradient(lambda x: total(ch.sparse_cce_with_logits(c, x, **kw)), z)
        np.testing.assert_allclose(ch.sparse_cce_with_logits_grad(c, z, **kw), fd,
                                   rtol=1e-6, atol=1e-9)


def test_cce_grad_against_finite_differences_along_the_simplex():
    rng = np.random.default_rng(7)
    for _ in range(20):
        p = rng.dirichlet(np.full(4, 3.0), 3)
        y = rng.dirichlet(np.ones(4), 3)
        v = rng.normal(size=p.shape)
        v -= v.mean(axis=1, keepdims=True)
        h = 1e-7
        fd = (ch.cce(y, p + h * v) - ch.cce(y, p - h * v)) / (2 * h)
        assert math.isclose(fd, np.sum(ch.cce_grad(y, p) * v), rel_tol=1e-6, abs_tol=1e-9)


def test_cce_grad_componentwise_is_minus_y_over_p_over_n():
    y = np.array([[0.2, 0.8, 0.0], [1.0, 0.0, 0.0]])
    p = np.array([[0.5, 0.25, 0.25], [0.125, 0.375, 0.5]])
    expected = np.array([[-0.4, -3.2, 0.0], [-8.0, 0.0, 0.0]]) / 2
    np.testing.assert_allclose(ch.cce_grad(y, p), expected, rtol=1e-15)


def test_softmax_jacobian_against_finite_differences():
    rng = np.random.default_rng(8)
    for _ in range(10):
        z = rng.normal(0, 2, 5)
        p = ch.softmax(z)
        jac = np.diag(p) - np.outer(p, p)
        fd = np.array([(ch.softmax(z + 1e-6 * e) - ch.softmax(z - 1e-6 * e)) / 2e-6
                       for e in np.eye(5)]).T
        np.testing.assert_allclose(fd, jac, atol=1e-9)
        # the gradient of cce_with_logits is J^T (-y/p) by the chain rule
        y = rng.dirichlet(np.ones(5))
        np.testing.assert_allclose(ch.cce_with_logits_grad(y[None], z[None])[0],
                                   jac.T @ (-y / p), atol=1e-14)


# ------------------------------------------------------------------------ properties
finite_rows = st.integers(2, 6).flatmap(lambda k: st.lists(
    st.integers(-2**30, 2**30).map(lambda i: i / 2**20), min_size=k, max_size=k))


@SETTINGS
@given(finite_rows, st.integers(-1000, 1000))
def test_shift_invariance(row, shift):
    z = np.array(row)                       # multiples of 2^-20 within +-1024: z + shift is exact
    zs = z + shift
    for f, bound in ((ch.softmax, 8), (ch.log_softmax, 6)):
        a, b = f(z), f(zs)
        ulps = np.abs(a - b) / np.spacing(np.maximum(np.abs(a), np.abs(b)))
        assert np.all(ulps <= bound)
    c = int(np.argmin(z))
    la, lb = ch.sparse_cce_with_logits([c], z[None]), ch.sparse_cce_with_logits([c], zs[None])
    assert abs(la - lb) <= 6 * np.spacing(max(la, lb))


@SETTINGS
@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=8), st.sampled_from(["f8", "f4"]))
def test_softmax_rows_sum_to_one_and_are_accepted_by_cce(row, dtype):
    z = np.array(row, dtype=dtype)
    p = ch.softmax(z)
    eps = np.finfo(dtype).eps
    assert np.all((p >= 0) & (p <= 1))
    assert abs(np.sum(p, dtype=np.float64) - 1) <= (len(z) / 2 + 1) * eps
    y = np.zeros_like(z)
    y[np.argmax(z)] = 1
    assert np.isfinite(ch.cce(y[None], p[None]))      # within cce's 4*K*eps tolerance


@SETTINGS
@given(st.integers(2, 6).flatmap(lambda k: st.tuples(
    st.lists(st.floats(-30, 30), min_size=k, max_size=k),
    st.lists(st.floats(0.01, 1), min_size=k, max_size=k))))
def test_probability_and_logit_forms_agree(data):
    row, raw_y = data
    z = np.array([row])
    y = np.array([raw_y]) / np.sum(raw_y)
    from_p = ch.cce(y, ch.softmax(z))
    from_z = ch.cce_with_logits(y, z)
    assert np.isfinite(from_p) and np.isfinite(from_z)
    assert abs(from_p - from_z) <= 8 * F64_EPS * max(1.0, from_z)


@SETTINGS
@given(st.integers(1, 5).flatmap(lambda n: st.integers(2, 6).flatmap(lambda k: st.tuples(
    st.lists(st.lists(st.floats(-800, 800), min_size=k, max_size=k), min_size=n, max_size=n),
    st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))))
def test_sparse_equals_one_hot(data):
    rows, labels = data
    z, c = np.array(rows), np.array(labels)
    one_hot = np.eye(z.shape[1])[c]
    for reduction in ("none", "sum", "mean"):
        np.testing.assert_array_equal(ch.sparse_cce_with_logits(c, z, reduction=reduction),
                                      ch.cce_with_logits(one_hot, z, reduction=reduction))
        np.testing.assert_array_equal(ch.sparse_cce_with_logits_grad(c, z, reduction=reduction),
                                      ch.cce_with_logits_grad(one_hot, z, reduction=reduction))


@SETTINGS
@given(st.floats(-700, 700), st.floats(0, 1))
def test_two_classes_are_the_sigmoid_and_bce(z, y):
    """Within this chapter: softmax([z, 0]) = [sigma(z), sigma(-z)], and CCE with K = 2 is BCE."""
    p = ch.softmax([z, 0.0])
    zm = mpf(z)
    assert ulp_error(p[0], 1 / (1 + mp.exp(-zm))) <= 4
    assert ulp_error(p[1], 1 / (1 + mp.exp(zm))) <= 4
    labels = np.array([[y, 1 - y]])
    if labels.sum() == 1:
        exact_bce = -(mpf(y) * -mp.log1p(mp.exp(-zm)) + (1 - mpf(y)) * -mp.log1p(mp.exp(zm)))
        assert ulp_error(ch.cce_with_logits(labels, [[z, 0.0]]), exact_bce) <= 4
        grad = ch.cce_with_logits_grad(labels, [[z, 0.0]], reduction="sum")[0]
        assert grad[0] == -grad[1] or abs(grad[0] + grad[1]) <= 4 * F64_EPS
        assert abs(mpf(grad[0]) - (1 / (1 + mp.exp(-zm)) - mpf(y))) <= 4 * F64_EPS
    if 1e-6 < float(p[0]) < 1 - 1e-6 and labels.sum() == 1:
        from_p = ch.cce(labels, p[None])
        bce_p = -(mpf(y) * mp.log(mpf(p[0])) + (1 - mpf(y)) * mp.log(mpf(p[1])))
        assert ulp_error(from_p, bce_p) <= 3


def test_ties_all_equal_rows_and_minus_inf():
    np.testing.assert_allclose(ch.softmax([[2.0, 2.0, 2.0, 2.0]]), 0.25, rtol=0)
    np.testing.assert_allclose(ch.log_softmax([5.0, 5.0]), -np.log(2), rtol=1e-16)
    p = ch.softmax([3.0, 3.0, -np.inf])
    np.testing.assert_array_equal(p, [0.5, 0.5, 0.0])
    assert ch.log_softmax([3.0, -np.inf])[1] == -np.inf
    assert ch.log_softmax([-np.inf, 1.0])[1] == 0.0
    assert ch.softmax([7.0])[0] == 1.0
    assert ch.cce_with_logits([[1.0]], [[7.0]]) == 0.0


def test_axis_argument_and_shapes():
    rng = np.random.default_rng(9)
    z = rng.normal(0, 5, (3, 4, 5))
    for axis in (0, 1, 2, -1):
        out = ch.softmax(z, axis=axis)
        assert out.shape == z.shape
        np.testing.assert_allclose(out.sum(axis=axis), 1, atol=4 * F64_EPS)
        np.testing.assert_array_equal(
            ch.log_softmax(z, axis=axis),
            np.moveaxis(ch.log_softmax(np.moveaxis(z, axis, -1)), -1, axis))


# ------------------------------------------------------------------------ infinities, not NaN
def test_inf_where_the_loss_is_infinite():
    with np.errstate(all="raise"):              # no floating-point warnings may escape either
        assert ch.cce([[1, 0]], [[0.0, 1.0]]) == np.inf
        assert ch.cce([[0.5, 0.5]], [[0.0, 1.0]], reduction="sum") == np.inf
        assert ch.cce([[0, 1]], [[0.0, 1.0]]) == 0.0                 # 0 log 0 = 0
        np.testing.assert_array_equal(ch.cce_grad([[1, 0]], [[0.0, 1.0]]), [[-np.inf, 0.0]])
        assert ch.cce_with_logits([[1, 0]], [[-np.inf, 0.0]]) == np.inf
        assert ch.cce_with_logits([[0, 1]], [[-np.inf, 0.0]]) == 0.0
        assert ch.sparse_cce_with_logits([0], [[-np.inf, 0.0]]) == np.inf
        g = ch.sparse_cce_with_logits_grad([0], [[-np.inf, 0.0]], reduction="sum")
        np.testing.assert_array_equal(g, [[-1.0, 1.0]])              # the finite limit
        # weight 0 removes a row, even an infinite one
        y, p = [[1, 0], [0, 1]], [[0.0, 1.0], [0.5, 0.5]]
        assert ch.cce(y, p, sample_weight=[0, 1]) == pytest.approx(np.log(2), rel=1e-15)
        assert np.all(np.isfinite(ch.cce_grad(y, p, sample_weight=[0, 1])))
        losses = ch.cce(y, p, reduction="none")
        assert losses[0] == np.inf and not np.isnan(losses).any()


def test_no_negative_zero_losses():
    loss = ch.cce_with_logits([[1, 0]], [[1000.0, -1000.0]], reduction="none")
    assert loss[0] == 0 and not np.signbit(loss[0])
    assert not np.signbit(ch.sparse_cce_with_logits([0], [[1000.0, -1000.0]]))
    assert not np.signbit(ch.cce([[1, 0]], [[1.0, 0.0]]))


# ------------------------------------------------------------------------ bad input
BAD_CALLS = {
    "shape mismatch": lambda: ch.cce_with_logits(np.eye(3), np.zeros((3, 2))),
    "no broadcasting": lambda: ch.cce([[1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]),
    "1-D loss input": lambda: ch.cce_with_logits([1.0, 0.0], [0.0, 1.0]),
    "3-D input, axis out of range": lambda: ch.cce(np.ones((1, 1, 1)), np.ones((1, 1, 1)),
                                                   axis=3),
    "p > 1": lambda: ch.cce([[1, 0]], [[1.5, -0.5]]),
    "p < 0": lambda: ch.cce_grad([[1, 0]], [[-1e-300, 1.0]]),
    "p row not summing to 1": lambda: ch.cce([[1, 0]], [[0.5, 0.4]]),
    "p row just outside tolerance": lambda: ch.cce([[1, 0]], [[1.0, 1e-6]]),
    "y row not summing to 1": lambda: ch.cce_with_logits([[0.5, 0.4]], [[0.0, 1.0]]),
    "y outside [0, 1]": lambda: ch.cce_with_logits([[2.0, -1.0]], [[0.0, 1.0]]),
    "NaN logit": lambda: ch.softmax([1.0, np.nan]),
    "NaN in y": lambda: ch.cce_with_logits([[np.nan, 1.0]], [[0.0, 1.0]]),
    "NaN in p": lambda: ch.cce([[1.0, 0.0]], [[np.nan, 1.0]]),
    "+inf logit": lambda: ch.log_softmax([np.inf, 0.0]),
    "+inf logit in loss": lambda: ch.cce_with_logits([[1, 0]], [[np.inf, 0.0]]),
    "row of -inf": lambda: ch.softmax([[-np.inf, -np.inf]]),
    "row of -inf in loss": lambda: ch.sparse_cce_with_logits([0], [[-np.inf, -np.inf]]),
    "empty logits": lambda: ch.softmax([]),
    "empty batch": lambda: ch.cce_with_logits(np.zeros((0, 3)), np.zeros((0, 3))),
    "zero classes": lambda: ch.sparse_cce_with_logits(np.zeros(2, int), np.zeros((2, 0))),
    "scalar logits": lambda: ch.softmax(3.0),
    "strings": lambda: ch.softmax(["a", "b"]),
    "complex": lambda: ch.softmax([1j, 0]),
    "ragged": lambda: ch.cce_with_logits([[1, 0], [1]], [[0, 1], [0]]),
    "object dtype": lambda: ch.cce([[1, 0]], np.array([[1.0, 0.0]], dtype=object)),
    "float labels": lambda: ch.sparse_cce_with_logits([1.0], [[0.0, 1.0]]),
    "bool labels": lambda: ch.sparse_cce_with_logits([True], [[0.0, 1.0]]),
    "label too large": lambda: ch.sparse_cce_with_logits([2], [[0.0, 1.0]]),
    "negative label": lambda: ch.sparse_cce_with_logits_grad([-1], [[0.0, 1.0]]),
    "labels of wrong shape": lambda: ch.sparse_cce_with_logits([[0]], [[0.0, 1.0]]),
    "one-hot given as sparse": lambda: ch.sparse_cce_with_logits([[1, 0]], [[0.0, 1.0]]),
    "sparse logits not 2-D": lambda: ch.sparse_cce_with_logits([0], [0.0, 1.0]),
    "bad reduction": lambda: ch.cce_with_logits([[1, 0]], [[0.0, 1.0]], reduction="avg"),
    "bad reduction, grad": lambda: ch.cce_grad([[1, 0]], [[1.0, 0.0]], reduction="batch"),
    "negative weight": lambda: ch.cce([[1, 0]], [[1.0, 0.0]], sample_weight=[-1]),
    "NaN weight": lambda: ch.cce_with_logits_grad([[1, 0]], [[0.0, 1.0]], sample_weight=[np.nan]),
    "inf weight": lambda: ch.sparse_cce_with_logits([0], [[0.0, 1.0]], sample_weight=[np.inf]),
    "weights of wrong length": lambda: ch.cce([[1, 0]] * 3, [[1.0, 0.0]] * 3,
                                              sample_weight=[1, 2]),
    "per-element weights": lambda: ch.cce([[1, 0]] * 3, [[1.0, 0.0]] * 3,
                                          sample_weight=np.ones((3, 2))),
    "weights summing to 0": lambda: ch.cce_with_logits([[1, 0]], [[0.0, 1.0]], sample_weight=0),
    "string weights": lambda: ch.cce([[1, 0]], [[1.0, 0.0]], sample_weight=["a"]),
}


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_value_errors(name):
    with pytest.raises(ValueError) as info:
        BAD_CALLS[name]()
    assert str(info.value)


def test_tolerance_is_4_k_eps_of_float32_or_of_a_coarser_dtype():
    """Rows must add up to 1 within 4*K*eps, eps of float32 (float64 arrays too), of float16 for
    float16 arrays. Checked on both sides of the boundary, for labels and for probabilities."""
    eps32, eps16 = float(np.finfo(np.float32).eps), float(np.finfo(np.float16).eps)
    y = np.array([[1.0, 0.0, 0.0]])
    for k, dtype, eps in [(3, np.float64, eps32), (3, np.float32, eps32), (7, np.float64, eps32),
                          (3, np.float16, eps16)]:
        y_k = np.eye(k)[:1]
        inside = np.zeros((1, k))
        inside[0, 0], inside[0, 1] = 0.5, 0.5 + 0.9 * 4 * k * eps      # off by 0.9 * 4 K eps
        outside = inside.copy()
        outside[0, 1] = 0.5 + 1.2 * 4 * k * eps                         # off by 1.2 * 4 K eps
        assert np.isfinite(ch.cce(y_k, inside.astype(dtype)))
        with pytest.raises(ValueError, match="add up to 1"):
            ch.cce(y_k, outside.astype(dtype))
        ch.cce_with_logits(inside.astype(dtype), np.zeros((1, k)))      # as soft labels
        with pytest.raises(ValueError, match="add up to 1"):
            ch.cce_with_logits(outside.astype(dtype), np.zeros((1, k)))
    with pytest.raises(ValueError):
        ch.cce(y, np.array([[1.0, 13 * eps32, 0.0]]))                  # 13 eps > 12 eps


@pytest.mark.parametrize("k", [2, 3, 10, 100, 1000])
def test_float32_softmax_rows_stored_as_float64_are_accepted(k):
    """Issue 11, claim 16: a float32 model's softmax output cast to float64 is a distribution
    to float32 precision. It is accepted, and its loss is the float64 loss of those values."""
    rng = np.random.default_rng(k)
    z = (rng.normal(0, 5, (50, k))).astype(np.float32)
    e = np.exp(z - z.max(axis=1, keepdims=True))                       # a float32 softmax,
    p32 = e / e.sum(axis=1, keepdims=True)                              # as a model computes it
    p64 = p32.astype(np.float64)
    deviation = np.abs(p64.sum(axis=1) - 1)
    assert deviation.max() > 4 * k * F64_EPS            # the old rule (float64 eps) refused them
    c = rng.integers(0, k, 50)
    y = np.eye(k)[c]
    losses = ch.cce(y, p64, reduction="none")
    assert losses.dtype == np.float64
    for loss, row, label in zip(losses[:5], p64, c):
        assert ulp_error(loss, -mp.log(mpf(row[label]))) <= 2
    assert np.all(np.isfinite(ch.cce_grad(y, p64)))
    ch.cce_with_logits(p64, np.zeros((50, k)))                          # as soft labels too


def test_rows_rounded_to_float16_get_a_hint():
    p16 = np.float16([[0.1, 0.2, 0.7]])
    assert np.isfinite(ch.cce([[0, 0, 1]], p16))                        # float16: its own eps
    with pytest.raises(ValueError, match="float16") as info:
        ch.cce([[0, 0, 1]], p16.astype(np.float64))
    assert "renormalise" in str(info.value) and "K = 3" in str(info.value)
    with pytest.raises(ValueError) as info:                             # far off: no hint
        ch.cce([[1, 0]], [[0.5, 0.4]])
    assert "float16" not in str(info.value)


def test_zero_weight_is_allowed_for_sum_and_none():
    assert ch.cce_with_logits([[1, 0]], [[0.0, 1.0]], sample_weight=[0], reduction="sum") == 0
    np.testing.assert_array_equal(
        ch.cce_with_logits_grad([[1, 0]], [[0.0, 1.0]], sample_weight=[0], reduction="none"),
        [[0.0, 0.0]])


# ------------------------------------------------------------------------ dtypes
ALL_FUNCTIONS = {
    "cce": lambda y, p, z, c: ch.cce(y, p),
    "cce_grad": lambda y, p, z, c: ch.cce_grad(y, p),
    "cce_with_logits": lambda y, p, z, c: ch.cce_with_logits(y, z),
    "cce_with_logits_grad": lambda y, p, z, c: ch.cce_with_logits_grad(y, z),
    "sparse_cce_with_logits": lambda y, p, z, c: ch.sparse_cce_with_logits(c, z),
    "sparse_cce_with_logits_grad": lambda y, p, z, c: ch.sparse_cce_with_logits_grad(c, z),
    "softmax": lambda y, p, z, c: ch.softmax(z),
    "log_softmax": lambda y, p, z, c: ch.log_softmax(z),
}


@pytest.mark.parametrize("name", list(ALL_FUNCTIONS))
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.longdouble])
def test_float_dtype_is_kept(name, dtype):
    y = np.array([[0.0, 1.0, 0.0], [0.25, 0.25, 0.5]])            # float64 labels
    p = np.array([[0.25, 0.5, 0.25], [0.5, 0.25, 0.25]], dtype=dtype)
    z = np.array([[1.0, 2.0, -3.0], [0.0, 0.5, 4.0]], dtype=dtype)
    c = np.array([1, 2], dtype=np.int32)
    out = ALL_FUNCTIONS[name](y, p, z, c)
    assert out.dtype == dtype
    if out.ndim == 0:
        assert isinstance(out, np.generic) and not isinstance(out, np.ndarray)


@pytest.mark.parametrize("name", list(ALL_FUNCTIONS))
def test_integer_input_gives_float64(name):
    y = np.array([[0, 1, 0], [1, 0, 0]])
    p = np.array([[0, 1, 0], [0, 0, 1]])
    z = np.array([[1, 2, -3], [0, 5, 4]])
    out = ALL_FUNCTIONS[name](y, p, z, np.array([1, 0]))
    assert out.dtype == np.float64


def test_mean_returns_numpy_scalars_of_the_working_dtype():
    z32 = np.float32([[1.0, 2.0]])
    for value in (ch.cce_with_logits([[1, 0]], z32), ch.sparse_cce_with_logits([0], z32),
                  ch.cce([[1, 0]], np.float32([[0.5, 0.5]]), reduction="sum")):
        assert type(value) is np.float32


# ------------------------------------------------------------------------ reductions, weights
def test_reductions_and_weights():
    rng = np.random.default_rng(10)
    z = rng.normal(0, 2, (6, 4))
    c = rng.integers(0, 4, 6)
    y = np.eye(4)[c]
    w = rng.uniform(0, 3, 6)
    per_row = np.array([float(-log_softmax_exact(row)[k]) for row, k in zip(z, c)])
    for f, first in ((ch.cce_with_logits, y), (ch.sparse_cce_with_logits, c)):
        np.testing.assert_allclose(f(first, z, reduction="none"), per_row, rtol=1e-15)
        np.testing.assert_allclose(f(first, z, sample_weight=w, reduction="none"), w * per_row,
                                   rtol=1e-15)
        assert f(first, z, reduction="sum") == pytest.approx(per_row.sum(), rel=1e-15)
        assert f(first, z) == pytest.approx(per_row.mean(), rel=1e-15)
        assert f(first, z, sample_weight=w, reduction="sum") == pytest.approx(
            np.sum(w * per_row), rel=1e-15)
        assert f(first, z, sample_weight=w) == pytest.approx(
            np.sum(w * per_row) / np.sum(w), rel=1e-15)
        assert f(first, z, sample_weight=2.5) == pytest.approx(per_row.mean(), rel=1e-15)
        assert f(first, z, sample_weight=[2.5]) == pytest.approx(per_row.mean(), rel=1e-15)
    p = ch.softmax(z)
    np.testing.assert_allclose(ch.cce(y, p, sample_weight=w, reduction="none"),
                               w * per_row, rtol=1e-13)


def test_gradient_reductions_are_consistent():
    rng = np.random.default_rng(11)
    z = rng.normal(0, 2, (5, 3))
    c = rng.integers(0, 3, 5)
    w = rng.uniform(0, 2, 5)
    for grad in (lambda **kw: ch.sparse_cce_with_logits_grad(c, z, **kw),
                 lambda **kw: ch.cce_with_logits_grad(np.eye(3)[c], z, **kw),
                 lambda **kw: ch.cce_grad(np.eye(3)[c], ch.softmax(z), **kw)):
        g_sum = grad(reduction="sum")
        np.testing.assert_array_equal(grad(reduction="none"), g_sum)
        np.testing.assert_allclose(grad(), g_sum / 5, rtol=1e-15)
        np.testing.assert_allclose(grad(sample_weight=w, reduction="sum"), g_sum * w[:, None],
                                   rtol=1e-15)
        np.testing.assert_allclose(grad(sample_weight=w), g_sum * w[:, None] / w.sum(),
                                   rtol=1e-14)


def test_mean_of_minibatch_sums_is_the_mean():
    rng = np.random.default_rng(12)
    z = rng.normal(0, 2, (10, 3))
    c = rng.integers(0, 3, 10)
    sums = sum(ch.sparse_cce_with_logits(c[i:i + 4], z[i:i + 4], reduction="sum")
               for i in range(0, 10, 4))
    assert sums / 10 == pytest.approx(ch.sparse_cce_with_logits(c, z), rel=1e-15)
    means = np.mean([ch.sparse_cce_with_logits(c[i:i + 4], z[i:i + 4]) for i in range(0, 10, 4)])
    assert abs(means - ch.sparse_cce_with_logits(c, z)) > 1e-3


# ------------------------------------------------------------------------ published numbers
LOGITS_KN = np.array([[2.4048107, 5.0334096], [-0.7921977, -4.1523376],
                      [0.9447198, -0.46802214], [1.158121, 3.9810789],
                      [4.768706, 2.3220146], [6.1481323, 3.909829]], dtype=np.float32)


def test_course_example_in_classes_by_examples_layout():
    """A course's check quoted in a learner's forum question: logits (classes x examples),
    expected (0.50722074 + 1.1133534) / 2, the sum of the two per-example losses; a float32
    log-softmax gives [0.25361034, 0.5566767], within one float32 ULP of ours."""
    labels_kn = np.zeros((6, 2), dtype=np.float32)
    labels_kn[[5, 0], [0, 1]] = 1
    per_example = ch.cce_with_logits(labels_kn.T, LOGITS_KN.T, reduction="none")
    assert per_example.dtype == np.float32
    exact = [-log_softmax_exact(LOGITS_KN[:, 0])[5], -log_softmax_exact(LOGITS_KN[:, 1])[0]]
    for computed, value in zip(per_example, exact):
        assert ulp_error(computed, value, np.float32) <= 0.5          # correctly rounded
    published = np.float32([0.25361034, 0.5566767])
    assert np.all(np.abs(per_example - published) <= np.spacing(published))   # within 1 ULP
    assert str(np.sum(per_example)) == "0.810287"
    assert str(ch.cce_with_logits(labels_kn.T, LOGITS_KN.T, reduction="sum")) == "0.810287"
    assert abs((0.50722074 + 1.1133534) / 2 - float(np.sum(per_example))) < 2e-7
    for half, value in zip([0.50722074 / 2, 1.1133534 / 2], exact):      # halves of the check
        assert abs(half - value) < 1e-7
    mean = ch.cce_with_logits(labels_kn.T, LOGITS_KN.T)
    assert abs(float(mean) - float(np.sum(per_example)) / 2) <= float(np.spacing(mean))
    np.testing.assert_array_equal(ch.sparse_cce_with_logits([5, 0], LOGITS_KN.T, reduction="none"),
                                  per_example)
    with pytest.raises(ValueError):                     # the forgotten transpose is caught here
        ch.cce_with_logits(labels_kn, LOGITS_KN)


def test_forgotten_transpose_on_a_square_batch():
    labels, logits = np.eye(3), np.tile([1.0, 0.0, 0.0], (3, 1))
    right = ch.cce_with_logits(labels.T, logits.T, reduction="sum")
    wrong = ch.cce_with_logits(labels, logits, reduction="sum")
    assert right == pytest.approx(3 * math.log(3), rel=1e-15)
    assert round(float(right), 4) == 3.2958
    assert wrong == pytest.approx(3 * math.log(math.e + 2) - 1, rel=1e-15)
    assert round(float(wrong), 4) == 3.6543
    assert ch.cce_with_logits(labels.T, logits.T) == pytest.approx(math.log(3), rel=1e-15)



# ------------------------------------------------------------------------ ignore_index
def _masked_batch(seed, n=9, k=4, ignore=-100):
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 3, (n, k))
    c = rng.integers(0, k, n)
    keep = rng.random(n) < 0.6
    keep[0], keep[1] = True, False                      # at least one of each
    c = np.where(keep, c, ignore)
    w = rng.uniform(0.1, 2, n)
    return z, c, keep, w


@pytest.mark.parametrize("ignore", [-100, -1, 255, 0])
@pytest.mark.parametrize("weighted", [False, True])
def test_ignore_index_equals_dropping_the_ignored_rows(ignore, weighted):
    """The oracle: the same function called on the kept rows only."""
    z, c_all, keep, w = _masked_batch(13, ignore=ignore)
    keep = c_all != ignore                              # ignore=0: class-0 targets too
    kw_all = {"sample_weight": w} if weighted else {}
    kw_kept = {"sample_weight": w[keep]} if weighted else {}
    f = ch.sparse_cce_with_logits
    none = f(c_all, z, ignore_index=ignore, reduction="none", **kw_all)
    assert none.shape == (len(c_all),)
    np.testing.assert_array_equal(none[~keep], 0)
    np.testing.assert_allclose(none[keep], f(c_all[keep], z[keep], reduction="none", **kw_kept),
                               rtol=1e-15)
    assert f(c_all, z, ignore_index=ignore, reduction="sum", **kw_all) == pytest.approx(
        f(c_all[keep], z[keep], reduction="sum", **kw_kept), rel=1e-14)
    assert f(c_all, z, ignore_index=ignore, **kw_all) == pytest.approx(
        f(c_all[keep], z[keep], **kw_kept), rel=1e-14)
    g = ch.sparse_cce_with_logits_grad
    for reduction in ("none", "sum", "mean"):
        full = g(c_all, z, ignore_index=ignore, reduction=reduction, **kw_all)
        assert full.shape == z.shape
        np.testing.assert_array_equal(full[~keep], 0)
        np.testing.assert_allclose(full[keep], g(c_all[keep], z[keep], reduction=reduction,
                                                 **kw_kept), rtol=1e-14, atol=1e-300)


def test_ignore_index_mean_divides_by_the_kept_count_and_kept_weights():
    """By hand: losses of the kept rows from the mpmath oracle, divided by their count."""
    z, c, keep, w = _masked_batch(14)
    exact = [float(-log_softmax_exact(z[n])[c[n]]) for n in np.flatnonzero(keep)]
    assert ch.sparse_cce_with_logits(c, z, ignore_index=-100) == pytest.approx(
        math.fsum(exact) / keep.sum(), rel=1e-14)
    weighted = math.fsum(a * b for a, b in zip(w[keep], exact)) / math.fsum(w[keep])
    assert ch.sparse_cce_with_logits(c, z, ignore_index=-100, sample_weight=w) == pytest.approx(
        weighted, rel=1e-14)
    # the weights of ignored rows do not enter the denominator, however large
    w_big = np.where(keep, w, 1e6)
    assert ch.sparse_cce_with_logits(c, z, ignore_index=-100, sample_weight=w_big) == \
        pytest.approx(weighted, rel=1e-14)


def test_ignore_index_none_or_absent_changes_nothing():
    z, c, keep, w = _masked_batch(15)
    c = np.where(keep, c, 1)
    for reduction in ("none", "sum", "mean"):
        for kw in ({}, {"sample_weight": w}):
            base = ch.sparse_cce_with_logits(c, z, reduction=reduction, **kw)
            np.testing.assert_array_equal(
                ch.sparse_cce_with_logits(c, z, reduction=reduction, ignore_index=None, **kw), base)
            np.testing.assert_allclose(
                ch.sparse_cce_with_logits(c, z, reduction=reduction, ignore_index=-100, **kw),
                base, rtol=1e-15)
            np.testing.assert_allclose(
                ch.sparse_cce_with_logits_grad(c, z, reduction=reduction, ignore_index=-100, **kw),
                ch.sparse_cce_with_logits_grad(c, z, reduction=reduction, **kw), rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_every_target_ignored(dtype):
    z = np.random.default_rng(16).normal(0, 2, (3, 2, 4)).astype(dtype)
    c = np.full((3, 4), -100)
    for f in (ch.sparse_cce_with_logits, ch.sparse_cce_with_logits_grad):
        with pytest.raises(ValueError, match="ignore_index") as info:
            f(c, z, ignore_index=-100, axis=1)
        assert "no targets" in str(info.value) and "undefined" in str(info.value)
        with pytest.raises(ValueError, match="ignore_index"):
            f(c, z, ignore_index=-100, axis=1, sample_weight=np.ones(3))
    total = ch.sparse_cce_with_logits(c, z, ignore_index=-100, axis=1, reduction="sum")
    assert total == 0 and type(total) is np.dtype(dtype).type
    none = ch.sparse_cce_with_logits(c, z, ignore_index=-100, axis=1, reduction="none")
    assert none.shape == (3, 4) and none.dtype == dtype and not none.any()
    grad = ch.sparse_cce_with_logits_grad(c, z, ignore_index=-100, axis=1, reduction="sum")
    assert grad.shape == z.shape and grad.dtype == dtype and not grad.any()


def test_kept_weights_summing_to_zero_is_an_error_for_the_mean():
    z, c, keep, w = _masked_batch(17)
    w = np.where(keep, 0.0, 1.0)
    with pytest.raises(ValueError, match="sample_weight sums to 0"):
        ch.sparse_cce_with_logits(c, z, ignore_index=-100, sample_weight=w)
    assert ch.sparse_cce_with_logits(c, z, ignore_index=-100, sample_weight=w,
                                     reduction="sum") == 0


def test_ignored_rows_may_hold_any_label_and_infinite_losses():
    """Labels equal to ignore_index are never used as indices (NumPy would wrap -100 round),
    and an ignored row whose loss would be infinite still counts 0."""
    z = np.array([[0.0, 1.0, -np.inf], [2.0, 0.0, 0.0], [-np.inf, 0.0, 0.0]])
    c = np.array([1, -100, -100])
    assert ch.sparse_cce_with_logits(c, z, ignore_index=-100) == pytest.approx(
        float(-log_softmax_exact(z[0])[1]), rel=1e-15)
    losses = ch.sparse_cce_with_logits([1, 2**40, 0], z, ignore_index=2**40, reduction="none")
    assert losses[1] == 0 and losses[2] == np.inf       # label 0 is kept in the last row
    losses = ch.sparse_cce_with_logits([2**40, 1, 2**40], z, ignore_index=2**40,
                                       reduction="none")
    np.testing.assert_array_equal(losses[[0, 2]], 0)
    assert ch.sparse_cce_with_logits([-100, 0, -100], z, ignore_index=-100) == pytest.approx(
        float(-log_softmax_exact(z[1])[0]), rel=1e-15)


def test_ignore_index_gradients_against_finite_differences():
    z, c, keep, w = _masked_batch(18)
    for reduction in ("mean", "sum", "none"):
        for weights in (None, w):
            kw = {"sample_weight": weights, "reduction": reduction, "ignore_index": -100}
            fd = central_difference_gradient(
                lambda x: np.sum(ch.sparse_cce_with_logits(c, x, **kw)), z)
            np.testing.assert_allclose(ch.sparse_cce_with_logits_grad(c, z, **kw), fd,
                                       rtol=1e-6, atol=1e-9)


IGNORE_BAD_CALLS = {
    "float ignore_index": lambda: ch.sparse_cce_with_logits([0], [[0.0, 1.0]], ignore_index=-100.0),
    "bool ignore_index": lambda: ch.sparse_cce_with_logits([0], [[0.0, 1.0]], ignore_index=True),
    "string ignore_index": lambda: ch.sparse_cce_with_logits_grad([0], [[0.0, 1.0]],
                                                                  ignore_index="-100"),
    "other negative label": lambda: ch.sparse_cce_with_logits([-1, -100], [[0.0, 1.0]] * 2,
                                                              ignore_index=-100),
    "label too large with ignore": lambda: ch.sparse_cce_with_logits_grad([2, -100], [[0.0, 1.0]] * 2,
                                                                        ignore_index=-100),
    "float axis": lambda: ch.cce_with_logits([[1, 0]], [[0.0, 1.0]], axis=1.0),
    "axis out of range": lambda: ch.sparse_cce_with_logits([0], [[0.0, 1.0]], axis=2),
    "negative axis out of range": lambda: ch.cce_grad([[1, 0]], [[1.0, 0.0]], axis=-3),
    "labels of the other layout": lambda: ch.sparse_cce_with_logits(
        np.zeros((2, 5), int), np.zeros((2, 3, 5)), axis=-1),
    "labels with the class axis": lambda: ch.sparse_cce_with_logits(
        np.zeros((2, 3, 5), int), np.zeros((2, 3, 5)), axis=1),
    "N-D label rows not distributions": lambda: ch.cce_with_logits(
        np.ones((2, 3, 5)) / 5, np.zeros((2, 3, 5)), axis=1),
    "weights of the wrong N-D shape": lambda: ch.cce_with_logits(
        np.full((2, 3, 5), 1 / 3), np.zeros((2, 3, 5)), axis=1, sample_weight=np.ones(3)),
}


@pytest.mark.parametrize("name", list(IGNORE_BAD_CALLS))
def test_value_errors_of_the_new_keywords(name):
    with pytest.raises(ValueError) as info:
        IGNORE_BAD_CALLS[name]()
    assert str(info.value)


# ------------------------------------------------------------------------ axis (N-D layouts)
def _nd_batch(seed, shape=(3, 4, 2, 5), axis=1):
    """Logits with classes on `axis`, labels (hard, soft) and probabilities of that layout."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 3, shape)
    k = shape[axis]
    loss_shape = tuple(s for i, s in enumerate(shape) if i != axis % len(shape))
    c = rng.integers(0, k, loss_shape)
    y = np.moveaxis(rng.dirichlet(np.ones(k), loss_shape), -1, axis)
    p = np.moveaxis(rng.dirichlet(np.full(k, 2.0), loss_shape), -1, axis)
    w = rng.uniform(0.1, 2, loss_shape)
    return z, c, y, p, w, k, loss_shape


ND_FUNCTIONS = {  # name: (function, first argument, second argument) from _nd_batch's values
    "cce": (ch.cce, "y", "p"), "cce_grad": (ch.cce_grad, "y", "p"),
    "cce_with_logits": (ch.cce_with_logits, "y", "z"),
    "cce_with_logits_grad": (ch.cce_with_logits_grad, "y", "z"),
    "sparse_cce_with_logits": (ch.sparse_cce_with_logits, "c", "z"),
    "sparse_cce_with_logits_grad": (ch.sparse_cce_with_logits_grad, "c", "z"),
}


@pytest.mark.parametrize("name", list(ND_FUNCTIONS))
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("weighted", [False, True])
def test_axis_1_equals_moveaxis_and_rows(name, reduction, weighted):
    """(N, C, d1, d2) with axis=1 == the same data moved to classes-last with axis=-1 ==
    the plain (M, C) row computation after reshaping, reshaped back."""
    f, first, second = ND_FUNCTIONS[name]
    z, c, y, p, w, k, loss_shape = _nd_batch(19)
    args = {"z": z, "c": c, "y": y, "p": p}
    a1, a2 = args[first], args[second]
    last = (a1 if first == "c" else np.moveaxis(a1, 1, -1)), np.moveaxis(a2, 1, -1)
    rows = (a1.reshape(-1) if first == "c" else last[0].reshape(-1, k)), last[1].reshape(-1, k)
    kw = {"reduction": reduction}
    kw_rows = dict(kw, sample_weight=w.reshape(-1)) if weighted else kw
    if weighted:
        kw = dict(kw, sample_weight=w)
    out = f(a1, a2, axis=1, **kw)
    out_last = f(*last, axis=-1, **kw)
    out_rows = f(*rows, **kw_rows)
    if name.endswith("_grad"):
        assert out.shape == a2.shape
        np.testing.assert_array_equal(np.moveaxis(out, 1, -1), out_last)
        np.testing.assert_array_equal(out_last.reshape(-1, k), out_rows)
    elif reduction == "none":
        assert out.shape == loss_shape
        np.testing.assert_array_equal(out, out_last)
        np.testing.assert_array_equal(out.reshape(-1), out_rows)
    else:
        assert np.ndim(out) == 0
        assert out == out_last == out_rows


def test_axis_every_position_and_loop_oracle():
    """Per-position losses against mpmath, one position at a time; every axis of a 4-D array."""
    rng = np.random.default_rng(20)
    z = rng.normal(0, 4, (2, 3, 4, 3))
    for axis in range(4):
        k = z.shape[axis]
        moved = np.moveaxis(z, axis, -1)
        c = rng.integers(0, k, moved.shape[:-1])
        losses = ch.sparse_cce_with_logits(c, z, axis=axis, reduction="none")
        assert losses.shape == moved.shape[:-1]
        for index in np.ndindex(losses.shape):
            exact = -log_softmax_exact(moved[index])[c[index]]
            assert ulp_error(losses[index], exact) <= 3
        assert ch.sparse_cce_with_logits(c, z, axis=axis) == pytest.approx(
            float(mp.fsum(-log_softmax_exact(moved[i])[c[i]] for i in np.ndindex(c.shape))
                  / c.size), rel=1e-14)


def test_axis_with_ignore_index_and_weights_per_sample():
    """N-D: 'mean' over the kept positions; a weight of shape (N,) is one weight per sample
    (aligned from the left), the same as the full per-position weight array."""
    z, c, y, p, w, k, loss_shape = _nd_batch(21)
    keep = np.random.default_rng(22).random(loss_shape) < 0.7
    c = np.where(keep, c, -100)
    w_sample = np.random.default_rng(23).uniform(0.5, 2, loss_shape[0])
    w_full = np.broadcast_to(w_sample[:, None, None], loss_shape)
    for kw in ({}, {"sample_weight": w_sample}):
        mean = ch.sparse_cce_with_logits(c, z, axis=1, ignore_index=-100, **kw)
        weights = np.ones(loss_shape) if not kw else w_full
        per_pos = ch.sparse_cce_with_logits(np.where(keep, c, 0), z, axis=1, reduction="none")
        expected = math.fsum((weights * per_pos)[keep]) / math.fsum(weights[keep])
        assert mean == pytest.approx(expected, rel=1e-14)
        np.testing.assert_array_equal(
            ch.sparse_cce_with_logits_grad(c, z, axis=1, ignore_index=-100, **kw),
            ch.sparse_cce_with_logits_grad(c, z, axis=1, ignore_index=-100,
                                           **({"sample_weight": w_full} if kw else {})))


@pytest.mark.parametrize("name", ["cce_with_logits_grad", "sparse_cce_with_logits_grad"])
def test_axis_gradients_against_finite_differences(name):
    f, first, _ = ND_FUNCTIONS[name]
    loss = ND_FUNCTIONS[name.removesuffix("_grad")][0]
    z, c, y, p, w, k, loss_shape = _nd_batch(24, shape=(2, 3, 2, 2))
    label = c if first == "c" else y
    for kw in ({}, {"sample_weight": w}, {"reduction": "sum"}):
        fd = central_difference_gradient(lambda x: np.sum(loss(label, x, axis=1, **kw)), z)
        np.testing.assert_allclose(f(label, z, axis=1, **kw), fd, rtol=1e-6, atol=2e-8)


def test_cce_grad_with_axis_along_the_simplex():
    z, c, y, p, w, k, loss_shape = _nd_batch(25, shape=(2, 3, 4))
    v = np.random.default_rng(26).normal(size=p.shape)
    v -= v.mean(axis=1, keepdims=True)                 # stay on the simplex along axis 1
    h = 1e-7
    fd = (ch.cce(y, p + h * v, axis=1) - ch.cce(y, p - h * v, axis=1)) / (2 * h)
    assert math.isclose(fd, np.sum(ch.cce_grad(y, p, axis=1) * v), rel_tol=1e-6, abs_tol=1e-9)


@pytest.mark.parametrize("name", list(ND_FUNCTIONS))
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_axis_and_ignore_index_keep_the_dtype(name, dtype):
    f, first, second = ND_FUNCTIONS[name]
    z, c, y, p, w, k, loss_shape = _nd_batch(27, shape=(2, 3, 4))
    args = {"z": z.astype(dtype), "c": c, "y": y, "p": p.astype(dtype)}
    kw = {"ignore_index": -100} if first == "c" else {}
    if first == "c":
        args["c"] = np.where(np.arange(c.size).reshape(c.shape) % 3 == 0, -100, c)
    for reduction in ("none", "mean"):
        out = f(args[first], args[second], axis=1, reduction=reduction, **kw)
        assert out.dtype == dtype
        if reduction == "none":
            assert out.shape == (args[second].shape if name.endswith("_grad") else loss_shape)
        elif not name.endswith("_grad"):
            assert type(out) is np.dtype(dtype).type


def test_three_axes_with_classes_last_need_no_keyword():
    """(N, T, K), Keras's layout of a sequence model, works with the default axis=-1."""
    z, c, y, p, w, k, loss_shape = _nd_batch(28, shape=(2, 5, 3), axis=-1)
    np.testing.assert_array_equal(ch.sparse_cce_with_logits(c, z, reduction="none"),
                                  ch.sparse_cce_with_logits(c.reshape(-1), z.reshape(-1, 3),
                                                            reduction="none").reshape(2, 5))
    assert ch.cce(np.ones((1, 1, 1)), np.ones((1, 1, 1))) == 0      # one class: loss 0
