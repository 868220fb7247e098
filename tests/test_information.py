"""Tests for the information chapter: `entropy`, `cross_entropy`, `kl_divergence`.

The functions are loaded from the `export` cells of book/chapters/information.ipynb. The oracle is
mpmath with 60 digits (tests/oracle.py), applied to the exact values of the floats passed in.

Accuracy bounds asserted here (measured maxima are about half of them):
- entropy and cross_entropy: at most 4 ULP of the exact value, in float64 and in float32, for
  K <= 12 classes, across the whole float range (probabilities from 1e-300 and subnormals up to 1).
  Their terms -q log p are all >= 0, so the sum cannot cancel.
- kl_divergence: |error| <= 4 eps * sum_k |q_k log(q_k / p_k)| (the terms have both signs; this
  is the conditioning of their sum), and at most 8 ULP when there is little cancellation
  (sum_k |term_k| <= 3 KL).
- maximum likelihood (the chapter's conditional model): the mean of the per-sample cross-entropies
  is the mpmath mean negative log-likelihood within 8 ULP, and so is H(q_hat, p) for a constant p.
"""
import inspect
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bookfunctions import load_chapter
from oracle import mp, mpf, ulp_error

ch = load_chapter("information")
entropy, cross_entropy, kl_divergence = ch.entropy, ch.cross_entropy, ch.kl_divergence

ULP_H = 4          # entropy, cross_entropy
ULP_KL = 8         # kl_divergence without heavy cancellation
COND_KL = 4        # kl_divergence: |error| <= COND_KL * eps * sum |terms|
EPS = {np.float64: float(np.finfo(np.float64).eps), np.float32: float(np.finfo(np.float32).eps)}
SETTINGS = settings(max_examples=200, deadline=None)


# ---------------------------------------------------------------- the oracle (60 digits)

def exact_entropy(q):
    return -mp.fsum(mpf(a) * mp.log(mpf(a)) for a in np.ravel(q) if a > 0)


def exact_cross_entropy(q, p):
    pairs = [(mpf(a), mpf(b)) for a, b in zip(np.ravel(q), np.ravel(p)) if a > 0]
    if any(b == 0 for _, b in pairs):
        return mp.inf
    return -mp.fsum(a * mp.log(b) for a, b in pairs)


def exact_kl_terms(q, p):
    """The exact terms q_k (log q_k - log p_k) for q_k > 0 (None if some term is infinite)."""
    pairs = [(mpf(a), mpf(b)) for a, b in zip(np.ravel(q), np.ravel(p)) if a > 0]
    if any(b == 0 for _, b in pairs):
        return None
    return [a * (mp.log(a) - mp.log(b)) for a, b in pairs]


# ---------------------------------------------------------------- inputs across the float range

def random_distribution(rng, k, dtype, mode):
    """A distribution of k classes in dtype (normalised in float64, then rounded)."""
    smallest_exponent = 300 if dtype == np.float64 else 35
    if mode == "uniform":
        a = rng.random(k)
    elif mode == "log-uniform":        # probabilities spread down to 1e-300 (1e-35 in float32)
        a = 10.0 ** -rng.uniform(0, smallest_exponent, k)
    elif mode == "near-degenerate":    # one class holds almost everything
        a = 10.0 ** -rng.uniform(5, smallest_exponent, k)
        a[rng.integers(k)] = 1.0
    else:                              # with exact zeros
        a = rng.random(k)
        a[rng.random(k) < 0.3] = 0.0
        a[rng.integers(k)] = 0.5
    return (a / a.sum()).astype(dtype)


def random_cases(dtype, n=400, seed=0):
    rng = np.random.default_rng(seed)
    modes = ["uniform", "log-uniform", "near-degenerate", "zeros"]
    cases = []
    for index in range(n):
        k = int(rng.integers(2, 13))
        q = random_distribution(rng, k, dtype, modes[index % 4])
        if index % 3 == 0:             # p close to q: the hard case for KL
            p = q.astype(np.float64) * (1 + rng.uniform(-1e-3, 1e-3, k) * 10.0 ** -rng.integers(0, 8))
            p = (p / p.sum()).astype(dtype)
        else:
            p = random_distribution(rng, k, dtype, modes[(index // 4) % 4])
        cases.append((q, p))
    return cases


EXPLICIT_CASES = [                     # (q, p) in float64: tiny, subnormal, near-degenerate
    ([1e-300, 1.0], [1e-300, 1.0]),
    ([1e-300, 1.0], [0.5, 0.5]),
    ([0.5, 0.5], [1e-300, 1.0]),
    ([0.5, 0.5], [5e-324, 1.0]),
    ([5e-324, 1.0], [0.5, 0.5]),
    ([1e-310, 1.0], [1e-300, 1.0]),
    ([1 - 1e-15, 1e-15], [1 - 2e-15, 2e-15]),
    ([1 - 2.0**-52, 2.0**-53, 2.0**-53], [1 - 2.0**-50, 2.0**-51, 2.0**-51]),
    ([0.25, 0.25, 0.25, 0.25], [0.25, 0.25, 0.25, 0.25]),
    ([0.7, 0.2, 0.1, 0.0], [0.1, 0.2, 0.3, 0.4]),
    ([1e-200, 1e-250, 1e-300, 1.0], [1e-300, 1e-250, 1e-200, 1.0]),
    ([0.5, 0.5], [0.5 + 2.0**-30, 0.5 - 2.0**-30]),
]


def kl_error_in_condition_units(computed, terms, dtype):
    """|computed - exact KL| / (eps * sum |exact terms|)."""
    exact, scale = mp.fsum(terms), mp.fsum(abs(t) for t in terms)
    if scale == 0:
        return 0.0 if float(computed) == 0 else math.inf
    return float(abs(mpf(computed) - exact) / (scale * EPS[dtype]))


# ---------------------------------------------------------------- accuracy against the oracle

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_entropy_and_cross_entropy_within_ulp_bound(dtype):
    cases = random_cases(dtype) + ([(np.array(q), np.array(p)) for q, p in EXPLICIT_CASES]
                                   if dtype == np.float64 else [])
    worst_h = worst_ce = 0.0
    for q, p in cases:
        worst_h = max(worst_h, ulp_error(entropy(q), exact_entropy(q), dtype))
        worst_ce = max(worst_ce, ulp_error(cross_entropy(q, p), exact_cross_entropy(q, p), dtype))
    assert worst_h <= ULP_H, f"entropy off by {worst_h:.2f} ULP"
    assert worst_ce <= ULP_H, f"cross_entropy off by {worst_ce:.2f} ULP"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kl_divergence_within_bounds(dtype):
    cases = random_cases(dtype, seed=1) + ([(np.array(q), np.array(p)) for q, p in EXPLICIT_CASES]
                                           if dtype == np.float64 else [])
    worst_cond = worst_ulp = 0.0
    checked_well_conditioned = 0
    for q, p in cases:
        terms = exact_kl_terms(q, p)
        computed = kl_divergence(q, p)
        if terms is None:
            assert computed == np.inf
            continue
        worst_cond = max(worst_cond, kl_error_in_condition_units(computed, terms, dtype))
        exact, scale = mp.fsum(terms), mp.fsum(abs(t) for t in terms)
        if exact > 0 and scale <= 3 * exact:
            checked_well_conditioned += 1
            worst_ulp = max(worst_ulp, ulp_error(computed, exact, dtype))
    assert worst_cond <= COND_KL, f"KL error {worst_cond:.2f} eps * sum|terms|"
    assert worst_ulp <= ULP_KL, f"KL off by {worst_ulp:.2f} ULP where it does not cancel"
    assert checked_well_conditioned > 100


def test_tiny_probabilities_explicitly():
    # q = (1e-300, 1), p = (0.5, 0.5): KL = 1e-300 log(2e-300) + log 2, H = -1e-300 log(1e-300)
    q, p = [1e-300, 1.0], [0.5, 0.5]
    assert ulp_error(entropy(q), exact_entropy(q)) <= 1
    assert entropy(q) > 0                         # 6.9e-298, not lost
    assert ulp_error(kl_divergence(q, p), mp.fsum(exact_kl_terms(q, p))) <= 2
    # a subnormal model probability: the ratio 0.5 / 5e-324 overflows; the result must not
    q, p = [0.5, 0.5], [5e-324, 1.0]
    assert np.isfinite(kl_divergence(q, p))
    assert ulp_error(kl_divergence(q, p), mp.fsum(exact_kl_terms(q, p))) <= 2
    assert ulp_error(cross_entropy(q, p), exact_cross_entropy(q, p)) <= 2


def test_kl_close_distributions_beats_the_subtraction():
    """p = q + tiny: the ratio form keeps the digits that H(q, p) - H(q) loses."""
    h = 2.0**-30
    q, p = np.array([0.5, 0.5]), np.array([0.5 + h, 0.5 - h])
    exact = mp.fsum(exact_kl_terms(q, p))            # = -log(1 - 4h^2)/2, about 1.7e-18
    # The two terms are about +-1e-9 and cancel to 1.7e-18: one ULP of a term (about 1e-25)
    # is 1.3e-7 of the result, so a CPU whose log1p rounds one term the other way moves the
    # result by that much. Allow a few such ULP: still seven orders better than the subtraction.
    assert abs(mpf(kl_divergence(q, p)) - exact) / exact < 1e-6
    subtraction = cross_entropy(q, p) - entropy(q)
    assert abs(mpf(subtraction) - exact) / exact > 0.5  # why kl_divergence does not do this


def test_float32_is_computed_in_float32_and_accurate():
    q = np.array([0.1, 0.2, 0.7], dtype=np.float32)
    p = np.array([0.3, 0.3, 0.4], dtype=np.float32)
    for value, exact in [(entropy(q), exact_entropy(q)), (cross_entropy(q, p), exact_cross_entropy(q, p)),
                         (kl_divergence(q, p), mp.fsum(exact_kl_terms(q, p)))]:
        assert value.dtype == np.float32
        assert ulp_error(value, exact, np.float32) <= ULP_KL


# ---------------------------------------------------------------- the identity and the derivative

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_identity_cross_entropy_is_entropy_plus_kl(dtype):
    rng = np.random.default_rng(5)
    q = rng.dirichlet(np.full(6, 0.5), size=2000).astype(dtype)
    p = rng.dirichlet(np.full(6, 0.5), size=2000).astype(dtype)
    ce, h, kl = cross_entropy(q, p), entropy(q), kl_divergence(q, p)
    assert ce.shape == h.shape == kl.shape == (2000,)
    assert np.all(np.abs(ce - (h + kl)) <= 8 * EPS[dtype] * (ce + h + kl))


@pytest.mark.parametrize("y", [0.3, 0.8])
def test_binary_cross_entropy_of_soft_label_is_minimal_at_p_equal_y(y):
    p = np.linspace(0.001, 0.999, 999)
    loss = cross_entropy(np.broadcast_to([y, 1 - y], (p.size, 2)), np.stack([p, 1 - p], axis=-1))
    assert abs(p[np.argmin(loss)] - y) < 1e-12
    assert abs(loss.min() - entropy([y, 1 - y])) <= 4 * EPS[np.float64]


def test_soft_label_floor_against_mpmath():
    """The chapter's floor H(0.3) = 0.6109: entropy of the coin (0.3, 0.7) vs the exact value."""
    y = np.array([0.3, 0.7])
    floor = exact_entropy(y)
    assert ulp_error(entropy(y), floor) <= ULP_H
    assert ulp_error(cross_entropy(y, y), floor) <= ULP_H
    assert round(float(floor), 4) == 0.6109


# ---------------------------------------------------------------- maximum likelihood (claim 13)

def exact_mean_nll(labels, probs):
    """-(1/N) sum_i log p_i[label_i], the mean negative log-likelihood, in mpmath."""
    return -mp.fsum(mp.log(mpf(row[label])) for label, row in zip(labels, probs)) / len(labels)


# A mean of N positive values, each within ULP_H: the mean adds a few roundings (pairwise sum,
# one division), so 8 ULP is an honest bound for N = 300; measured at most 1.5 ULP.
ULP_MEAN = 8


def random_predictions(rng, n, k):
    """Rows of k probabilities, one per sample, that sum to 1 in float64 (rounded Dirichlet)."""
    return rng.dirichlet(np.full(k, 0.7), size=n)


@pytest.mark.parametrize("k", [2, 3, 10])
def test_classifier_nll_is_the_mean_of_per_sample_cross_entropies(k):
    """-(1/N) log L of a conditional model p(y | x_i) is (1/N) sum_i H(y_i, p(. | x_i))."""
    rng = np.random.default_rng(20 + k)
    labels = rng.integers(0, k, size=300)
    probs = random_predictions(rng, 300, k)            # a different prediction for every sample
    per_sample = cross_entropy(np.eye(k)[labels], probs)
    assert per_sample.shape == (300,)
    assert ulp_error(per_sample.mean(), exact_mean_nll(labels, probs)) <= ULP_MEAN


@pytest.mark.parametrize("k", [2, 3, 10])
def test_constant_prediction_nll_is_cross_entropy_of_the_label_frequencies(k):
    """Only for a prediction that ignores x: mean NLL = H(q_hat, p), minimal at p = q_hat."""
    rng = np.random.default_rng(40 + k)
    labels = rng.integers(0, k, size=300)
    p = random_predictions(rng, 1, k)[0]
    q_hat = np.bincount(labels, minlength=k) / labels.size
    exact = exact_mean_nll(labels, np.broadcast_to(p, (300, k)))
    assert ulp_error(cross_entropy(q_hat, p), exact) <= ULP_MEAN
    # at the class frequencies the loss is H(q_hat), below the loss at any other constant
    assert ulp_error(cross_entropy(q_hat, q_hat), exact_entropy(q_hat)) <= ULP_H
    assert cross_entropy(q_hat, q_hat) < cross_entropy(q_hat, p)


def test_input_dependent_prediction_is_not_one_cross_entropy():
    """A classifier that is always right has NLL 0, but H(q_hat, mean prediction) = H(q_hat) > 0."""
    labels = np.array([0, 1, 2, 2, 1, 0, 0])
    onehot = np.eye(3)[labels]
    assert cross_entropy(onehot, onehot).mean() == 0
    q_hat = onehot.mean(axis=0)                         # also the mean prediction
    one_cross_entropy = cross_entropy(q_hat, onehot.mean(axis=0))
    assert ulp_error(one_cross_entropy, exact_entropy(q_hat)) <= ULP_H
    assert one_cross_entropy > 1                        # H(3/7, 2/7, 2/7) = 1.079, not 0


def test_directional_derivative_on_the_simplex():
    """d/dt H(q, p + t(e1 - e2)) = -q1/p1 + q2/p2: finite differences vs the mpmath value."""
    q = np.array([0.2, 0.5, 0.3])
    p = np.array([0.25, 0.25, 0.5])
    h = 1e-6
    step = np.array([h, -h, 0.0])
    fd = (cross_entropy(q, p + step) - cross_entropy(q, p - step)) / (2 * h)
    exact = -mpf(q[0]) / mpf(p[0]) + mpf(q[1]) / mpf(p[1])
    assert abs(fd - float(exact)) < 1e-8 * abs(float(exact))


def test_matches_the_bce_chapter_on_coin_rows():
    """BCE is the cross-entropy of the rows (y, 1-y) and (p, 1-p) (p dyadic, so 1 - p is exact)."""
    bce = load_chapter("bce").bce
    rng = np.random.default_rng(9)
    p = rng.integers(1, 2**20, size=500) / 2**20
    y = rng.integers(0, 2**20 + 1, size=500) / 2**20
    rows = cross_entropy(np.stack([y, 1 - y], axis=-1), np.stack([p, 1 - p], axis=-1))
    per_element = bce(y, p, reduction="none")
    assert np.allclose(rows, per_element, rtol=8 * EPS[np.float64], atol=0)


# ---------------------------------------------------------------- hypothesis properties

@st.composite
def exact_distributions(draw, k=None):
    """Dyadic distributions that sum to exactly 1 (zeros included): counts / 2**40."""
    k = k or draw(st.integers(1, 8))
    total = 2**40
    cuts = sorted(draw(st.lists(st.integers(0, total), min_size=k - 1, max_size=k - 1)))
    counts = np.diff([0, *cuts, total])
    return counts / total


@st.composite
def distribution_pairs(draw):
    k = draw(st.integers(1, 8))
    return draw(exact_distributions(k)), draw(exact_distributions(k))


@st.composite
def normalised_floats(draw):
    """Rounded distributions (a / sum a), with values down to subnormals."""
    values = draw(st.lists(st.floats(0, 1), min_size=1, max_size=10))
    a = np.array(values)
    assume(a.sum() > 0)
    return a / a.sum()


def kl_terms_scale(q, p):
    used = q > 0
    with np.errstate(divide="ignore", over="ignore"):
        return float(np.sum(np.abs(q[used] * (np.log(q[used]) - np.log(p[used])))))


@SETTINGS
@given(distribution_pairs())
def test_kl_is_non_negative(pair):
    q, p = pair
    kl = kl_divergence(q, p)
    assert not np.isnan(kl)
    assert kl >= -COND_KL * EPS[np.float64] * kl_terms_scale(q, p)


@SETTINGS
@given(st.one_of(exact_distributions(), normalised_floats()))
def test_kl_of_a_distribution_with_itself_is_zero(q):
    assert kl_divergence(q, q) == 0
    assert math.copysign(1, kl_divergence(q, q)) == 1      # +0.0, not -0.0
    assert cross_entropy(q, q) == entropy(q)


@SETTINGS
@given(distribution_pairs())
def test_cross_entropy_is_at_least_entropy(pair):
    q, p = pair
    ce, h = cross_entropy(q, p), entropy(q)
    assert not np.isnan(ce)
    assert ce >= h * (1 - 8 * EPS[np.float64])
    # infinite exactly when q puts mass where p has none, and then KL is infinite too
    impossible = bool(np.any((q > 0) & (p == 0)))
    assert (ce == np.inf) == impossible == (kl_divergence(q, p) == np.inf)


@SETTINGS
@given(st.one_of(exact_distributions(), normalised_floats()))
def test_entropy_between_zero_and_log_k(q):
    h = entropy(q)
    assert 0 <= h <= np.log(q.size) * (1 + 8 * EPS[np.float64])
    assert ulp_error(h, exact_entropy(q)) <= ULP_H


@SETTINGS
@given(distribution_pairs(), st.randoms(use_true_random=False))
def test_permuting_classes_changes_nothing_but_rounding(pair, random):
    q, p = pair
    order = list(range(q.size))
    random.shuffle(order)
    for f in (cross_entropy, kl_divergence):
        a, b = f(q, p), f(q[order], p[order])
        assert a == b or abs(a - b) <= 8 * EPS[np.float64] * (abs(a) + kl_terms_scale(q, p) + 1e-300)


@SETTINGS
@given(st.lists(distribution_pairs(), min_size=1, max_size=5).filter(
    lambda pairs: len({q.size for q, _ in pairs}) == 1))
def test_batches_are_computed_row_by_row(pairs):
    q = np.stack([a for a, _ in pairs])
    p = np.stack([b for _, b in pairs])
    for f, args in [(entropy, (q,)), (cross_entropy, (q, p)), (kl_divergence, (q, p))]:
        batch = f(*args)
        assert batch.shape == (len(pairs),)
        rows = [f(*(a[i] for a in args)) for i in range(len(pairs))]
        np.testing.assert_array_equal(batch, rows)


# ---------------------------------------------------------------- infinities, zeros, shapes

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_inf_not_nan_where_q_positive_and_p_zero(dtype):
    q = np.array([[0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.0, 1.0]], dtype=dtype)
    p = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.5, 0.5, 0.0]], dtype=dtype)
    with np.errstate(all="raise"):                 # no floating warnings escape either
        ce, kl = cross_entropy(q, p), kl_divergence(q, p)
        h = entropy(q)
    np.testing.assert_array_equal(np.isinf(ce), [False, True, True])
    np.testing.assert_array_equal(np.isinf(kl), [False, True, True])
    assert not np.isnan(ce).any() and not np.isnan(kl).any() and not np.isnan(h).any()
    assert ce[0] == pytest.approx(np.log(2), rel=1e-6) and kl[0] == 0
    assert ce.dtype == kl.dtype == h.dtype == dtype


def test_certain_outcome_has_positive_zero_entropy():
    for q in ([1.0], [0.0, 1.0, 0.0]):
        assert entropy(q) == 0 and math.copysign(1, entropy(q)) == 1
        assert cross_entropy(q, q) == 0 and math.copysign(1, cross_entropy(q, q)) == 1


def test_output_shapes_and_scalars():
    q = np.full((2, 3, 4), 0.25)
    assert entropy(q).shape == (2, 3)
    assert cross_entropy(q, q).shape == kl_divergence(q, q).shape == (2, 3)
    for value in (entropy([0.5, 0.5]), cross_entropy([0.5, 0.5], [0.5, 0.5]),
                  kl_divergence([0.5, 0.5], [0.5, 0.5])):
        assert isinstance(value, np.float64) and not isinstance(value, np.ndarray)


def test_inputs_are_not_modified():
    q = np.array([0.5, 0.5, 0.0])
    p = np.array([0.25, 0.25, 0.5])
    q_copy, p_copy = q.copy(), p.copy()
    entropy(q), cross_entropy(q, p), kl_divergence(q, p)
    np.testing.assert_array_equal(q, q_copy)
    np.testing.assert_array_equal(p, p_copy)


# ---------------------------------------------------------------- dtypes

@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.longdouble])
def test_floating_dtype_is_kept(dtype):
    q = np.array([0.25, 0.25, 0.5], dtype=dtype)
    p = np.array([0.5, 0.25, 0.25], dtype=dtype)
    for value in (entropy(q), cross_entropy(q, p), kl_divergence(q, p)):
        assert value.dtype == dtype
    assert float(kl_divergence(q, p)) == pytest.approx(0.25 * np.log(2), rel=4e-3)


def test_integer_and_boolean_input_is_computed_in_float64():
    assert entropy([0, 1, 0]).dtype == np.float64
    assert entropy(np.array([False, True])).dtype == np.float64
    assert cross_entropy([0, 1], [0, 1]).dtype == np.float64


@pytest.mark.parametrize("q_dtype, p_dtype", [(np.float64, np.float32), (np.float32, np.float64),
                                              (np.int64, np.float32)])
def test_result_has_the_dtype_of_p(q_dtype, p_dtype):
    q = np.array([0, 1, 0], dtype=q_dtype)
    p = np.array([0.25, 0.5, 0.25], dtype=p_dtype)
    assert cross_entropy(q, p).dtype == p_dtype
    assert kl_divergence(q, p).dtype == p_dtype
    assert float(cross_entropy(q, p)) == pytest.approx(np.log(2), rel=1e-6)


def test_float32_labels_are_checked_in_float32():
    """A float32 soft label is accepted next to a float64 prediction (checked in its own dtype)."""
    q = np.array([0.1, 0.2, 0.7], dtype=np.float32)
    p = np.array([0.2, 0.3, 0.5])
    assert abs(float(q.astype(np.float64).sum()) - 1) > 3e-12   # fails the float64 tolerance
    value = kl_divergence(q, p)
    assert value.dtype == np.float64
    assert ulp_error(value, mp.fsum(exact_kl_terms(q, p))) <= ULP_KL


# ---------------------------------------------------------------- ValueError

FUNCTIONS = [("entropy", lambda q, p: entropy(q)), ("cross_entropy", cross_entropy),
             ("kl_divergence", kl_divergence)]

BAD_FOR_ALL = {                     # (q, p, words expected in the message); q is bad in each
    "NaN": ([np.nan, 0.5], [0.5, 0.5], "NaN"),
    "negative": ([-0.5, 1.5], [0.5, 0.5], "[0, 1]"),
    "above one": ([1.5, -0.5], [0.5, 0.5], "[0, 1]"),
    "infinite": ([np.inf, 0.5], [0.5, 0.5], "[0, 1]"),
    "sums to 0.8": ([0.5, 0.3], [0.5, 0.5], "sum to 1"),
    "sums to 1.2": ([0.6, 0.6], [0.5, 0.5], "sum to 1"),
    "one bad row": ([[0.5, 0.5], [0.5, 0.4]], [[0.5, 0.5], [0.5, 0.5]], "sum to 1"),
    "empty": ([], [], "empty"),
    "empty rows": (np.zeros((3, 0)), np.zeros((3, 0)), "empty"),
    "no rows": (np.zeros((0, 3)), np.zeros((0, 3)), "empty"),
    "scalar": (1.0, 1.0, "scalar"),
    "text": (["a", "b"], [0.5, 0.5], "real numbers"),
    "None": (None, [0.5, 0.5], "real numbers"),
    "objects": (np.array([0.5, 0.5], dtype=object), [0.5, 0.5], "real numbers"),
    "complex": (np.array([0.5, 0.5], dtype=complex), [0.5, 0.5], "real numbers"),
    "ragged": ([[0.5, 0.5], [1.0]], [[0.5, 0.5], [1.0]], "numeric"),
}


@pytest.mark.parametrize("name, function", FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
@pytest.mark.parametrize("case", BAD_FOR_ALL, ids=list(BAD_FOR_ALL))
def test_bad_q_raises(name, function, case):
    q, p, words = BAD_FOR_ALL[case]
    with pytest.raises(ValueError) as info:
        function(q, p)
    assert words in str(info.value)


BAD_P_ONLY = [case for case in BAD_FOR_ALL
              if case not in ("empty", "empty rows", "no rows", "scalar", "None", "ragged")]


@pytest.mark.parametrize("name, function", FUNCTIONS[1:], ids=[n for n, _ in FUNCTIONS[1:]])
@pytest.mark.parametrize("case", BAD_P_ONLY)
def test_bad_p_raises(name, function, case):
    bad, _, words = BAD_FOR_ALL[case]
    shape = np.shape(bad)
    good_q = np.full(shape, 1 / shape[-1])       # a valid q of the same shape
    with pytest.raises(ValueError) as info:
        function(good_q, bad)
    assert words in str(info.value) and str(info.value).startswith("p ")


@pytest.mark.parametrize("name, function", FUNCTIONS[1:], ids=[n for n, _ in FUNCTIONS[1:]])
@pytest.mark.parametrize("q_shape, p_shape", [((2,), (1, 2)), ((2, 3), (3, 2)), ((4, 2), (2,)),
                                              ((3,), (2,))])
def test_shape_mismatch_raises_instead_of_broadcasting(name, function, q_shape, p_shape):
    q = np.full(q_shape, 1 / q_shape[-1])
    p = np.full(p_shape, 1 / p_shape[-1])
    with pytest.raises(ValueError, match="shape mismatch"):
        function(q, p)


@pytest.mark.parametrize("dtype, ok_offset, bad_offset", [(np.float64, 1.5e-12, 3e-12),
                                                          (np.float32, 1.5e-6, 3e-6)])
def test_sum_tolerance_is_k_times_max_of_8_eps_and_1e_12(dtype, ok_offset, bad_offset):
    """K = 2: tolerance 2e-12 in float64, 2 * 8 * eps = 1.9e-6 in float32."""
    good = np.array([0.5, 0.5 + ok_offset], dtype=dtype)
    bad = np.array([0.5, 0.5 + bad_offset], dtype=dtype)
    assert np.isfinite(entropy(good))
    for f, args in [(entropy, (bad,)), (cross_entropy, (good, bad)), (kl_divergence, (bad, good))]:
        with pytest.raises(ValueError, match="sum to 1"):
            f(*args)


def test_float16_tolerance_allows_its_rounding():
    q = np.array([0.1, 0.2, 0.7], dtype=np.float16)     # float16 sum is 1.00012
    assert entropy(q).dtype == np.float16
    with pytest.raises(ValueError, match="sum to 1"):
        entropy(np.array([0.1, 0.2, 0.6], dtype=np.float16))


def test_messages_name_the_bad_argument():
    with pytest.raises(ValueError, match=r"^p contains NaN"):
        cross_entropy([0.5, 0.5], [np.nan, 0.5])
    with pytest.raises(ValueError, match=r"^q contains NaN"):
        kl_divergence([np.nan, 0.5], [0.5, 0.5])


def test_chapter_exports_exactly_the_contract_names():
    assert callable(ch.entropy) and callable(ch.cross_entropy) and callable(ch.kl_divergence)
    assert list(inspect.signature(ch.entropy).parameters) == ["q"]
    assert list(inspect.signature(ch.cross_entropy).parameters) == ["q", "p"]
    assert list(inspect.signature(ch.kl_divergence).parameters) == ["q", "p"]
