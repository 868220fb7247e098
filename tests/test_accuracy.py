"""Tests for the accuracy chapter (book/chapters/accuracy.ipynb).

1. Its fast variants `bce_with_logits_fast`, `cce_with_logits_fast` and
   `sparse_cce_with_logits_fast`, against a 60-digit mpmath oracle across the float64 range and
   in float32, against the book's reference functions (same meaning: values, reductions,
   weights, dtypes, errors), at block boundaries, and with hypothesis.
2. The chapter's claims about the book's own functions (loaded from their chapters): the losses
   within a few ULP across the float64 range, the gradients within a few ULP of the size of
   their terms, the softmax within a few ULP, every gradient also against finite differences.

Bounds asserted (float64 and float32, ULP of the dtype at the exact value): losses per element
or per row <= LOSS_ULP; reduced losses (means of non-negative terms) <= LOSS_ULP; gradients
<= GRAD_ULP ULP of their larger term; softmax entries <= LOSS_ULP. No timing here: speed is
measured by benchmarks/bench.py.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bookfunctions import load_chapter
from oracle import central_difference_gradient, mp, mpf, ulp_error

acc = load_chapter("accuracy")
logits_ch = load_chapter("logits")
cce_ch = load_chapter("cce")
bce_ch = load_chapter("bce")

LOSS_ULP = 4.0
GRAD_ULP = 4.0
SETTINGS = settings(max_examples=150, deadline=None)

BCE_FUNCTIONS = {"fast": acc.bce_with_logits_fast, "reference": logits_ch.bce_with_logits}
CCE_FUNCTIONS = {"fast": acc.cce_with_logits_fast, "reference": cce_ch.cce_with_logits}
SPARSE_FUNCTIONS = {"fast": acc.sparse_cce_with_logits_fast,
                    "reference": cce_ch.sparse_cce_with_logits}


# --------------------------------------------------------------------------------------------
# The oracle (60 digits, from the definitions, in forms without cancellation)
# --------------------------------------------------------------------------------------------
def exact_bce_logits(y, z):
    """y log(1 + e^-z) + (1 - y) log(1 + e^z); a term with weight 0 is 0 (even at z = +-inf)."""
    y, z = mpf(y), mpf(z)
    total = mp.mpf(0)
    if y > 0:
        total += y * mp.log1p(mp.exp(-z))
    if y < 1:
        total += (1 - y) * mp.log1p(mp.exp(z))
    return total


def exact_cce_row(y_row, z_row):
    """sum_j y_j (-log softmax_j), -log softmax_j = log1p(sum_{i != j} e^(z_i - z_j))."""
    z = [mpf(v) for v in z_row]
    total = mp.mpf(0)
    for j, yj in enumerate(y_row):
        if yj == 0:
            continue
        if z[j] == -mp.inf:
            return mp.inf
        rest = mp.fsum(mp.exp(zi - z[j]) for i, zi in enumerate(z) if i != j and zi != -mp.inf)
        total += mpf(yj) * mp.log1p(rest)
    return total


def exact_softmax_row(z_row):
    """(softmax entries, index of a maximal entry, s = sum over the others of e^(z_i - m))."""
    z = [mpf(v) for v in z_row]
    top = int(np.argmax(z_row))
    rest = [mp.exp(v - z[top]) for i, v in enumerate(z) if i != top]
    s = mp.fsum(rest)
    probabilities = [mp.exp(v - z[top]) / (1 + s) for v in z]
    return probabilities, top, s


def exact_sigmoid(z):
    return 1 / (1 + mp.exp(-mpf(z)))


def worst_ulp(computed, exact, dtype=np.float64):
    return max(ulp_error(c, e, dtype) for c, e in zip(np.ravel(computed), exact))


def term_ulp(computed, exact, term, dtype=np.float64):
    """|computed - exact| in ULP of `term` (the larger of the terms that were subtracted)."""
    spacing = float(np.spacing(dtype(float(term)))) if term > 0 else float(
        np.finfo(dtype).smallest_subnormal)
    return float(abs(mpf(computed) - exact) / spacing)


# --------------------------------------------------------------------------------------------
# Inputs across the whole range
# --------------------------------------------------------------------------------------------
MAGNITUDES = [0.0, 1e-300, 1e-100, 1e-20, 1e-5, 0.1, 0.7, 1.0, 2.5, 5.0, 13.3, 16.6, 17.0, 30.1,
              36.7, 37.0, 40.3, 88.7, 100.0, 500.5, 709.0, 710.0, 745.2, 800.0, 1e5, 1e100,
              1e300, 1.7e308]
LOGITS = np.array(sorted({m for m in MAGNITUDES} | {-m for m in MAGNITUDES}))
LABELS = np.array([0.0, 1.0, 1e-300, 1e-20, 1e-8, 0.3, 0.5, 0.7, 1 - 1e-10, 1 - 2**-52,
                   1 - 2**-53])
GRID_Y, GRID_Z = (a.ravel() for a in np.meshgrid(LABELS, LOGITS))


def cce_rows(rng, n, k, scale):
    """Heavy-tailed logits of every size, labels: mostly the winner (confident rows), some not."""
    z = rng.standard_cauchy((n, k)) * scale
    labels = np.argmax(z + rng.normal(0, 1, z.shape), axis=1)
    return z, labels


ROW_SETS = [cce_rows(np.random.default_rng(seed), 30, k, scale)
            for seed, (k, scale) in enumerate([(k, s) for k in (2, 3, 10)
                                               for s in (0.1, 1.0, 10.0, 100.0, 1000.0)])]


# --------------------------------------------------------------------------------------------
# 1. BCE from logits: fast variant and reference, against the oracle
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", BCE_FUNCTIONS)
def test_bce_with_logits_float64_grid_across_the_range(name):
    losses = BCE_FUNCTIONS[name](GRID_Y, GRID_Z, reduction="none")
    exact = [exact_bce_logits(y, z) for y, z in zip(GRID_Y, GRID_Z)]
    assert worst_ulp(losses, exact) <= LOSS_ULP


@pytest.mark.parametrize("name", BCE_FUNCTIONS)
def test_bce_with_logits_float32_grid(name):
    y32 = GRID_Y.astype(np.float32)
    z32 = np.clip(GRID_Z, -3e38, 3e38).astype(np.float32)
    losses = BCE_FUNCTIONS[name](y32, z32, reduction="none")
    assert losses.dtype == np.float32
    exact = [exact_bce_logits(y, z) for y, z in zip(y32, z32)]
    assert worst_ulp(losses, exact, np.float32) <= LOSS_ULP


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", BCE_FUNCTIONS)
def test_bce_with_logits_random_heavy_tailed_and_soft(name, dtype):
    rng = np.random.default_rng(11)
    z = (rng.standard_cauchy(3000) * 10).astype(dtype)
    y = rng.uniform(0, 1, 3000)
    y[:1000] = np.round(y[:1000])
    y[1000:1500] = 1 - rng.uniform(0, 1e-6, 500)           # soft labels near 1 (label smoothing)
    y = y.astype(dtype)
    exact = [exact_bce_logits(a, b) for a, b in zip(y, z)]
    assert worst_ulp(BCE_FUNCTIONS[name](y, z, reduction="none"), exact, dtype) <= LOSS_ULP


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_with_logits_fast_mean_against_the_oracle(dtype):
    rng = np.random.default_rng(12)
    z, y = (rng.normal(0, 30, 5000)).astype(dtype), rng.uniform(0, 1, 5000).astype(dtype)
    exact = mp.fsum(exact_bce_logits(a, b) for a, b in zip(y, z)) / len(z)
    value = acc.bce_with_logits_fast(y, z)
    assert type(value) is np.dtype(dtype).type
    assert ulp_error(value, exact, dtype) <= LOSS_ULP


def test_confident_rows_keep_their_digits():
    """The chapter's motivating numbers: log1p(e^-40) = 4.25e-18, not 0."""
    exact = mp.log1p(mp.exp(-40))
    assert ulp_error(acc.bce_with_logits_fast([0.0], [-40.0]), exact) <= 1
    assert ulp_error(acc.bce_with_logits_fast([1.0], [40.0]), exact) <= 1
    assert ulp_error(acc.cce_with_logits_fast([[1.0, 0.0]], [[40.0, 0.0]]), exact) <= 1
    assert ulp_error(acc.sparse_cce_with_logits_fast([0], [[40.0, 0.0]]), exact) <= 1
    assert float(acc.bce_with_logits_fast([0.0], [-40.0])) == pytest.approx(4.25e-18, rel=1e-3)


# --------------------------------------------------------------------------------------------
# 2. CCE from logits: fast variants and references, against the oracle
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", CCE_FUNCTIONS)
def test_cce_with_logits_rows_hard_and_soft(name, dtype):
    rng = np.random.default_rng(21)
    worst = 0.0
    for z, labels in ROW_SETS:
        z = np.clip(z, -3e38, 3e38).astype(dtype)
        k = z.shape[1]
        for y in (np.eye(k)[labels], rng.dirichlet(np.full(k, 0.3), len(z))):
            y = y.astype(dtype)
            losses = CCE_FUNCTIONS[name](y, z, reduction="none")
            assert losses.dtype == dtype
            worst = max(worst, worst_ulp(losses, [exact_cce_row(a, b) for a, b in zip(y, z)],
                                         dtype))
    assert worst <= LOSS_ULP


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", SPARSE_FUNCTIONS)
def test_sparse_cce_with_logits_rows(name, dtype):
    worst = 0.0
    for z, labels in ROW_SETS:
        z = np.clip(z, -3e38, 3e38).astype(dtype)
        losses = SPARSE_FUNCTIONS[name](labels, z, reduction="none")
        exact = [exact_cce_row(np.eye(z.shape[1])[c], row) for c, row in zip(labels, z)]
        worst = max(worst, worst_ulp(losses, exact, dtype))
    assert worst <= LOSS_ULP


def test_fast_cce_both_routes_are_accurate():
    """A block with logits beyond +-700 takes the exact split, others two exponentials: the same
    rows must be accurate either way."""
    rng = np.random.default_rng(22)
    z = rng.normal(0, 20, (50, 5)) + np.array([40.0, 0, 0, 0, 0])       # confident rows
    labels = np.zeros(50, dtype=np.int64)
    exact = [exact_cce_row(np.eye(5)[0], row) for row in z]
    direct = acc.sparse_cce_with_logits_fast(labels, z, reduction="none")
    with_huge_row = np.vstack([z, [[1e4, 0, 0, 0, 0]]])                   # forces the split
    split = acc.sparse_cce_with_logits_fast(np.zeros(51, dtype=np.int64), with_huge_row,
                                            reduction="none")[:50]
    assert worst_ulp(direct, exact) <= LOSS_ULP
    assert worst_ulp(split, exact) <= LOSS_ULP
    dense = acc.cce_with_logits_fast(np.eye(5)[np.zeros(51, dtype=int)], with_huge_row,
                                     reduction="none")[:50]
    assert worst_ulp(dense, exact) <= LOSS_ULP


EDGE_ROWS = [[0.0, -720.0, -1e4], [0.0, -744.0, -746.0], [-705.0, -710.0, -2000.0],
             [-705.0, -1.5e3, -700.0], [690.0, 689.5, 0.0], [709.0, 1.0, 0.0], [1e300, 0.0, -1e300],
             [-1e300, -1e300, -1e300], [40.0, 40.0, 0.0], [0.3, -1.7, 41.3]]


@pytest.mark.parametrize("row", EDGE_ROWS)
@pytest.mark.parametrize("name", SPARSE_FUNCTIONS)
def test_cce_edge_rows(name, row):
    """Rows near the limits of the two-exponential route: subnormal terms, huge logits, ties."""
    z = np.array([row])
    for label in range(3):
        exact = exact_cce_row(np.eye(3)[label], row)
        assert ulp_error(SPARSE_FUNCTIONS[name]([label], z), exact) <= LOSS_ULP
        assert ulp_error(CCE_FUNCTIONS[name](np.eye(3)[[label]], z), exact) <= LOSS_ULP


@pytest.mark.parametrize("name", CCE_FUNCTIONS)
def test_cce_means_against_the_oracle(name):
    z, labels = ROW_SETS[7]
    y = np.eye(z.shape[1])[labels]
    exact = mp.fsum(exact_cce_row(a, b) for a, b in zip(y, z)) / len(z)
    assert ulp_error(CCE_FUNCTIONS[name](y, z), exact) <= LOSS_ULP
    assert ulp_error(SPARSE_FUNCTIONS[name](labels, z), exact) <= LOSS_ULP


# --------------------------------------------------------------------------------------------
# 3. The book's gradients and softmax (the chapter's claims), against the oracle and FD
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_with_logits_grad_within_ulps_of_its_terms(dtype):
    rng = np.random.default_rng(31)
    z = np.concatenate([rng.standard_cauchy(1500) * 20, np.linspace(-800, 800, 401)])
    z = np.clip(z, -3e38, 3e38)
    y = rng.uniform(0, 1, z.size)
    y[:500] = np.round(y[:500])
    y[500:1000] = [float(exact_sigmoid(v)) for v in z[500:1000]]   # label = the prediction
    z, y = z.astype(dtype), y.astype(dtype)
    grad = logits_ch.bce_with_logits_grad(y, z, reduction="none")
    worst = 0.0
    for g, a, b in zip(grad, y, z):
        s_pos, s_neg, a_m = exact_sigmoid(b), exact_sigmoid(-b), mpf(a)
        exact = (1 - a_m) * s_pos - a_m * s_neg
        worst = max(worst, term_ulp(g, exact, max((1 - a_m) * s_pos, a_m * s_neg), dtype))
    assert worst <= GRAD_ULP


def test_cce_grad_and_softmax_within_ulps():
    worst_p, worst_g = 0.0, 0.0
    for z, labels in ROW_SETS:
        k = z.shape[1]
        y = np.eye(k)[labels]
        p = cce_ch.softmax(z)
        grad = cce_ch.cce_with_logits_grad(y, z, reduction="none")
        for z_row, y_row, p_row, g_row in zip(z, y, p, grad):
            probabilities, top, s = exact_softmax_row(z_row)
            worst_p = max(worst_p, worst_ulp(p_row, probabilities))
            for j in range(k):
                if j == top:             # (1 - y_top) - s/(1 + s): terms 1 - y and s/(1+s)
                    exact, term = (1 - mpf(y_row[j])) - s / (1 + s), max(1 - mpf(y_row[j]),
                                                                             s / (1 + s))
                else:
                    exact, term = probabilities[j] - mpf(y_row[j]), max(probabilities[j],
                                                                        mpf(y_row[j]))
                worst_g = max(worst_g, term_ulp(g_row[j], exact, term))
    assert worst_p <= LOSS_ULP
    assert worst_g <= GRAD_ULP


def test_gradients_against_finite_differences_of_the_fast_losses():
    rng = np.random.default_rng(32)
    z, y = rng.uniform(-6, 6, 40), rng.uniform(0, 1, 40)
    fd = central_difference_gradient(lambda v: acc.bce_with_logits_fast(y, v, reduction="sum"), z, 1e-6)
    exact_grad = logits_ch.bce_with_logits_grad(y, z, reduction="sum")
    assert np.max(np.abs(fd - exact_grad)) < 1e-7

    zc = rng.uniform(-5, 5, (6, 4))
    yc = rng.dirichlet(np.ones(4), 6)
    labels = rng.integers(0, 4, 6)
    fd = central_difference_gradient(lambda v: acc.cce_with_logits_fast(yc, v), zc, 1e-6)
    assert np.max(np.abs(fd - cce_ch.cce_with_logits_grad(yc, zc))) < 1e-8
    fd = central_difference_gradient(lambda v: acc.sparse_cce_with_logits_fast(labels, v), zc, 1e-6)
    assert np.max(np.abs(fd - cce_ch.sparse_cce_with_logits_grad(labels, zc))) < 1e-8


def test_bce_from_probabilities_across_the_range():
    """The chapter's claim about `bce` (from the bce chapter): about half an ULP everywhere."""
    from oracle import bce_terms
    p = np.concatenate([np.logspace(-320, -1, 120), 1 - np.logspace(-1, -16, 60), [0.0, 1.0]])
    for label in (0.0, 1.0, 0.3, 1e-300, 1 - 2**-53):
        y = np.full_like(p, label)
        assert worst_ulp(bce_ch.bce(y, p, reduction="none"),
                         [bce_terms(label, v) for v in p]) <= LOSS_ULP


# --------------------------------------------------------------------------------------------
# 4. Same meaning as the references: reductions, weights, dtypes, infinities, block edges
# --------------------------------------------------------------------------------------------
def _close(a, b, ulps=LOSS_ULP):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape
    both_inf = np.isinf(a) & np.isinf(b) & (np.sign(a) == np.sign(b))
    with np.errstate(invalid="ignore", over="ignore"):
        spacing = np.spacing(np.maximum(np.abs(a), np.abs(b)))
        ok = both_inf | (np.abs(a - b) <= ulps * spacing) | ((a == 0) & (b == 0))
    assert ok.all(), (a[~ok][:5], b[~ok][:5])


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_bce_fast_reductions_and_weights_match_the_reference(reduction):
    rng = np.random.default_rng(41)
    z, y = rng.normal(0, 10, (30, 7)), rng.uniform(0, 1, (30, 7))
    z[0, 0], y[0, 0] = np.inf, 0.5                     # an infinite loss ...
    for weights in (None, rng.uniform(0, 2, (30, 7)), rng.uniform(0, 2, 7), 3.0):
        if weights is not None and np.ndim(weights) == 2:
            weights[0, 0] = 0.0                        # ... removed by a zero weight
        if weights is None or np.ndim(weights) < 2:
            z_use = z.copy()
            z_use[0, 0] = 1.0
        else:
            z_use = z
        fast = acc.bce_with_logits_fast(y, z_use, sample_weight=weights, reduction=reduction)
        ref = logits_ch.bce_with_logits(y, z_use, sample_weight=weights, reduction=reduction)
        _close(fast, ref, 1e3 if reduction != "none" else LOSS_ULP)   # sums: order differs


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_cce_fast_reductions_and_weights_match_the_reference(reduction):
    rng = np.random.default_rng(42)
    z = rng.normal(0, 5, (40, 6))
    y = rng.dirichlet(np.ones(6), 40)
    labels = rng.integers(0, 6, 40)
    z[3, 2], y[3] = -np.inf, np.eye(6)[2]              # an infinite loss ...
    labels[3] = 2
    for weights in (None, rng.uniform(0, 2, 40), 2.0):
        if weights is not None and np.ndim(weights) == 1:
            weights[3] = 0.0                           # ... removed by a zero weight
        z_use = z if (weights is not None and np.ndim(weights) == 1) else np.where(np.isinf(z), 0, z)
        _close(acc.cce_with_logits_fast(y, z_use, sample_weight=weights, reduction=reduction),
               cce_ch.cce_with_logits(y, z_use, sample_weight=weights, reduction=reduction), 1e3)
        _close(acc.sparse_cce_with_logits_fast(labels, z_use, sample_weight=weights,
                                               reduction=reduction),
               cce_ch.sparse_cce_with_logits(labels, z_use, sample_weight=weights,
                                             reduction=reduction), 1e3)


def test_infinite_logits_give_the_exact_limits_never_nan():
    y = np.array([1.0, 0.0, 0.5, 1.0, 0.0, 0.5])
    z = np.array([np.inf, np.inf, np.inf, -np.inf, -np.inf, -np.inf])
    fast = acc.bce_with_logits_fast(y, z, reduction="none")
    np.testing.assert_array_equal(fast, [0.0, np.inf, np.inf, np.inf, 0.0, np.inf])
    np.testing.assert_array_equal(fast, logits_ch.bce_with_logits(y, z, reduction="none"))
    rows = np.array([[0.0, -np.inf, 1.0], [0.0, -np.inf, 1.0]])
    dense = acc.cce_with_logits_fast([[0.5, 0.0, 0.5], [0.0, 1.0, 0.0]], rows, reduction="none")
    assert np.isfinite(dense[0]) and dense[1] == np.inf
    _close(dense, cce_ch.cce_with_logits([[0.5, 0.0, 0.5], [0.0, 1.0, 0.0]], rows,
                                         reduction="none"))
    sparse = acc.sparse_cce_with_logits_fast([2, 1], rows, reduction="none")
    assert np.isfinite(sparse[0]) and sparse[1] == np.inf


def test_huge_finite_losses_mean_without_overflow():
    z, y = np.array([1e308, -1.7e308]), np.array([0.0, 1.0])
    assert acc.bce_with_logits_fast(y, z) == logits_ch.bce_with_logits(y, z) == 1.35e308
    assert acc.bce_with_logits_fast(y, z, reduction="sum") == np.inf


def test_dtypes_are_kept():
    assert type(acc.bce_with_logits_fast([1, 0], np.float32([2, 3]))) is np.float32
    assert type(acc.bce_with_logits_fast([1, 0], [2, 3])) is np.float64           # int logits
    assert acc.bce_with_logits_fast([1, 0], np.float32([2, 3]), reduction="none").dtype == np.float32
    assert type(acc.cce_with_logits_fast([[1, 0]], np.float32([[2, 3]]))) is np.float32
    assert type(acc.sparse_cce_with_logits_fast([1], np.float32([[2, 3]]))) is np.float32
    assert acc.sparse_cce_with_logits_fast([1], [[2, 3]], reduction="none").dtype == np.float64


@pytest.mark.parametrize("offset", [-1, 0, 1, 3])
def test_block_edges(offset):
    block = acc.BLOCK_BYTES // 8
    n = 2 * block + offset
    rng = np.random.default_rng(43)
    z, y = rng.normal(0, 8, n), rng.uniform(0, 1, n)
    y[-1], z[-1] = 0.0, 50.0                            # a large loss in the very last element
    _close(acc.bce_with_logits_fast(y, z), logits_ch.bce_with_logits(y, z), 64)
    _close(acc.bce_with_logits_fast(y, z, reduction="none"),
           logits_ch.bce_with_logits(y, z, reduction="none"))
    k = 100
    rows = 2 * (acc.BLOCK_BYTES // (8 * k)) + offset
    zc, labels = rng.normal(0, 3, (rows, k)), rng.integers(0, k, rows)
    _close(acc.sparse_cce_with_logits_fast(labels, zc, reduction="none"),
           cce_ch.sparse_cce_with_logits(labels, zc, reduction="none"))
    _close(acc.cce_with_logits_fast(np.eye(k)[labels], zc), cce_ch.cce_with_logits(np.eye(k)[labels], zc), 64)


def test_nan_is_found_in_any_block():
    z = np.zeros(3 * acc.BLOCK_BYTES // 8)
    z[-2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        acc.bce_with_logits_fast(np.zeros_like(z), z)
    zc = np.zeros((3 * acc.BLOCK_BYTES // 80, 10))
    zc[-1, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        acc.sparse_cce_with_logits_fast(np.zeros(len(zc), dtype=int), zc)


BAD_INPUTS = {
    "bce shape mismatch": lambda: acc.bce_with_logits_fast([1, 0, 1], [[0.2], [0.4], [0.9]]),
    "bce NaN logit": lambda: acc.bce_with_logits_fast([1, 0], [0.5, np.nan]),
    "bce NaN label": lambda: acc.bce_with_logits_fast([np.nan, 0], [0.5, 0.1]),
    "bce label > 1": lambda: acc.bce_with_logits_fast([2, 0], [0.5, 0.1]),
    "bce label < 0": lambda: acc.bce_with_logits_fast([-0.5, 0], [0.5, 0.1]),
    "bce label above 1 before rounding to float32":
        lambda: acc.bce_with_logits_fast([1 + 1e-12], np.float32([0.5])),
    "bce empty": lambda: acc.bce_with_logits_fast([], []),
    "bce text": lambda: acc.bce_with_logits_fast(["a", "b"], [0.5, 0.1]),
    "bce ragged": lambda: acc.bce_with_logits_fast([[1, 0], [1]], [[0.5, 0.1], [0.2]]),
    "bce reduction": lambda: acc.bce_with_logits_fast([1], [0.5], reduction="avg"),
    "bce negative weight": lambda: acc.bce_with_logits_fast([1, 0], [0.5, 0.1], sample_weight=[1, -1]),
    "bce NaN weight": lambda: acc.bce_with_logits_fast([1, 0], [0.5, 0.1], sample_weight=[1, np.nan]),
    "bce weight shape": lambda: acc.bce_with_logits_fast([1, 0], [0.5, 0.1], sample_weight=[1, 2, 3]),
    "bce zero weights, mean": lambda: acc.bce_with_logits_fast([1, 0], [0.5, 0.1], sample_weight=[0, 0]),
    "cce shape mismatch": lambda: acc.cce_with_logits_fast([[1, 0]], [[0.5, 0.1, 0.2]]),
    "cce not 2-D": lambda: acc.cce_with_logits_fast([1, 0], [0.5, 0.1]),
    "cce row sum": lambda: acc.cce_with_logits_fast([[0.5, 0.4]], [[0.5, 0.1]]),
    "cce label > 1": lambda: acc.cce_with_logits_fast([[2.0, -1.0]], [[0.5, 0.1]]),
    "cce +inf": lambda: acc.cce_with_logits_fast([[1, 0]], [[np.inf, 0.1]]),
    "cce row of -inf": lambda: acc.cce_with_logits_fast([[1, 0]], [[-np.inf, -np.inf]]),
    "cce NaN": lambda: acc.cce_with_logits_fast([[1, 0]], [[np.nan, 0.1]]),
    "cce empty": lambda: acc.cce_with_logits_fast(np.zeros((0, 3)), np.zeros((0, 3))),
    "cce weight shape": lambda: acc.cce_with_logits_fast([[1, 0]], [[0.5, 0.1]], sample_weight=[1, 2]),
    "cce zero weights": lambda: acc.cce_with_logits_fast([[1, 0]], [[0.5, 0.1]], sample_weight=[0]),
    "sparse float labels": lambda: acc.sparse_cce_with_logits_fast([1.0], [[0.5, 0.1]]),
    "sparse label range": lambda: acc.sparse_cce_with_logits_fast([2], [[0.5, 0.1]]),
    "sparse negative label": lambda: acc.sparse_cce_with_logits_fast([-1], [[0.5, 0.1]]),
    "sparse label shape": lambda: acc.sparse_cce_with_logits_fast([0, 1], [[0.5, 0.1]]),
    "sparse +inf": lambda: acc.sparse_cce_with_logits_fast([0], [[np.inf, 0.1]]),
    "sparse reduction": lambda: acc.sparse_cce_with_logits_fast([0], [[0.5, 0.1]], reduction=None),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_raises_value_error(case):
    with pytest.raises(ValueError):
        BAD_INPUTS[case]()


# --------------------------------------------------------------------------------------------
# 5. Properties (hypothesis)
# --------------------------------------------------------------------------------------------
finite_logits = st.floats(-1e300, 1e300, allow_nan=False)
any_logits = st.floats(allow_nan=False)                       # includes +-inf and +-max
unit = st.floats(0, 1)


@SETTINGS
@given(data=st.data())
def test_bce_fast_equals_reference_elementwise(data):
    shape = data.draw(hnp.array_shapes(max_dims=2, max_side=12))
    z = data.draw(hnp.arrays(np.float64, shape, elements=any_logits))
    y = data.draw(hnp.arrays(np.float64, shape, elements=unit))
    fast = acc.bce_with_logits_fast(y, z, reduction="none")
    assert not np.isnan(fast).any()
    _close(fast, logits_ch.bce_with_logits(y, z, reduction="none"))


@SETTINGS
@given(data=st.data())
def test_bce_fast_mean_equals_reference(data):
    n = data.draw(st.integers(1, 60))
    z = data.draw(hnp.arrays(np.float64, n, elements=st.floats(-1e4, 1e4)))
    y = data.draw(hnp.arrays(np.float64, n, elements=unit))
    _close(acc.bce_with_logits_fast(y, z), logits_ch.bce_with_logits(y, z), 64)


@SETTINGS
@given(y=st.sampled_from([0.0, 0.125, 0.25, 0.5, 0.75, 1.0]), z=finite_logits)
def test_bce_symmetry(y, z):
    """Swapping the classes (y -> 1 - y, z -> -z) does not change the loss."""
    _close(acc.bce_with_logits_fast([y], [z]), acc.bce_with_logits_fast([1 - y], [-z]), 2)


@st.composite
def cce_problem(draw):
    n, k = draw(st.integers(1, 8)), draw(st.integers(2, 7))
    z = draw(hnp.arrays(np.float64, (n, k), elements=st.floats(-1e4, 1e4)))
    raw = draw(hnp.arrays(np.float64, (n, k), elements=st.floats(0, 1)))
    raw[:, 0] += 1e-3                                          # no all-zero row
    y = raw / raw.sum(axis=1, keepdims=True)
    labels = draw(hnp.arrays(np.int64, n, elements=st.integers(0, k - 1)))
    return y, z, labels


@SETTINGS
@given(problem=cce_problem())
def test_cce_fast_equals_reference_per_row(problem):
    y, z, labels = problem
    _close(acc.cce_with_logits_fast(y, z, reduction="none"),
           cce_ch.cce_with_logits(y, z, reduction="none"), 2 * LOSS_ULP)
    _close(acc.sparse_cce_with_logits_fast(labels, z, reduction="none"),
           cce_ch.sparse_cce_with_logits(labels, z, reduction="none"), 2 * LOSS_ULP)


@SETTINGS
@given(problem=cce_problem(), shift=st.integers(-10**6, 10**6), data=st.data())
def test_cce_fast_is_shift_invariant(problem, shift, data):
    """Adding the same number to every logit of a row changes nothing (integers: exact shift)."""
    y, _, labels = problem
    z = data.draw(hnp.arrays(np.float64, y.shape, elements=st.integers(-60, 60).map(float)))
    _close(acc.cce_with_logits_fast(y, z + shift, reduction="none"),
           acc.cce_with_logits_fast(y, z, reduction="none"), 2 * LOSS_ULP)
    _close(acc.sparse_cce_with_logits_fast(labels, z + shift, reduction="none"),
           acc.sparse_cce_with_logits_fast(labels, z, reduction="none"), 2 * LOSS_ULP)


@SETTINGS
@given(problem=cce_problem(), seed=st.integers(0, 2**32 - 1))
def test_cce_fast_class_permutation_invariant(problem, seed):
    y, z, labels = problem
    order = np.random.default_rng(seed).permutation(z.shape[1])
    inverse = np.argsort(order)
    _close(acc.cce_with_logits_fast(y[:, order], z[:, order], reduction="none"),
           acc.cce_with_logits_fast(y, z, reduction="none"), 2 * LOSS_ULP)
    _close(acc.sparse_cce_with_logits_fast(inverse[labels], z[:, order], reduction="none"),
           acc.sparse_cce_with_logits_fast(labels, z, reduction="none"), 2 * LOSS_ULP)


def test_module_has_no_stray_state():
    """The benchmark changes BLOCK_BYTES temporarily; the default is what the chapter says."""
    assert acc.BLOCK_BYTES == 1 << 19
    assert math.isclose(acc.BLOCK_BYTES / 8, 65536)
