"""Tests for the chapter "Calibration and proper scoring rules": reliability_curve,
expected_calibration_error, brier_score and fit_temperature.

The functions are loaded from the chapter's export cells. The oracles are written here from the
definitions: plain Python loops over samples and bins (ECE, reliability curve, Brier score),
scikit-learn's `brier_score_loss`, exact fractions for a hand-made table, a log-sum-exp NLL
minimised by `scipy.optimize.minimize_scalar`, and synthetic data with a known temperature.

Tolerances (stated here, derived where they are not exact):
  reliability curve, ECE, Brier vs loops  relative 1e-12 (float64), 1e-5 (float32)
  perfectly calibrated data, N = 200,000  ECE < 0.01 (the noise bias is about 0.003)
  fit_temperature vs minimize_scalar      relative 1e-6 (the bounded search's xatol is 1e-10)
  recovered temperature                   |1/T_fit - 1/T_true| <= 4 standard errors of the
                                          maximum-likelihood beta = 1/T (Fisher information)
"""
import math
from fractions import Fraction

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp, softmax

from bookfunctions import load_chapter

ch = load_chapter("calibration")


# ----------------------------------------------------------------------------- loop oracles
def confidence_and_hit(label, row):
    """Binary (row is a number): (p, label == 1). Rows: (max, first argmax == label)."""
    if np.ndim(row) == 0:
        return float(row), float(label == 1)
    top = 0
    for k in range(1, len(row)):
        if row[k] > row[top]:
            top = k
    return float(row[top]), float(top == label)


def loop_reliability(y, prob, n_bins):
    """Per-bin mean confidence, hit rate and count, one sample at a time."""
    conf_sum, hit_sum, count = [0.0] * n_bins, [0.0] * n_bins, [0] * n_bins
    for label, row in zip(y, prob):
        c, h = confidence_and_hit(label, row)
        for b in range(n_bins):
            lower, upper = b / n_bins, (b + 1) / n_bins
            if lower <= c and (c < upper or b == n_bins - 1):
                conf_sum[b] += c
                hit_sum[b] += h
                count[b] += 1
                break
    conf = [s / n if n else math.nan for s, n in zip(conf_sum, count)]
    acc = [s / n if n else math.nan for s, n in zip(hit_sum, count)]
    return np.array(conf), np.array(acc), np.array(count)


def loop_ece(y, prob, n_bins):
    conf, acc, count = loop_reliability(y, prob, n_bins)
    total = sum(count)
    return math.fsum(n / total * abs(a - c) for c, a, n in zip(conf, acc, count) if n)


def loop_brier(y, prob):
    terms = []
    for label, row in zip(y, prob):
        if np.ndim(row) == 0:
            terms.append((float(row) - label) ** 2)
        else:
            terms.append(math.fsum((float(p) - (k == label)) ** 2 for k, p in enumerate(row)))
    return math.fsum(terms) / len(terms)


def random_problem(seed, n=400, k=4):
    """Binary probabilities and multiclass rows with labels, plus values on bin edges."""
    rng = np.random.default_rng(seed)
    p_bin = rng.uniform(0, 1, n)
    p_bin[:21] = np.arange(21) / 20                 # exactly on the edges of 20 (and 10) bins
    y_bin = (rng.uniform(0, 1, n) < p_bin).astype(int)
    rows = rng.dirichlet(np.full(k, 0.7), size=n)
    y_rows = rng.integers(0, k, n)
    return (y_bin, p_bin), (y_rows, rows)


# ----------------------------------------------------------------------------- ECE, curve
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n_bins", [1, 3, 10, 20, 37])
def test_reliability_curve_and_ece_match_loops(seed, n_bins):
    for y, prob in random_problem(seed):
        conf, acc, count = ch.reliability_curve(y, prob, n_bins)
        conf_ref, acc_ref, count_ref = loop_reliability(y, prob, n_bins)
        np.testing.assert_array_equal(count, count_ref)
        np.testing.assert_allclose(conf, conf_ref, rtol=1e-12, equal_nan=True)
        np.testing.assert_allclose(acc, acc_ref, rtol=1e-12, equal_nan=True)
        ece = ch.expected_calibration_error(y, prob, n_bins)
        assert ece == pytest.approx(loop_ece(y, prob, n_bins), rel=1e-12, abs=1e-15)


def test_float32_keeps_dtype_and_matches_loops():
    (y, p), (y_rows, rows) = random_problem(5)
    for labels, prob in ((y, p.astype(np.float32)), (y_rows, rows.astype(np.float32))):
        conf, acc, _ = ch.reliability_curve(labels, prob)
        ece = ch.expected_calibration_error(labels, prob)
        brier = ch.brier_score(labels, prob)
        assert conf.dtype == acc.dtype == np.float32
        assert np.asarray(ece).dtype == np.asarray(brier).dtype == np.float32
        assert float(ece) == pytest.approx(loop_ece(labels, prob, 10), rel=1e-5)
        assert float(brier) == pytest.approx(loop_brier(labels, prob), rel=1e-5)


def test_ece_of_the_hand_table_is_9_over_160():
    p = [Fraction(1, 10), Fraction(2, 10), Fraction(3, 10), Fraction(6, 10), Fraction(7, 10),
         Fraction(8, 10), Fraction(9, 10), Fraction(95, 100)]
    y = [0, 0, 1, 1, 0, 1, 1, 1]
    half = Fraction(1, 2)
    bins = [[i for i in range(8) if p[i] < half], [i for i in range(8) if p[i] >= half]]
    exact = sum(Fraction(len(b), 8) * abs(sum(Fraction(y[i]) for i in b) / len(b)
                                          - sum(p[i] for i in b) / len(b)) for b in bins)
    assert exact == Fraction(9, 160)
    ece = ch.expected_calibration_error(y, [float(v) for v in p], n_bins=2)
    assert float(ece) == pytest.approx(float(exact), rel=1e-14)


def test_perfectly_calibrated_data_have_small_ece():
    rng = np.random.default_rng(11)
    p = rng.uniform(0, 1, 200_000)
    y = (rng.uniform(0, 1, p.size) < p).astype(int)
    assert ch.expected_calibration_error(y, p) < 0.01
    # multiclass: labels drawn from the rows themselves make the top label calibrated too
    rows = rng.dirichlet(np.ones(3), size=200_000)
    labels = (rows.cumsum(axis=1) < rng.uniform(0, 1, (len(rows), 1))).sum(axis=1)
    assert ch.expected_calibration_error(np.minimum(labels, 2), rows) < 0.01


def test_extreme_cases():
    y = np.array([0, 1, 1, 0])
    assert ch.expected_calibration_error(y, y.astype(float)) == 0        # certain and right
    assert ch.expected_calibration_error(y, 1.0 - y) == 1                # certain and wrong
    conf, acc, count = ch.reliability_curve(y, [0.0, 1.0, 1.0, 0.0], n_bins=4)
    assert list(count) == [2, 0, 0, 2]                                   # 1 is in the last bin
    assert np.isnan(conf[1]) and np.isnan(acc[2])
    # top-label ties go to the first class
    _, acc, count = ch.reliability_curve([1], [[0.5, 0.5]], n_bins=2)
    assert count[1] == 1 and acc[1] == 0


def test_ece_weights_bins_by_count():
    """The bug of the chapter's exercise: averaging bins without weights gives another number."""
    y = np.array([1] * 99 + [0])
    p = np.array([0.95] * 99 + [0.55])
    ece = ch.expected_calibration_error(y, p)
    assert ece == pytest.approx(0.99 * 0.05 + 0.01 * 0.55, rel=1e-12)
    assert abs(ece - (0.05 + 0.55) / 2) > 0.2


# ----------------------------------------------------------------------------- Brier
def test_brier_matches_sklearn_and_loop():
    from sklearn.metrics import brier_score_loss
    (y, p), (y_rows, rows) = random_problem(3)
    assert ch.brier_score(y, p) == pytest.approx(brier_score_loss(y, p), rel=1e-12)
    assert ch.brier_score(y, p) == pytest.approx(loop_brier(y, p), rel=1e-12)
    assert ch.brier_score(y_rows, rows) == pytest.approx(loop_brier(y_rows, rows), rel=1e-12)
    # scikit-learn >= 1.7: K > 2 columns are summed over classes by default, like brier_score
    assert ch.brier_score(y_rows, rows) == pytest.approx(
        brier_score_loss(y_rows, rows, labels=np.arange(rows.shape[1])), rel=1e-12)
    two_columns = np.stack([1 - p, p], axis=1)
    assert ch.brier_score(y, two_columns) == pytest.approx(2 * ch.brier_score(y, p), rel=1e-12)


# ----------------------------------------------------------------------------- properness
@pytest.mark.parametrize("q_index", [1, 100, 300, 500, 770, 999])
def test_log_loss_and_brier_are_minimised_at_q_on_a_grid(q_index):
    grid = np.arange(1, 1000) / 1000
    q = q_index / 1000
    log_loss = -q * np.log(grid) - (1 - q) * np.log1p(-grid)
    brier = [q * ch.brier_score([1], [p]) + (1 - q) * ch.brier_score([0], [p]) for p in grid]
    absolute = q * (1 - grid) + (1 - q) * grid
    assert grid[np.argmin(log_loss)] == q
    assert grid[np.argmin(brier)] == q
    if q != 0.5:                                         # at q = 1/2 it is flat
        assert grid[np.argmin(absolute)] == (grid[0] if q < 0.5 else grid[-1])  # improper


def test_multiclass_brier_and_log_loss_are_minimised_at_q():
    rng = np.random.default_rng(4)
    q = np.array([0.5, 0.25, 0.15, 0.1])
    expected_brier = lambda p: sum(q[k] * ch.brier_score([k], [p]) for k in range(4))
    expected_log = lambda p: -np.sum(q * np.log(p))
    for p in rng.dirichlet(np.ones(4), size=300):
        assert expected_brier(p) > expected_brier(q)
        assert expected_log(p) > expected_log(q)
        # Brier's expectation is sum_k (p_k - q_k)^2 + 1 - sum_k q_k^2 (chapter exercise)
        assert expected_brier(p) == pytest.approx(np.sum((p - q) ** 2) + 1 - np.sum(q**2))


# ----------------------------------------------------------------------------- temperature
def nll(logits, labels, T):
    """Mean NLL of softmax(logits / T), written with scipy's logsumexp."""
    z = logits / T
    return np.mean(logsumexp(z, axis=1) - z[np.arange(len(labels)), labels])


def sample_labels(logits, T, rng):
    """One label per row, drawn from softmax(logits / T) by inverse transform."""
    cdf = np.cumsum(softmax(logits / T, axis=1), axis=1)
    u = rng.uniform(0, 1, (len(logits), 1))
    return np.minimum((cdf < u).sum(axis=1), logits.shape[1] - 1)


@pytest.mark.parametrize("T_true, k, seed", [(2.0, 5, 0), (0.5, 3, 1), (1.3, 10, 2)])
def test_fit_temperature_recovers_a_known_temperature(T_true, k, seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (50_000, k))
    labels = sample_labels(logits, T_true, rng)
    T_fit = ch.fit_temperature(logits, labels)
    p = softmax(logits / T_true, axis=1)
    variance = np.sum(p * logits**2, axis=1) - np.sum(p * logits, axis=1) ** 2
    standard_error = 1 / math.sqrt(np.sum(variance))    # of beta = 1/T, from Fisher information
    assert abs(1 / T_fit - 1 / T_true) <= 4 * standard_error


def test_fit_temperature_binary_logits_recover_temperature():
    rng = np.random.default_rng(7)
    z = rng.normal(0, 2, 50_000)
    T_true = 0.7
    y = (rng.uniform(0, 1, z.size) < 1 / (1 + np.exp(-z / T_true))).astype(int)
    rows = np.stack([np.zeros_like(z), z], axis=1)
    T_fit = ch.fit_temperature(z, y)
    assert T_fit == pytest.approx(ch.fit_temperature(rows, y), rel=1e-9)
    p = 1 / (1 + np.exp(-z / T_true))
    standard_error = 1 / math.sqrt(np.sum(p * (1 - p) * z**2))
    assert abs(1 / T_fit - 1 / T_true) <= 4 * standard_error


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fit_temperature_minimises_the_nll(seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 4, (2000, 6))
    labels = sample_labels(logits, rng.uniform(0.5, 3), rng)
    T_fit = ch.fit_temperature(logits, labels)
    ref = minimize_scalar(lambda s: nll(logits, labels, np.exp(s)), bounds=(-5, 5),
                          method="bounded", options={"xatol": 1e-10})
    assert T_fit == pytest.approx(np.exp(ref.x), rel=1e-6)
    h = 1e-5 * T_fit                                      # the slope vanishes at the minimum
    slope = (nll(logits, labels, T_fit + h) - nll(logits, labels, T_fit - h)) / (2 * h)
    assert abs(slope) < 1e-7
    # scaling all logits by c scales the temperature by c
    assert ch.fit_temperature(3.0 * logits, labels) == pytest.approx(3.0 * T_fit, rel=1e-9)


def test_temperature_keeps_the_predicted_classes():
    rng = np.random.default_rng(8)
    logits = rng.normal(0, 3, (1000, 5))
    labels = sample_labels(logits, 0.4, rng)
    T = ch.fit_temperature(logits, labels)
    assert T < 1                                           # labels sharper than the logits say
    np.testing.assert_array_equal(np.argmax(logits / T, axis=1), np.argmax(logits, axis=1))


# ----------------------------------------------------------------------------- errors
METRIC_ERRORS = {
    "logits as probabilities": ([0, 1], [-2.0, 3.0]),
    "NaN probability": ([0, 1], [np.nan, 0.5]),
    "rows not summing to 1": ([0, 1], [[0.5, 0.6], [0.2, 0.8]]),
    "label out of range": ([0, 2], [0.1, 0.9]),
    "negative label": ([-1, 0], [[0.5, 0.5], [0.5, 0.5]]),
    "fractional label": ([0.5, 1], [0.1, 0.9]),
    "shape mismatch": ([0, 1, 1], [0.1, 0.9]),
    "labels as one-hot rows": ([[1, 0], [0, 1]], [[0.9, 0.1], [0.2, 0.8]]),
    "empty": ([], []),
    "3-D probabilities": ([0], [[[1.0]]]),
    "one column": ([0], [[1.0]]),
    "text": (["a"], [0.5]),
}


@pytest.mark.parametrize("what", list(METRIC_ERRORS))
@pytest.mark.parametrize("function", ["reliability_curve", "expected_calibration_error",
                                      "brier_score"])
def test_metrics_refuse_bad_input(function, what):
    y, prob = METRIC_ERRORS[what]
    with pytest.raises(ValueError):
        getattr(ch, function)(y, prob)


@pytest.mark.parametrize("n_bins", [0, -3, 2.5, True, "10"])
def test_bad_bin_counts(n_bins):
    for function in (ch.reliability_curve, ch.expected_calibration_error):
        with pytest.raises(ValueError, match="n_bins"):
            function([0, 1], [0.2, 0.8], n_bins=n_bins)


TEMPERATURE_ERRORS = {
    "infinite logit": ([np.inf, 1.0], [1, 0]),
    "NaN logit": ([[np.nan, 0.0]], [0]),
    "empty": (np.zeros((0, 3)), []),
    "one class": ([[1.0], [2.0]], [0, 0]),
    "label out of range": ([[1.0, 0.0]], [2]),
    "shape mismatch": ([[1.0, 0.0], [0.0, 1.0]], [0]),
    "every label on top": ([[2.0, 0.0], [0.0, 3.0]], [0, 1]),
    "labels against the logits": ([[2.0, 0.0], [0.0, 3.0]], [1, 0]),
    "constant logits": ([[1.0, 1.0], [2.0, 2.0]], [0, 1]),
}


@pytest.mark.parametrize("what", list(TEMPERATURE_ERRORS))
def test_fit_temperature_refuses_bad_input(what):
    logits, labels = TEMPERATURE_ERRORS[what]
    with pytest.raises(ValueError):
        ch.fit_temperature(logits, labels)
