"""`bce`, `bce_grad` and `ulp_error`, loaded from book/chapters/bce.ipynb, against an mpmath
oracle, finite differences, hand-made cases and the loss's invariants."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import oracle
from bookfunctions import load_chapter

ch = load_chapter("bce")
ULP_LOSS = 3      # per-element loss, float64 and float32 (measured worst: about 1.9)
ULP_GRAD = 3      # per-element gradient, the bound the chapter states (measured worst: about 2.4)

TINY_TO_ONE = np.concatenate([np.logspace(-300, -1, 120), [0.25, 0.5, 0.75],
                              1 - np.logspace(-1, -15.9, 60), [1 - 2**-53]])
LABELS = [0.0, 1.0, 1e-300, 1e-17, 0.1, 0.3, 0.5, 0.7, 1 - 1e-12, 1 - 2**-53]


@pytest.mark.parametrize("label", LABELS)
def test_loss_elements_match_mpmath_across_float64(label):
    y = np.full_like(TINY_TO_ONE, label)
    losses = ch.bce(y, TINY_TO_ONE, reduction="none")
    errors = [oracle.ulp_error(l, oracle.bce_terms(label, p)) for l, p in zip(losses, TINY_TO_ONE)]
    assert max(errors) <= ULP_LOSS, (max(errors), TINY_TO_ONE[int(np.argmax(errors))])


def test_mean_matches_mpmath():
    rng = np.random.default_rng(3)
    y = rng.uniform(0, 1, 500)
    p = np.exp(-rng.uniform(0, 690, 500))          # probabilities down to 1e-300
    assert oracle.ulp_error(ch.bce(y, p), oracle.bce_mean(y, p)) <= ULP_LOSS


@pytest.mark.parametrize("label", [0.0, 1.0, 0.3, 0.9])
def test_float32_in_float32_out_and_accurate(label):
    p = np.concatenate([np.logspace(-44, -1, 80), 1 - np.logspace(-1, -7.2, 40)]).astype(np.float32)
    y = np.full_like(p, label)
    losses = ch.bce(y, p, reduction="none")
    assert losses.dtype == np.float32 and ch.bce(y, p).dtype == np.float32
    assert ch.bce_grad(y, p).dtype == np.float32
    # the label itself is rounded to float32 first: compare with the exact loss of that input
    errors = [oracle.ulp_error(l, oracle.bce_terms(np.float32(label), q), np.float32)
              for l, q in zip(losses, p)]
    assert max(errors) <= ULP_LOSS


@pytest.mark.parametrize("label", LABELS)
def test_gradient_matches_mpmath(label):
    p = TINY_TO_ONE
    grads = ch.bce_grad(np.full_like(p, label), p)
    errors = [oracle.ulp_error(g, oracle.bce_grad(label, q, len(p))) for g, q in zip(grads, p)]
    assert max(errors) <= ULP_GRAD, (max(errors), p[int(np.argmax(errors))])


# every normal float64 in (0, 1) from the smallest, 2**-1022, to the largest, 1 - 2**-53
NORMAL_RANGE = np.concatenate([[2.0**-1022, 2.0**-1000], np.logspace(-307, -1, 300),
                               [0.25, 0.5, 0.75], 1 - np.logspace(-1, -16, 120), [1 - 2**-53]])


@pytest.mark.parametrize("seed", range(3))
def test_gradient_within_3_ulp_over_the_whole_normal_range(seed):
    rng = np.random.default_rng(seed)
    labels = np.concatenate([[0.0, 1.0, 1e-300, 1 - 2**-53], rng.uniform(0, 1, 6)])
    for label in labels:
        y = np.full_like(NORMAL_RANGE, label)
        for reduction, n in [("none", 1), ("mean", NORMAL_RANGE.size)]:
            grads = ch.bce_grad(y, NORMAL_RANGE, reduction=reduction)
            errors = [oracle.ulp_error(g, oracle.bce_grad(label, q, n))
                      for g, q in zip(grads, NORMAL_RANGE)]
            assert max(errors) <= ULP_GRAD, (label, reduction, NORMAL_RANGE[int(np.argmax(errors))])


def test_gradient_within_3_ulp_at_random_points_of_the_range():
    rng = np.random.default_rng(11)
    n = 3000
    y = np.where(rng.uniform(size=n) < 0.2, rng.integers(0, 2, n), rng.uniform(0, 1, n))
    tiny = np.exp(-rng.uniform(0, 708, n))                     # down to about 2**-1021
    p = np.where(rng.uniform(size=n) < 0.5, tiny, 1 - np.exp(-rng.uniform(0, 36.7, n)))
    p = np.clip(p, 2.0**-1022, 1 - 2**-53)
    grads = ch.bce_grad(y, p)
    errors = [oracle.ulp_error(g, oracle.bce_grad(a, q, n)) for g, a, q in zip(grads, y, p)]
    assert max(errors) <= ULP_GRAD


def test_ulp_error_hand_made_cases():
    u, mp = ch.ulp_error, oracle.mp
    assert u(1 + 2**-52, 1) == 1.0                       # the next float64 after 1
    assert u(-1 - 2**-52, -1) == 1.0
    assert u(1.0, 1 - mp.mpf(2)**-60) == 2.0**-7         # below 1 one ULP is 2**-53
    assert u(0.1, mp.mpf(1) / 10) == pytest.approx(0.4, abs=1e-12)   # 0.1 = 1/10 + 2**-56 * 2/5
    assert u(0.1 + 0.2, mp.mpf(3) / 10) == pytest.approx(0.8, abs=1e-12)
    assert u(2 * 5e-324, 5e-324) == 1.0 and u(5e-324, 0) == 1.0      # subnormal spacing 2**-1074
    f32, f16 = np.float32, np.float16
    assert u(f32(1) + np.finfo(f32).eps, 1, f32) == 1.0
    assert u(np.nextafter(f32(1), f32(0)), 1, f32) == 0.5             # 2**-24 / 2**-23
    assert u(f16(1), 1 + mp.mpf(2)**-11, f16) == 0.5                  # float16 ULP at 1 is 2**-10
    assert u(f16(2.0**-24), 0, f16) == 1.0                            # smallest float16 subnormal
    assert u(np.inf, mp.inf) == 0.0 and u(-np.inf, -mp.inf) == 0.0
    for computed, exact in [(1e308, mp.inf), (np.inf, 1), (-np.inf, mp.inf), (np.nan, 1),
                            (1.0, mp.nan)]:
        assert u(computed, exact) == np.inf


def test_ulp_error_does_not_depend_on_the_callers_mpmath_precision():
    """An exact value made at 60 digits keeps its meaning when the caller later lowers mpmath's
    precision: ulp_error works at its own precision (it once rounded the exact value first)."""
    mp = oracle.mp
    exact = mp.mpf(1) / 10                                 # made at the tests' 60 digits
    saved = mp.dps
    try:
        mp.dps = 15                                        # mpmath's default
        assert ch.ulp_error(0.1, exact) == pytest.approx(0.4, abs=1e-12)
    finally:
        mp.dps = saved


def test_ulp_error_agrees_with_the_oracle_away_from_powers_of_two():
    rng = np.random.default_rng(4)
    for x in np.exp(rng.uniform(-700, 700, 200)) * rng.choice([-1, 1], 200):
        exact = oracle.mpf(x) * (1 + oracle.mp.mpf(rng.uniform(-1e-15, 1e-15)))
        if abs(np.log2(abs(x)) - np.round(np.log2(abs(x)))) > 1e-9:
            assert ch.ulp_error(x, exact) == pytest.approx(oracle.ulp_error(x, exact), rel=1e-12)


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(5)
    y, p = rng.uniform(0, 1, 50), rng.uniform(0.01, 0.99, 50)
    grad = ch.bce_grad(y, p)
    h = 1e-6
    for k in range(50):
        step = np.zeros(50); step[k] = h
        fd = (ch.bce(y, p + step) - ch.bce(y, p - step)) / (2 * h)
        assert fd == pytest.approx(grad[k], rel=1e-6)


def test_published_example_and_gradient():
    y = np.array([[1], [0], [1], [1]])
    p = np.array([[0.4], [0.5], [0.8], [0.2]])
    exact = oracle.bce_mean(y, p)
    assert float(exact) == 0.8605048440456026          # the published value is correctly rounded
    assert oracle.ulp_error(ch.bce(y, p), exact) <= ULP_LOSS     # log may differ by a bit per CPU
    assert ch.bce_grad(y, p).ravel().tolist() == [-0.625, 0.5, -0.3125, -1.25]
    assert ch.bce_grad(y, p).shape == (4, 1)


@pytest.mark.parametrize("y, p, loss, grad", [
    ([1.0], [0.0], np.inf, -np.inf), ([0.0], [1.0], np.inf, np.inf),
    ([0.3], [0.0], np.inf, -np.inf), ([0.3], [1.0], np.inf, np.inf),
    ([0.0], [0.0], 0.0, 1.0), ([1.0], [1.0], 0.0, -1.0)])
def test_saturated_predictions_are_exact_never_nan(y, p, loss, grad):
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # no RuntimeWarning leaks out
        assert ch.bce(y, p) == loss and ch.bce_grad(y, p)[0] == grad
    assert not np.signbit(ch.bce([0.0], [0.0]))         # +0.0, not -0.0


@pytest.mark.parametrize("y, p, message", [
    ([1, 0, 1], [[0.2], [0.4], [0.9]], "shape mismatch"),
    ([1, 0], [0.5, np.nan], "NaN"), ([np.nan, 0], [0.5, 0.5], "NaN"),
    ([1, 0], [1.5, 0.2], r"\[0, 1\]"), ([1, 0], [-0.1, 0.2], r"\[0, 1\]"),
    ([1, 0], [np.inf, 0.2], r"\[0, 1\]"), ([2, 0], [0.5, 0.2], r"\[0, 1\]"),
    ([], [], "empty"), (["a", "b"], [0.5, 0.5], "real numbers"),
    ([1, 0], [0.5 + 1j, 0.1], "real numbers"), ([[1, 0], [1]], [0.5, 0.5], "numeric")])
def test_bad_input_raises_value_error(y, p, message):
    for function in (ch.bce, ch.bce_grad):
        with pytest.raises(ValueError, match=message):
            function(y, p)


def test_reductions_and_weights():
    y, p, w = np.array([1.0, 0, 1, 1]), np.array([0.4, 0.5, 0.8, 0.2]), np.array([1.0, 0, 3, 1])
    elements = ch.bce(y, p, reduction="none")
    assert ch.bce(y, p, reduction="sum") == pytest.approx(elements.sum(), rel=1e-15)
    assert ch.bce(y, p, sample_weight=w) == pytest.approx((w * elements).sum() / 5, rel=1e-15)
    assert ch.bce(y, p, sample_weight=w, reduction="none").tolist() == (w * elements).tolist()
    # zero weight removes an infinite element
    assert ch.bce([1.0, 1.0], [0.0, 0.5], sample_weight=[0, 1]) == pytest.approx(np.log(2))
    grad_sum = ch.bce_grad(y, p, sample_weight=w, reduction="sum")
    assert ch.bce_grad(y, p, sample_weight=w).tolist() == pytest.approx((grad_sum / 5).tolist())
    with pytest.raises(ValueError, match="reduction"):
        ch.bce(y, p, reduction="average")
    with pytest.raises(ValueError, match="sums to 0"):
        ch.bce(y, p, sample_weight=np.zeros(4))
    with pytest.raises(ValueError, match="non-negative"):
        ch.bce(y, p, sample_weight=[1, -1, 1, 1])
    with pytest.raises(ValueError, match="broadcast"):
        ch.bce(y, p, sample_weight=[1, 2])


def test_integer_and_column_inputs():
    assert ch.bce(np.array([1, 0]), np.array([1, 0])).dtype == np.float64
    assert ch.bce([[1], [0]], [[0.9], [0.2]]) == ch.bce([1, 0], [0.9, 0.2])


probabilities = st.floats(0, 1, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(probabilities, probabilities), min_size=1, max_size=20))
def test_invariants(pairs):
    y, p = np.array(pairs).T
    loss = ch.bce(y, p, reduction="none")
    assert not np.isnan(loss).any()
    assert (loss >= 0).all()                                       # non-negative
    swapped = ch.bce(1 - y, 1 - p, reduction="none")               # y <-> 1-y, p <-> 1-p
    exact = (1 - (1 - y) == y) & (1 - (1 - p) == p)                # where 1 - x did not round
    # equal in exact arithmetic, but log(1 - p) and log1p(-p) are rounded differently (and
    # differently on each CPU): both terms have one sign, so the two agree within a few ULP
    assert np.allclose(swapped[exact], loss[exact], rtol=8 * np.finfo(float).eps, atol=0)
    at_label = ch.bce(y, y, reduction="none")                      # minimal at p = y
    assert (at_label <= loss * (1 + 1e-12) + 1e-300).all()


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 1), st.floats(1e-6, 1 - 1e-6))
def test_gradient_sign_points_to_label(label, p):
    g = ch.bce_grad([label], [p])[0]
    assert np.sign(g) == np.sign(p - label) or (g == 0 and p == label)
