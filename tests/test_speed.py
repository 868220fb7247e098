"""Tests for the speed chapter (book/chapters/speed.ipynb): its fast variants
`bce_with_logits_fast`, `cce_with_logits_fast` and `sparse_cce_with_logits_fast`.

1. Against the 60-digit mpmath oracle of tests/test_accuracy.py across the float64 range and in
   float32 (the same accuracy as the reference functions), on both routes of the CCE (two
   exponentials, exact two-sum split), at block boundaries.
2. Same meaning as the reference functions of the logits and cce chapters: values, reductions,
   weights, `axis`, `ignore_index` (every target ignored included), dtypes, infinities, errors;
   finite differences of the fast losses against the reference gradients; hypothesis properties.

Bounds: losses per element or per row, and means of non-negative terms, <= LOSS_ULP ULP of the
dtype at the exact value. No timing here: speed is measured by benchmarks/bench.py.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bookfunctions import load_chapter
from oracle import central_difference_gradient, mp, ulp_error
from test_accuracy import (GRID_Y, GRID_Z, ROW_SETS, EDGE_ROWS, exact_bce_logits, exact_cce_row,
                           worst_ulp)

speed = load_chapter("speed")
logits_ch = load_chapter("logits")
cce_ch = load_chapter("cce")

LOSS_ULP = 4.0
SETTINGS = settings(max_examples=150, deadline=None)


# --------------------------------------------------------------------------------------------
# 1. Accuracy against the oracle
# --------------------------------------------------------------------------------------------
def test_bce_with_logits_fast_float64_grid_across_the_range():
    losses = speed.bce_with_logits_fast(GRID_Y, GRID_Z, reduction="none")
    exact = [exact_bce_logits(y, z) for y, z in zip(GRID_Y, GRID_Z)]
    assert worst_ulp(losses, exact) <= LOSS_ULP


def test_bce_with_logits_fast_float32_grid():
    y32 = GRID_Y.astype(np.float32)
    z32 = np.clip(GRID_Z, -3e38, 3e38).astype(np.float32)
    losses = speed.bce_with_logits_fast(y32, z32, reduction="none")
    assert losses.dtype == np.float32
    exact = [exact_bce_logits(y, z) for y, z in zip(y32, z32)]
    assert worst_ulp(losses, exact, np.float32) <= LOSS_ULP


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_with_logits_fast_random_heavy_tailed_and_soft(dtype):
    rng = np.random.default_rng(11)
    z = (rng.standard_cauchy(3000) * 10).astype(dtype)
    y = rng.uniform(0, 1, 3000)
    y[:1000] = np.round(y[:1000])
    y[1000:1500] = 1 - rng.uniform(0, 1e-6, 500)
    y = y.astype(dtype)
    exact = [exact_bce_logits(a, b) for a, b in zip(y, z)]
    assert worst_ulp(speed.bce_with_logits_fast(y, z, reduction="none"), exact, dtype) <= LOSS_ULP


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_with_logits_fast_mean_against_the_oracle(dtype):
    rng = np.random.default_rng(12)
    z, y = (rng.normal(0, 30, 5000)).astype(dtype), rng.uniform(0, 1, 5000).astype(dtype)
    exact = mp.fsum(exact_bce_logits(a, b) for a, b in zip(y, z)) / len(z)
    value = speed.bce_with_logits_fast(y, z)
    assert type(value) is np.dtype(dtype).type
    assert ulp_error(value, exact, dtype) <= LOSS_ULP


def test_confident_rows_keep_their_digits():
    """The chapter's motivating numbers: log1p(e^-40) = 4.25e-18, not 0."""
    exact = mp.log1p(mp.exp(-40))
    assert ulp_error(speed.bce_with_logits_fast([0.0], [-40.0]), exact) <= 1
    assert ulp_error(speed.bce_with_logits_fast([1.0], [40.0]), exact) <= 1
    assert ulp_error(speed.cce_with_logits_fast([[1.0, 0.0]], [[40.0, 0.0]]), exact) <= 1
    assert ulp_error(speed.sparse_cce_with_logits_fast([0], [[40.0, 0.0]]), exact) <= 1
    assert float(speed.bce_with_logits_fast([0.0], [-40.0])) == pytest.approx(4.25e-18, rel=1e-3)


# --------------------------------------------------------------------------------------------
# 2. CCE from logits
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cce_with_logits_fast_rows_hard_and_soft(dtype):
    rng = np.random.default_rng(21)
    worst = 0.0
    for z, labels in ROW_SETS:
        z = np.clip(z, -3e38, 3e38).astype(dtype)
        k = z.shape[1]
        for y in (np.eye(k)[labels], rng.dirichlet(np.full(k, 0.3), len(z))):
            y = y.astype(dtype)
            losses = speed.cce_with_logits_fast(y, z, reduction="none")
            assert losses.dtype == dtype
            worst = max(worst, worst_ulp(losses, [exact_cce_row(a, b) for a, b in zip(y, z)],
                                         dtype))
    assert worst <= LOSS_ULP


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sparse_cce_with_logits_fast_rows(dtype):
    worst = 0.0
    for z, labels in ROW_SETS:
        z = np.clip(z, -3e38, 3e38).astype(dtype)
        losses = speed.sparse_cce_with_logits_fast(labels, z, reduction="none")
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
    direct = speed.sparse_cce_with_logits_fast(labels, z, reduction="none")
    with_huge_row = np.vstack([z, [[1e4, 0, 0, 0, 0]]])                   # forces the split
    split = speed.sparse_cce_with_logits_fast(np.zeros(51, dtype=np.int64), with_huge_row,
                                            reduction="none")[:50]
    assert worst_ulp(direct, exact) <= LOSS_ULP
    assert worst_ulp(split, exact) <= LOSS_ULP
    dense = speed.cce_with_logits_fast(np.eye(5)[np.zeros(51, dtype=int)], with_huge_row,
                                     reduction="none")[:50]
    assert worst_ulp(dense, exact) <= LOSS_ULP


@pytest.mark.parametrize("row", EDGE_ROWS)
def test_cce_fast_edge_rows(row):
    """Rows near the limits of the two-exponential route: subnormal terms, huge logits, ties."""
    z = np.array([row])
    for label in range(3):
        exact = exact_cce_row(np.eye(3)[label], row)
        assert ulp_error(speed.sparse_cce_with_logits_fast([label], z), exact) <= LOSS_ULP
        assert ulp_error(speed.cce_with_logits_fast(np.eye(3)[[label]], z), exact) <= LOSS_ULP


def test_cce_fast_means_against_the_oracle():
    z, labels = ROW_SETS[7]
    y = np.eye(z.shape[1])[labels]
    exact = mp.fsum(exact_cce_row(a, b) for a, b in zip(y, z)) / len(z)
    assert ulp_error(speed.cce_with_logits_fast(y, z), exact) <= LOSS_ULP
    assert ulp_error(speed.sparse_cce_with_logits_fast(labels, z), exact) <= LOSS_ULP


def test_gradients_against_finite_differences_of_the_fast_losses():
    rng = np.random.default_rng(32)
    z, y = rng.uniform(-6, 6, 40), rng.uniform(0, 1, 40)
    fd = central_difference_gradient(lambda v: speed.bce_with_logits_fast(y, v, reduction="sum"), z, 1e-6)
    exact_grad = logits_ch.bce_with_logits_grad(y, z, reduction="sum")
    assert np.max(np.abs(fd - exact_grad)) < 1e-7

    zc = rng.uniform(-5, 5, (6, 4))
    yc = rng.dirichlet(np.ones(4), 6)
    labels = rng.integers(0, 4, 6)
    fd = central_difference_gradient(lambda v: speed.cce_with_logits_fast(yc, v), zc, 1e-6)
    assert np.max(np.abs(fd - cce_ch.cce_with_logits_grad(yc, zc))) < 1e-8
    fd = central_difference_gradient(lambda v: speed.sparse_cce_with_logits_fast(labels, v), zc, 1e-6)
    assert np.max(np.abs(fd - cce_ch.sparse_cce_with_logits_grad(labels, zc))) < 1e-8


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
        fast = speed.bce_with_logits_fast(y, z_use, sample_weight=weights, reduction=reduction)
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
        _close(speed.cce_with_logits_fast(y, z_use, sample_weight=weights, reduction=reduction),
               cce_ch.cce_with_logits(y, z_use, sample_weight=weights, reduction=reduction), 1e3)
        _close(speed.sparse_cce_with_logits_fast(labels, z_use, sample_weight=weights,
                                               reduction=reduction),
               cce_ch.sparse_cce_with_logits(labels, z_use, sample_weight=weights,
                                             reduction=reduction), 1e3)


def test_infinite_logits_give_the_exact_limits_never_nan():
    y = np.array([1.0, 0.0, 0.5, 1.0, 0.0, 0.5])
    z = np.array([np.inf, np.inf, np.inf, -np.inf, -np.inf, -np.inf])
    fast = speed.bce_with_logits_fast(y, z, reduction="none")
    np.testing.assert_array_equal(fast, [0.0, np.inf, np.inf, np.inf, 0.0, np.inf])
    np.testing.assert_array_equal(fast, logits_ch.bce_with_logits(y, z, reduction="none"))
    rows = np.array([[0.0, -np.inf, 1.0], [0.0, -np.inf, 1.0]])
    dense = speed.cce_with_logits_fast([[0.5, 0.0, 0.5], [0.0, 1.0, 0.0]], rows, reduction="none")
    assert np.isfinite(dense[0]) and dense[1] == np.inf
    _close(dense, cce_ch.cce_with_logits([[0.5, 0.0, 0.5], [0.0, 1.0, 0.0]], rows,
                                         reduction="none"))
    sparse = speed.sparse_cce_with_logits_fast([2, 1], rows, reduction="none")
    assert np.isfinite(sparse[0]) and sparse[1] == np.inf


def test_huge_finite_losses_mean_without_overflow():
    z, y = np.array([1e308, -1.7e308]), np.array([0.0, 1.0])
    assert speed.bce_with_logits_fast(y, z) == logits_ch.bce_with_logits(y, z) == 1.35e308
    assert speed.bce_with_logits_fast(y, z, reduction="sum") == np.inf


def test_dtypes_are_kept():
    assert type(speed.bce_with_logits_fast([1, 0], np.float32([2, 3]))) is np.float32
    assert type(speed.bce_with_logits_fast([1, 0], [2, 3])) is np.float64           # int logits
    assert speed.bce_with_logits_fast([1, 0], np.float32([2, 3]), reduction="none").dtype == np.float32
    assert type(speed.cce_with_logits_fast([[1, 0]], np.float32([[2, 3]]))) is np.float32
    assert type(speed.sparse_cce_with_logits_fast([1], np.float32([[2, 3]]))) is np.float32
    assert speed.sparse_cce_with_logits_fast([1], [[2, 3]], reduction="none").dtype == np.float64


@pytest.mark.parametrize("offset", [-1, 0, 1, 3])
def test_block_edges(offset):
    block = speed.BLOCK_BYTES // 8
    n = 2 * block + offset
    rng = np.random.default_rng(43)
    z, y = rng.normal(0, 8, n), rng.uniform(0, 1, n)
    y[-1], z[-1] = 0.0, 50.0                            # a large loss in the very last element
    _close(speed.bce_with_logits_fast(y, z), logits_ch.bce_with_logits(y, z), 64)
    _close(speed.bce_with_logits_fast(y, z, reduction="none"),
           logits_ch.bce_with_logits(y, z, reduction="none"))
    k = 100
    rows = 2 * (speed.BLOCK_BYTES // (8 * k)) + offset
    zc, labels = rng.normal(0, 3, (rows, k)), rng.integers(0, k, rows)
    _close(speed.sparse_cce_with_logits_fast(labels, zc, reduction="none"),
           cce_ch.sparse_cce_with_logits(labels, zc, reduction="none"))
    _close(speed.cce_with_logits_fast(np.eye(k)[labels], zc), cce_ch.cce_with_logits(np.eye(k)[labels], zc), 64)


def test_nan_is_found_in_any_block():
    z = np.zeros(3 * speed.BLOCK_BYTES // 8)
    z[-2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        speed.bce_with_logits_fast(np.zeros_like(z), z)
    zc = np.zeros((3 * speed.BLOCK_BYTES // 80, 10))
    zc[-1, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        speed.sparse_cce_with_logits_fast(np.zeros(len(zc), dtype=int), zc)


LAYOUT_CASES = [(axis, ignore_index) for axis in (1, -3) for ignore_index in (None, -100, 255)]


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("axis, ignore_index", LAYOUT_CASES)
def test_cce_fast_layouts_and_ignore_index_match_the_reference(reduction, axis, ignore_index):
    """(N, K, d1, d2) with classes on axis 1 (PyTorch's layout), ignored targets, weights of the
    loss shape and per sample (aligned from the left), against the cce chapter's functions."""
    rng = np.random.default_rng(44)
    n, k, d1, d2 = 5, 4, 3, 2
    z = rng.normal(0, 5, (n, k, d1, d2))
    labels = rng.integers(0, k, (n, d1, d2))
    y = np.moveaxis(np.eye(k)[labels], -1, 1)                       # one-hot, classes on axis 1
    if ignore_index is not None:
        labels[rng.random(labels.shape) < 0.3] = ignore_index
        labels[0, 0, 0] = ignore_index
        z[0, :, 0, 0] = [-np.inf, 0.0, 1.0, 2.0]                   # an ignored row with -inf ...
    for weights in (None, rng.uniform(0, 2, (n, d1, d2)), rng.uniform(0.5, 2, n), 2.0):
        keywords = {"sample_weight": weights, "reduction": reduction, "axis": axis}
        fast = speed.sparse_cce_with_logits_fast(labels, z, ignore_index=ignore_index, **keywords)
        ref = cce_ch.sparse_cce_with_logits(labels, z, ignore_index=ignore_index, **keywords)
        assert not np.isnan(fast).any()                             # ... never becomes NaN
        _close(fast, ref, 1e3)
        if reduction == "none":
            assert np.shape(fast) == (n, d1, d2)
        z_finite = np.where(np.isinf(z), 0.0, z)
        _close(speed.cce_with_logits_fast(y, z_finite, **keywords),
               cce_ch.cce_with_logits(y, z_finite, **keywords), 1e3)


def test_ignored_targets_need_not_be_class_indices_and_count_zero():
    z = np.array([[0.0, 1.0], [2.0, -1.0], [0.5, 0.5]])
    for ignore in (-100, 255, 7):
        labels = np.array([1, ignore, 0])
        per_row = speed.sparse_cce_with_logits_fast(labels, z, ignore_index=ignore,
                                                    reduction="none")
        assert per_row[1] == 0
        kept = cce_ch.sparse_cce_with_logits([1, 0], z[[0, 2]], reduction="none")
        _close(per_row[[0, 2]], kept)
        _close(speed.sparse_cce_with_logits_fast(labels, z, ignore_index=ignore), kept.mean())
        _close(speed.sparse_cce_with_logits_fast(labels, z, ignore_index=ignore,
                                                 sample_weight=[1.0, 5.0, 3.0]),
               (kept[0] + 3 * kept[1]) / 4)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_every_target_ignored(dtype):
    z = np.zeros((3, 4), dtype)
    labels = np.full(3, -100)
    with pytest.raises(ValueError, match="every target equals ignore_index") as fast_error:
        speed.sparse_cce_with_logits_fast(labels, z, ignore_index=-100)
    with pytest.raises(ValueError) as ref_error:
        cce_ch.sparse_cce_with_logits(labels, z, ignore_index=-100)
    assert str(fast_error.value) == str(ref_error.value)            # the same text
    total = speed.sparse_cce_with_logits_fast(labels, z, ignore_index=-100, reduction="sum")
    assert total == 0 and type(total) is np.dtype(dtype).type
    none = speed.sparse_cce_with_logits_fast(labels, z, ignore_index=-100, reduction="none")
    assert none.dtype == dtype and (none == 0).all()
    with pytest.raises(ValueError, match="over the targets not ignored") as fast_error:
        speed.sparse_cce_with_logits_fast([0, -100, 1], z, ignore_index=-100,
                                          sample_weight=[0.0, 1.0, 0.0])
    with pytest.raises(ValueError) as ref_error:
        cce_ch.sparse_cce_with_logits([0, -100, 1], z, ignore_index=-100,
                                      sample_weight=[0.0, 1.0, 0.0])
    assert str(fast_error.value) == str(ref_error.value)


def test_default_layout_is_a_view_and_axis_is_equivalent_to_moving_the_classes():
    rng = np.random.default_rng(45)
    z = rng.normal(0, 3, (6, 5, 4))
    labels = rng.integers(0, 5, (6, 4))
    moved = np.ascontiguousarray(np.moveaxis(z, 1, -1))
    _close(speed.sparse_cce_with_logits_fast(labels, z, axis=1, reduction="none"),
           speed.sparse_cce_with_logits_fast(labels, moved, reduction="none"))


BAD_INPUTS = {
    "bce shape mismatch": lambda: speed.bce_with_logits_fast([1, 0, 1], [[0.2], [0.4], [0.9]]),
    "bce NaN logit": lambda: speed.bce_with_logits_fast([1, 0], [0.5, np.nan]),
    "bce NaN label": lambda: speed.bce_with_logits_fast([np.nan, 0], [0.5, 0.1]),
    "bce label > 1": lambda: speed.bce_with_logits_fast([2, 0], [0.5, 0.1]),
    "bce label < 0": lambda: speed.bce_with_logits_fast([-0.5, 0], [0.5, 0.1]),
    "bce label above 1 before rounding to float32":
        lambda: speed.bce_with_logits_fast([1 + 1e-12], np.float32([0.5])),
    "bce empty": lambda: speed.bce_with_logits_fast([], []),
    "bce text": lambda: speed.bce_with_logits_fast(["a", "b"], [0.5, 0.1]),
    "bce ragged": lambda: speed.bce_with_logits_fast([[1, 0], [1]], [[0.5, 0.1], [0.2]]),
    "bce reduction": lambda: speed.bce_with_logits_fast([1], [0.5], reduction="avg"),
    "bce negative weight": lambda: speed.bce_with_logits_fast([1, 0], [0.5, 0.1], sample_weight=[1, -1]),
    "bce NaN weight": lambda: speed.bce_with_logits_fast([1, 0], [0.5, 0.1], sample_weight=[1, np.nan]),
    "bce weight shape": lambda: speed.bce_with_logits_fast([1, 0], [0.5, 0.1], sample_weight=[1, 2, 3]),
    "bce zero weights, mean": lambda: speed.bce_with_logits_fast([1, 0], [0.5, 0.1], sample_weight=[0, 0]),
    "cce shape mismatch": lambda: speed.cce_with_logits_fast([[1, 0]], [[0.5, 0.1, 0.2]]),
    "cce not 2-D": lambda: speed.cce_with_logits_fast([1, 0], [0.5, 0.1]),
    "cce row sum": lambda: speed.cce_with_logits_fast([[0.5, 0.4]], [[0.5, 0.1]]),
    "cce label > 1": lambda: speed.cce_with_logits_fast([[2.0, -1.0]], [[0.5, 0.1]]),
    "cce +inf": lambda: speed.cce_with_logits_fast([[1, 0]], [[np.inf, 0.1]]),
    "cce row of -inf": lambda: speed.cce_with_logits_fast([[1, 0]], [[-np.inf, -np.inf]]),
    "cce NaN": lambda: speed.cce_with_logits_fast([[1, 0]], [[np.nan, 0.1]]),
    "cce empty": lambda: speed.cce_with_logits_fast(np.zeros((0, 3)), np.zeros((0, 3))),
    "cce weight shape": lambda: speed.cce_with_logits_fast([[1, 0]], [[0.5, 0.1]], sample_weight=[1, 2]),
    "cce zero weights": lambda: speed.cce_with_logits_fast([[1, 0]], [[0.5, 0.1]], sample_weight=[0]),
    "sparse float labels": lambda: speed.sparse_cce_with_logits_fast([1.0], [[0.5, 0.1]]),
    "sparse label range": lambda: speed.sparse_cce_with_logits_fast([2], [[0.5, 0.1]]),
    "sparse negative label": lambda: speed.sparse_cce_with_logits_fast([-1], [[0.5, 0.1]]),
    "sparse label shape": lambda: speed.sparse_cce_with_logits_fast([0, 1], [[0.5, 0.1]]),
    "sparse +inf": lambda: speed.sparse_cce_with_logits_fast([0], [[np.inf, 0.1]]),
    "sparse reduction": lambda: speed.sparse_cce_with_logits_fast([0], [[0.5, 0.1]], reduction=None),
}


LAYOUT_BAD = {  # case: (keywords, labels, logits), refused by the fast variant and the reference
    "axis not an integer": ({"axis": 1.0}, [0], [[0.5, 0.1]]),
    "axis a bool": ({"axis": True}, [0], [[0.5, 0.1]]),
    "axis out of range": ({"axis": 2}, [0], [[0.5, 0.1]]),
    "labels shape for the axis": ({"axis": -1}, np.zeros((2, 3), dtype=int), np.zeros((2, 4, 3))),
    "ignore_index a float": ({"ignore_index": -100.0}, [0], [[0.5, 0.1]]),
    "ignore_index a bool": ({"ignore_index": False}, [0], [[0.5, 0.1]]),
    "label neither a class nor ignore_index": ({"ignore_index": -100}, [-1, -100],
                                               [[0.5, 0.1], [0.2, 0.3]]),
    "NaN in an ignored row": ({"ignore_index": -100}, [-100, 0], [[np.nan, 0.1], [0.2, 0.3]]),
    "every target ignored, mean": ({"ignore_index": -100}, [-100], [[0.5, 0.1]]),
    "weights of the wrong shape": ({"axis": 1, "sample_weight": [1.0, 2.0, 3.0]},
                                   np.zeros((2, 3), dtype=int), np.zeros((2, 4, 3))),
    "weights zero on every kept target": ({"ignore_index": -100, "sample_weight": [0.0, 1.0]},
                                          [0, -100], [[0.5, 0.1], [0.2, 0.3]]),
}


@pytest.mark.parametrize("case", LAYOUT_BAD)
def test_fast_and_reference_refuse_the_same_layout_inputs(case):
    keywords, labels, logits = LAYOUT_BAD[case]
    for function in (speed.sparse_cce_with_logits_fast, cce_ch.sparse_cce_with_logits):
        with pytest.raises(ValueError):
            function(labels, logits, **keywords)


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
    fast = speed.bce_with_logits_fast(y, z, reduction="none")
    assert not np.isnan(fast).any()
    _close(fast, logits_ch.bce_with_logits(y, z, reduction="none"))


@SETTINGS
@given(data=st.data())
def test_bce_fast_mean_equals_reference(data):
    n = data.draw(st.integers(1, 60))
    z = data.draw(hnp.arrays(np.float64, n, elements=st.floats(-1e4, 1e4)))
    y = data.draw(hnp.arrays(np.float64, n, elements=unit))
    _close(speed.bce_with_logits_fast(y, z), logits_ch.bce_with_logits(y, z), 64)


@SETTINGS
@given(y=st.sampled_from([0.0, 0.125, 0.25, 0.5, 0.75, 1.0]), z=finite_logits)
def test_bce_symmetry(y, z):
    """Swapping the classes (y -> 1 - y, z -> -z) does not change the loss."""
    _close(speed.bce_with_logits_fast([y], [z]), speed.bce_with_logits_fast([1 - y], [-z]), 2)


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
    _close(speed.cce_with_logits_fast(y, z, reduction="none"),
           cce_ch.cce_with_logits(y, z, reduction="none"), 2 * LOSS_ULP)
    _close(speed.sparse_cce_with_logits_fast(labels, z, reduction="none"),
           cce_ch.sparse_cce_with_logits(labels, z, reduction="none"), 2 * LOSS_ULP)


@SETTINGS
@given(problem=cce_problem(), shift=st.integers(-10**6, 10**6), data=st.data())
def test_cce_fast_is_shift_invariant(problem, shift, data):
    """Adding the same number to every logit of a row changes nothing (integers: exact shift)."""
    y, _, labels = problem
    z = data.draw(hnp.arrays(np.float64, y.shape, elements=st.integers(-60, 60).map(float)))
    _close(speed.cce_with_logits_fast(y, z + shift, reduction="none"),
           speed.cce_with_logits_fast(y, z, reduction="none"), 2 * LOSS_ULP)
    _close(speed.sparse_cce_with_logits_fast(labels, z + shift, reduction="none"),
           speed.sparse_cce_with_logits_fast(labels, z, reduction="none"), 2 * LOSS_ULP)


@SETTINGS
@given(problem=cce_problem(), seed=st.integers(0, 2**32 - 1))
def test_cce_fast_class_permutation_invariant(problem, seed):
    y, z, labels = problem
    order = np.random.default_rng(seed).permutation(z.shape[1])
    inverse = np.argsort(order)
    _close(speed.cce_with_logits_fast(y[:, order], z[:, order], reduction="none"),
           speed.cce_with_logits_fast(y, z, reduction="none"), 2 * LOSS_ULP)
    _close(speed.sparse_cce_with_logits_fast(inverse[labels], z[:, order], reduction="none"),
           speed.sparse_cce_with_logits_fast(labels, z, reduction="none"), 2 * LOSS_ULP)


def test_module_has_no_stray_state():
    """The benchmark changes BLOCK_BYTES temporarily; the default is what the chapter says."""
    assert speed.BLOCK_BYTES == 1 << 19
    assert math.isclose(speed.BLOCK_BYTES / 8, 65536)
