"""Tests for the chapter "From logits": sigmoid, bce_with_logits, bce_with_logits_grad.

The functions are loaded from the chapter's export cells; the oracle is mpmath (60 digits, or
more where a difference cancels), written here from the definitions.

Bounds asserted (stated in the chapter):
  sigmoid                       <= 3 ULP
  loss, per element             <= 4 ULP, any label in [0, 1], any finite logit
  gradient, hard labels         <= 4 ULP
  gradient, soft labels         |error| <= 4 eps ((1-y) sigma(z) + y sigma(-z)) + smallest subnormal
"""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bookfunctions import load_chapter
from oracle import mp, mpf, ulp_error

ch = load_chapter("logits")

SIGMOID_ULP = 3
LOSS_ULP = 4
GRAD_ULP = 4
FAST = settings(max_examples=200, deadline=None)

# Logits: log-spaced magnitudes from 1e-300 to 1e3 (the chapter's range), a few far beyond, both
# signs, and zero. Labels: hard, soft, and the awkward ones named in the book's issue.
MAGNITUDES = np.concatenate([np.geomspace(1e-300, 1e3, 121),
                             [36.7, 37.0, 709.0, 710.0, 745.0, 1e4, 1e10, 1e100, 1e300, 1.7e308]])
Z64 = np.concatenate([-MAGNITUDES[::-1], [0.0], MAGNITUDES])
MAGNITUDES32 = np.concatenate([np.geomspace(1e-44, 1e3, 81), [16.6, 17.0, 88.0, 89.0, 104.0, 1e10, 3e38]])
Z32 = np.concatenate([-MAGNITUDES32[::-1], [0.0], MAGNITUDES32]).astype(np.float32)
LABELS = [0.0, 1.0, 0.5, 0.3, 0.1, 0.9, 1 / 3, 1e-300, 5e-324, 2.0**-53, 1 - 2.0**-53,
          1e-10, 1 - 1e-10, 1e-5, 0.999]


# ----------------------------------------------------------------------------- the oracle
def softplus_exact(x):
    x = mpf(x)
    return x + mp.log1p(mp.exp(-x)) if x > 0 else mp.log1p(mp.exp(x))


def loss_exact(y, z):
    """y log(1 + e^-z) + (1-y) log(1 + e^z) for float inputs, exactly (60 digits)."""
    y = mpf(y)
    return y * softplus_exact(-float(z)) + (1 - y) * softplus_exact(float(z))


def sigmoid_exact(z):
    return 1 / (1 + mp.exp(-mpf(z)))


def grad_exact(y, z):
    """(sigma(z) - y, (1-y) sigma(z) + y sigma(-z)): the gradient and the size of its terms."""
    with mp.workdps(120):                      # the two terms may cancel deeply
        y, s, s_neg = mpf(y), sigmoid_exact(z), sigmoid_exact(-z)   # never 1 - s: it loses all digits
        return (1 - y) * s - y * s_neg, (1 - y) * s + y * s_neg


def assert_within(errors, bound, what):
    worst = max(errors, key=lambda e: e[0])
    assert worst[0] <= bound, f"{what}: {worst[0]:.3g} > {bound} at {worst[1:]}"


def grad_error_in_terms(g, y, z, dtype):
    """|g - exact| beyond the smallest subnormal, in units of eps x (size of the terms)."""
    exact, scale = grad_exact(y, z)
    excess = abs(mpf(g) - exact) - mpf(np.finfo(dtype).smallest_subnormal)
    if excess <= 0:
        return 0.0
    return float(excess / (scale * mpf(np.finfo(dtype).eps)))


# ----------------------------------------------------------------------------- accuracy
@pytest.mark.parametrize("dtype, zs", [(np.float64, Z64), (np.float32, Z32)], ids=["float64", "float32"])
def test_loss_per_element_matches_oracle_on_grid(dtype, zs):
    errors = []
    for label in LABELS:
        y = np.full(zs.shape, label).astype(dtype)
        losses = ch.bce_with_logits(y, zs.astype(dtype), reduction="none")
        assert losses.dtype == dtype
        errors += [(ulp_error(l, loss_exact(a, b), dtype), float(a), float(b))
                   for a, b, l in zip(y, zs, losses)]
    assert_within(errors, LOSS_ULP, "loss")


def test_loss_matches_oracle_on_random_inputs_across_the_float_range():
    rng = np.random.default_rng(20260)
    n = 1500
    z = rng.choice([-1.0, 1.0], n) * 10.0 ** rng.uniform(-300, 308, n)
    z[: n // 3] = rng.uniform(-1000, 1000, n // 3)
    y = np.concatenate([rng.uniform(0, 1, n // 3), 1 - 10.0 ** rng.uniform(-16, 0, n // 3),
                        10.0 ** rng.uniform(-320, 0, n - 2 * (n // 3))])
    rng.shuffle(y)
    losses = ch.bce_with_logits(y, z, reduction="none")
    assert_within([(ulp_error(l, loss_exact(a, b)), a, b) for a, b, l in zip(y, z, losses)],
                  LOSS_ULP, "loss")


@FAST
@given(st.floats(0, 1), st.floats(-1e3, 1e3))
def test_loss_matches_oracle_hypothesis(y, z):
    assert ulp_error(ch.bce_with_logits(y, z), loss_exact(y, z)) <= LOSS_ULP


@pytest.mark.parametrize("dtype, zs", [(np.float64, Z64), (np.float32, Z32)], ids=["float64", "float32"])
def test_sigmoid_matches_oracle(dtype, zs):
    values = ch.sigmoid(zs.astype(dtype))
    assert values.dtype == dtype and values.shape == zs.shape
    assert_within([(ulp_error(v, sigmoid_exact(z), dtype), float(z)) for z, v in zip(zs, values)],
                  SIGMOID_ULP, "sigmoid")


@pytest.mark.parametrize("dtype, zs", [(np.float64, Z64), (np.float32, Z32)], ids=["float64", "float32"])
def test_gradient_matches_oracle(dtype, zs):
    hard, soft = [], []
    for label in LABELS:
        y = np.full(zs.shape, label).astype(dtype)
        grads = ch.bce_with_logits_grad(y, zs.astype(dtype), reduction="none")
        assert grads.dtype == dtype
        for a, b, g in zip(y, zs, grads):
            if a in (0, 1):
                hard.append((ulp_error(g, grad_exact(a, b)[0], dtype), float(a), float(b)))
            else:
                soft.append((grad_error_in_terms(g, a, b, dtype), float(a), float(b)))
    assert_within(hard, GRAD_ULP, "gradient, hard labels")
    assert_within(soft, GRAD_ULP, "gradient, soft labels (eps x terms)")


@FAST
@given(st.floats(0, 1), st.floats(-1e3, 1e3))
def test_gradient_matches_oracle_hypothesis(y, z):
    g = ch.bce_with_logits_grad(y, z, reduction="sum")
    if y in (0, 1):
        assert ulp_error(g, grad_exact(y, z)[0]) <= GRAD_ULP
    else:
        assert grad_error_in_terms(g, y, z, np.float64) <= GRAD_ULP


def test_gradient_keeps_digits_deep_in_saturation():
    # reference-facts: sigma(40) - 1 is -4.2e-18, which the naive sigma(z) - y rounds to 0
    g = ch.bce_with_logits_grad(1.0, 40.0, reduction="sum")
    assert 1 / (1 + np.exp(-40.0)) - 1.0 == 0.0
    assert g < 0 and ulp_error(g, grad_exact(1.0, 40.0)[0]) <= GRAD_ULP
    assert f"{float(g):.2g}" == "-4.2e-18"
    g0 = ch.bce_with_logits_grad(0.0, -700.0, reduction="sum")
    assert ulp_error(g0, grad_exact(0.0, -700.0)[0]) <= GRAD_ULP and g0 > 0


def test_mean_loss_matches_oracle():
    rng = np.random.default_rng(3)
    y = rng.uniform(0, 1, (40, 3))
    y[::4] = np.round(y[::4])
    z = rng.uniform(-50, 50, (40, 3))
    exact = mp.fsum(loss_exact(a, b) for a, b in zip(y.ravel(), z.ravel())) / y.size
    assert ulp_error(ch.bce_with_logits(y, z), exact) <= 16


# ----------------------------------------------------------------------------- derivatives
def test_gradient_matches_central_finite_differences():
    rng = np.random.default_rng(11)
    n = 30
    y = np.concatenate([np.ones(8), np.zeros(8), rng.uniform(0, 1, n - 16)])
    z = rng.uniform(-25, 25, n)
    w = rng.uniform(0, 2, n)
    for kwargs in ({}, {"sample_weight": w}, {"reduction": "sum"}, {"sample_weight": w, "reduction": "sum"}):
        grad = ch.bce_with_logits_grad(y, z, **kwargs)
        h = 1e-6
        fd = np.array([(ch.bce_with_logits(y, z + e, **kwargs) - ch.bce_with_logits(y, z - e, **kwargs)) / (2 * h)
                       for e in np.eye(n) * h])
        scale = max(1.0, float(ch.bce_with_logits(y, z, **kwargs)))
        np.testing.assert_allclose(fd, grad, rtol=1e-6, atol=1e-8 * scale, err_msg=str(kwargs.keys()))


def test_second_derivative_is_sigma_one_minus_sigma():
    z = np.linspace(-20, 20, 81)
    h = 1e-5
    for label in (0.0, 0.3, 1.0):
        y = np.full_like(z, label)
        fd = (ch.bce_with_logits_grad(y, z + h, reduction="none")
              - ch.bce_with_logits_grad(y, z - h, reduction="none")) / (2 * h)
        s = np.array([float(sigmoid_exact(v) * (1 - sigmoid_exact(v))) for v in z])
        np.testing.assert_allclose(fd, s, rtol=1e-6, atol=1e-11)


# ----------------------------------------------------------------------------- properties
@FAST
@given(st.floats(0, 1), st.floats(allow_nan=False))
def test_loss_is_non_negative_and_gradient_bounded(y, z):
    loss = ch.bce_with_logits(y, z)
    g = ch.bce_with_logits_grad(y, z)
    assert loss >= 0 and not math.isnan(loss)
    assert -1 <= g <= 1


@FAST
@given(st.floats(0, 1), st.floats(-500, 500), st.floats(1e-3, 5))
def test_loss_is_convex_in_the_logit(y, z0, step):
    z = z0 + step * np.arange(-10, 11)
    losses = ch.bce_with_logits(np.full_like(z, y), z, reduction="none")
    second = losses[:-2] - 2 * losses[1:-1] + losses[2:]
    tolerance = 8 * np.finfo(float).eps * (losses[:-2] + 2 * losses[1:-1] + losses[2:])
    assert np.all(second >= -tolerance)


@FAST
@given(st.floats(0.5, 1), st.floats(allow_nan=False))
def test_symmetry_is_exact_when_one_minus_y_is_exact(y, z):
    # for y >= 1/2, 1 - y is exact and so is 1 - (1 - y): both calls multiply the same numbers
    assert 1 - (1 - y) == y
    a = ch.bce_with_logits(y, z, reduction="none")
    b = ch.bce_with_logits(1 - y, -z, reduction="none")
    assert a == b
    assert ch.bce_with_logits_grad(y, z, reduction="none") == -ch.bce_with_logits_grad(1 - y, -z, reduction="none")


@FAST
@given(st.floats(allow_nan=False))
def test_sigmoid_reflection_to_ulp(z):
    s, t = ch.sigmoid(z), ch.sigmoid(-z)
    bound = SIGMOID_ULP * (np.spacing(s) + np.spacing(t))
    assert abs(t - (1 - s)) <= bound


@FAST
@given(st.floats(allow_nan=False), st.floats(allow_nan=False))
def test_sigmoid_is_monotone_and_in_unit_interval(a, b):
    lo, hi = min(a, b), max(a, b)
    assert 0 <= ch.sigmoid(lo) <= ch.sigmoid(hi) <= 1


@FAST
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_sigmoid_applied_twice_has_a_loss_floor(z):
    # the chapter's pitfall: logits squeezed into [0, 1] cannot push the loss below log(1 + 1/e)
    floor = math.log1p(math.exp(-1.0))
    assert ch.bce_with_logits(1.0, ch.sigmoid(z)) >= floor * (1 - 4e-16)


@FAST
@given(st.floats(0, 1), st.floats(-60, 60))
def test_minimum_for_a_soft_label_is_at_its_log_odds(y, z):
    # convex with zero gradient at logit(y): no logit does better
    if 0 < y < 1:
        z_star = math.log(y) - math.log1p(-y)
        assert ch.bce_with_logits(y, z) >= ch.bce_with_logits(y, z_star) * (1 - 1e-14)


# ----------------------------------------------------------------------------- infinities
def test_limits_at_infinite_logits():
    z = np.array([np.inf, np.inf, np.inf, -np.inf, -np.inf, -np.inf])
    y = np.array([1.0, 0.3, 0.0, 0.0, 0.7, 1.0])
    assert list(ch.sigmoid(z)) == [1, 1, 1, 0, 0, 0]
    losses = ch.bce_with_logits(y, z, reduction="none")
    assert list(losses) == [0, np.inf, np.inf, 0, np.inf, np.inf]
    assert list(ch.bce_with_logits_grad(y, z, reduction="none")) == [0.0, 0.7, 1.0, 0.0, -0.7, -1.0]
    assert ch.bce_with_logits(y, z) == np.inf
    assert ch.bce_with_logits(y[[0, 3]], z[[0, 3]]) == 0


def test_zero_weight_removes_an_infinite_loss():
    y, z = np.array([0.0, 1.0]), np.array([np.inf, 2.0])
    w = np.array([0.0, 1.0])
    assert ch.bce_with_logits(y, z, sample_weight=w) == ch.bce_with_logits(1.0, 2.0)
    assert list(ch.bce_with_logits(y, z, sample_weight=w, reduction="none")) == [0, ch.bce_with_logits(1.0, 2.0)]


def test_huge_logits_stay_finite_and_the_mean_does_not_overflow():
    z = np.array([1.5e308, 1.7e308])
    y = np.zeros(2)
    assert list(ch.bce_with_logits(y, z, reduction="none")) == [1.5e308, 1.7e308]
    assert ch.bce_with_logits(y, z) == 1.6e308
    assert ch.bce_with_logits(y, z, reduction="sum") == np.inf     # the sum itself exceeds the range
    assert ch.bce_with_logits(y, -z) == 0
    assert ch.bce_with_logits(np.ones(2), -z) == 1.6e308


# ----------------------------------------------------------------------------- reductions
def test_reductions_and_weights():
    rng = np.random.default_rng(5)
    y, z = rng.uniform(0, 1, (6, 4)), rng.normal(0, 4, (6, 4))
    w = rng.uniform(0, 3, (6, 4))
    per = ch.bce_with_logits(y, z, reduction="none")
    assert per.shape == (6, 4)
    assert ch.bce_with_logits(y, z, reduction="sum") == pytest.approx(np.sum(per), rel=1e-15)
    assert ch.bce_with_logits(y, z) == pytest.approx(np.sum(per) / 24, rel=1e-15)
    np.testing.assert_array_equal(ch.bce_with_logits(y, z, sample_weight=w, reduction="none"), w * per)
    assert ch.bce_with_logits(y, z, sample_weight=w, reduction="sum") == pytest.approx(np.sum(w * per), rel=1e-15)
    assert ch.bce_with_logits(y, z, sample_weight=w) == pytest.approx(np.sum(w * per) / np.sum(w), rel=1e-15)
    # weights broadcast to the loss shape: one weight per row, or a scalar
    row_w = rng.uniform(0, 3, (6, 1))
    assert ch.bce_with_logits(y, z, sample_weight=row_w) == pytest.approx(
        np.sum(row_w * per) / np.sum(np.broadcast_to(row_w, per.shape)), rel=1e-15)
    assert ch.bce_with_logits(y, z, sample_weight=2.5) == pytest.approx(ch.bce_with_logits(y, z), rel=1e-15)
    assert ch.bce_with_logits(y, z, sample_weight=2.0, reduction="sum") == pytest.approx(
        2 * ch.bce_with_logits(y, z, reduction="sum"), rel=1e-15)


def test_gradient_reductions_and_weights():
    rng = np.random.default_rng(6)
    y, z = rng.uniform(0, 1, 10), rng.normal(0, 4, 10)
    w = rng.uniform(0, 3, 10)
    per = ch.bce_with_logits_grad(y, z, reduction="none")
    s = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(per, s - y, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(ch.bce_with_logits_grad(y, z, reduction="sum"), per)
    np.testing.assert_array_equal(ch.bce_with_logits_grad(y, z), per / 10)
    np.testing.assert_array_equal(ch.bce_with_logits_grad(y, z, sample_weight=w, reduction="none"), per * w)
    np.testing.assert_array_equal(ch.bce_with_logits_grad(y, z, sample_weight=w, reduction="sum"), per * w)
    np.testing.assert_allclose(ch.bce_with_logits_grad(y, z, sample_weight=w), per * w / np.sum(w), rtol=1e-15)


def test_scalars_give_numpy_scalars_and_shapes_are_kept():
    assert isinstance(ch.sigmoid(0.0), np.float64) and ch.sigmoid(0.0) == 0.5
    assert isinstance(ch.bce_with_logits(1.0, 0.0), np.float64)
    # log1p(e^0) and log(2) are two roundings of the same number: within 2 ULP, not bit for bit
    assert abs(ch.bce_with_logits(1.0, 0.0) - math.log(2)) <= 2 * np.spacing(math.log(2))
    assert isinstance(ch.bce_with_logits_grad(1.0, 0.0), np.float64)
    assert ch.bce_with_logits_grad(1.0, 0.0) == -0.5
    assert ch.sigmoid(np.zeros((2, 3, 4))).shape == (2, 3, 4)
    assert ch.bce_with_logits_grad(np.ones((2, 3)), np.zeros((2, 3))).shape == (2, 3)
    assert ch.sigmoid(np.array([])).shape == (0,)


# ----------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_dtype_is_kept(dtype):
    z = np.array([-3.0, 0.5, 4.0], dtype)
    y = np.array([1.0, 0.25, 0.0])                      # float64 labels: converted to the logits' dtype
    assert ch.sigmoid(z).dtype == dtype
    assert type(ch.bce_with_logits(y, z)) is dtype
    assert type(ch.bce_with_logits(y, z, reduction="sum")) is dtype
    assert ch.bce_with_logits(y, z, reduction="none").dtype == dtype
    assert ch.bce_with_logits_grad(y, z).dtype == dtype
    assert type(ch.bce_with_logits(y, z, sample_weight=np.array([1.0, 2.0, 3.0]))) is dtype
    assert ch.bce_with_logits_grad(y, z, sample_weight=[1, 2, 3]).dtype == dtype


@pytest.mark.parametrize("n", [1, 65_520, 1_000_000])
def test_float16_mean_is_accumulated_wide(n):
    # issue 10: a float16 sum overflows past 65504 and a float16 count is inf from 65520 on;
    # the mean of n equal elements is the per-element value, rounded once to float16
    y, z = np.ones(n, np.float16), np.full(n, 2.0, np.float16)
    loss = ch.bce_with_logits(y, z)
    grad = ch.bce_with_logits_grad(y, z)             # about -0.12 / n: subnormal for large n
    assert type(loss) is np.float16 and grad.dtype == np.float16
    assert ulp_error(loss, softplus_exact(-2.0), np.float16) <= LOSS_ULP
    exact_grad = grad_exact(1.0, 2.0)[0] / n
    assert grad[0] != 0 and ulp_error(grad[0], exact_grad, np.float16) <= GRAD_ULP
    assert np.all(grad == grad[0])


def test_integer_and_boolean_inputs_become_float64():
    assert ch.sigmoid(np.array([0, 1, -2])).dtype == np.float64
    assert type(ch.bce_with_logits([1, 0], [3, -2])) is np.float64
    assert type(ch.bce_with_logits(np.array([True, False]), np.array([2.0, -1.0]))) is np.float64
    assert ch.bce_with_logits_grad([1, 0], [3, -2]).dtype == np.float64
    # float32 labels with float64 logits: float64
    assert type(ch.bce_with_logits(np.float32([1, 0]), np.array([2.0, -1.0]))) is np.float64


def test_float32_labels_are_rounded_to_the_working_dtype():
    y = 1 - 2.0**-53
    assert np.float32(y) == 1
    assert ch.bce_with_logits(y, np.float32(30.0)) == ch.bce_with_logits(1.0, np.float32(30.0))
    assert ch.bce_with_logits(y, 30.0) > ch.bce_with_logits(1.0, 30.0)


# ----------------------------------------------------------------------------- bad input
BAD = [
    ("shapes differ", [1.0, 0.0], [0.5], {}),
    ("no broadcasting of labels", [1.0], [0.5, 0.5], {}),
    ("2-d against 1-d", [[1.0, 0.0]], [0.5, 0.5], {}),
    ("NaN label", [np.nan], [0.0], {}),
    ("NaN logit", [1.0], [np.nan], {}),
    ("label below 0", [-0.1], [0.0], {}),
    ("label above 1", [1.0 + 2**-52], [0.0], {}),
    ("infinite label", [np.inf], [0.0], {}),
    ("empty", [], [], {}),
    ("empty 2-d", np.zeros((0, 3)), np.zeros((0, 3)), {}),
    ("text labels", ["1"], [0.0], {}),
    ("text logits", [1.0], ["0"], {}),
    ("object with None", [1.0, None], [0.0, 0.0], {}),
    ("complex logits", [1.0], [1j], {}),
    ("ragged", [[1.0], [0.0, 1.0]], [[0.0], [0.0, 0.0]], {}),
    ("unknown reduction", [1.0], [0.0], {"reduction": "average"}),
    ("reduction None", [1.0], [0.0], {"reduction": None}),
    ("negative weight", [1.0, 0.0], [0.0, 1.0], {"sample_weight": [1.0, -1.0]}),
    ("NaN weight", [1.0, 0.0], [0.0, 1.0], {"sample_weight": [1.0, np.nan]}),
    ("infinite weight", [1.0, 0.0], [0.0, 1.0], {"sample_weight": [1.0, np.inf]}),
    ("weight overflows float32", [1.0], np.float32([0.0]), {"sample_weight": [1e300]}),
    ("weights of the wrong shape", [1.0, 0.0], [0.0, 1.0], {"sample_weight": [1.0, 2.0, 3.0]}),
    ("weights with more dimensions", [1.0, 0.0], [0.0, 1.0], {"sample_weight": [[1.0, 2.0], [1.0, 2.0]]}),
    ("text weights", [1.0], [0.0], {"sample_weight": ["a"]}),
    ("weights sum to 0", [1.0, 0.0], [0.0, 1.0], {"sample_weight": [0.0, 0.0]}),
]


@pytest.mark.parametrize("function", ["bce_with_logits", "bce_with_logits_grad"])
@pytest.mark.parametrize("what, y, z, kwargs", BAD, ids=[b[0] for b in BAD])
def test_bad_input_raises_value_error(function, what, y, z, kwargs):
    with pytest.raises(ValueError) as info:
        getattr(ch, function)(y, z, **kwargs)
    assert str(info.value)


@pytest.mark.parametrize("function", ["bce_with_logits", "bce_with_logits_grad"])
def test_zero_weights_are_fine_for_sum_and_none(function):
    f = getattr(ch, function)
    assert np.all(f([1.0, 0.0], [0.0, 1.0], sample_weight=[0.0, 0.0], reduction="sum") == 0)
    assert np.all(f([1.0, 0.0], [0.0, 1.0], sample_weight=[0.0, 0.0], reduction="none") == 0)


@pytest.mark.parametrize("z", [[np.nan], ["a"], [1j], [1.0, None]])
def test_sigmoid_rejects_bad_input(z):
    with pytest.raises(ValueError):
        ch.sigmoid(z)


def test_messages_say_what_is_wrong():
    with pytest.raises(ValueError, match="shape"):
        ch.bce_with_logits([1.0, 0.0], [0.5])
    with pytest.raises(ValueError, match="NaN"):
        ch.bce_with_logits([1.0], [np.nan])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ch.bce_with_logits([2.0], [0.0])
    with pytest.raises(ValueError, match="empty"):
        ch.bce_with_logits([], [])
    with pytest.raises(ValueError, match="reduction"):
        ch.bce_with_logits([1.0], [0.0], reduction="avg")
    with pytest.raises(ValueError, match="sums to 0"):
        ch.bce_with_logits([1.0], [0.0], sample_weight=[0.0])


# ----------------------------------------------------------------------------- no warnings
def test_no_warnings_on_extreme_input():
    tiny, big = np.finfo(float).smallest_subnormal, np.finfo(float).max
    z = np.array([-np.inf, -big, -1e308, -1000.0, -745.0, -710.0, -40.0, -tiny, -0.0, 0.0, tiny,
                  40.0, 710.0, 745.0, 1000.0, 1e308, big, np.inf])
    labels = [0.0, 1e-300, 0.3, 1 - 2.0**-53, 1.0]
    with np.errstate(all="ignore"):            # the inputs, in each dtype (values clipped to its range)
        inputs = [np.clip(z, -np.finfo(d).max, np.finfo(d).max).astype(d) for d in (np.float64, np.float32, np.float16)]
        inputs = [np.where(np.isinf(z), z, zd).astype(zd.dtype) for zd in inputs]
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        for zd in inputs:
            ch.sigmoid(zd)
            for label in labels:
                y = np.full(zd.shape, label)
                for reduction in ("none", "sum", "mean"):
                    losses = ch.bce_with_logits(y, zd, reduction=reduction)
                    grads = ch.bce_with_logits_grad(y, zd, reduction=reduction)
                    assert not np.isnan(losses).any() and not np.isnan(grads).any()
                    assert np.isfinite(grads).all()
        ch.bce_with_logits(np.zeros(2), np.array([1.5e308, 1.7e308]))


# ----------------------------------------------------------------------------- across chapters
def test_agrees_with_the_probability_loss_of_the_bce_chapter():
    try:
        bce = load_chapter("bce").bce
    except (FileNotFoundError, LookupError, AttributeError):
        pytest.skip("the bce chapter is not available")
    rng = np.random.default_rng(9)
    y = np.concatenate([np.ones(20), np.zeros(20), rng.uniform(0, 1, 40)])
    z = rng.uniform(-5, 5, 80)
    p = 1 / (1 + np.exp(-z))                 # accurate enough for |z| <= 5: the loss changes by ~1e-15
    assert ch.bce_with_logits(y, z) == pytest.approx(bce(y, p), rel=1e-13)
    np.testing.assert_allclose(ch.bce_with_logits(y, z, reduction="none"), bce(y, p, reduction="none"),
                               rtol=1e-12)
