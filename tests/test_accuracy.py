"""Tests for the accuracy chapter (book/chapters/accuracy.ipynb).

The chapter measures the book's own functions, loaded from their chapters, and teaches two-sum
and the condition number. Tested here, against a 60-digit mpmath oracle written from the
definitions (in forms without cancellation):

1. the losses of the reference functions (bce_with_logits, cce_with_logits,
   sparse_cce_with_logits, bce) within LOSS_ULP across the float64 range and in float32;
2. their gradients within GRAD_ULP ULP of their larger term, the softmax within LOSS_ULP;
3. two-sum (`_two_sum` of the cce chapter): s + e == a + b exactly, checked with Fraction;
4. the chapter's other claims: the condition number of log(1 + e^z) against a difference
   quotient of the exact loss, PyTorch's zeros and whole multiples of ULP(z), the max form's
   loss of digits for labels near 1, and the oracle pitfall.

The fast variants live in the speed chapter (tests/test_speed.py, which imports the oracle
helpers below).
"""
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bookfunctions import load_chapter
from oracle import mp, mpf, ulp_error

logits_ch = load_chapter("logits")
cce_ch = load_chapter("cce")
bce_ch = load_chapter("bce")

LOSS_ULP = 4.0
GRAD_ULP = 4.0
SETTINGS = settings(max_examples=150, deadline=None)


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

EDGE_ROWS = [[0.0, -720.0, -1e4], [0.0, -744.0, -746.0], [-705.0, -710.0, -2000.0],
             [-705.0, -1.5e3, -700.0], [690.0, 689.5, 0.0], [709.0, 1.0, 0.0], [1e300, 0.0, -1e300],
             [-1e300, -1e300, -1e300], [40.0, 40.0, 0.0], [0.3, -1.7, 41.3]]


# --------------------------------------------------------------------------------------------
# 1. The reference losses against the oracle, across the range
# --------------------------------------------------------------------------------------------
def test_bce_with_logits_float64_grid_across_the_range():
    losses = logits_ch.bce_with_logits(GRID_Y, GRID_Z, reduction="none")
    exact = [exact_bce_logits(y, z) for y, z in zip(GRID_Y, GRID_Z)]
    assert worst_ulp(losses, exact) <= LOSS_ULP


def test_bce_with_logits_float32_grid():
    y32 = GRID_Y.astype(np.float32)
    z32 = np.clip(GRID_Z, -3e38, 3e38).astype(np.float32)
    losses = logits_ch.bce_with_logits(y32, z32, reduction="none")
    assert losses.dtype == np.float32
    exact = [exact_bce_logits(y, z) for y, z in zip(y32, z32)]
    assert worst_ulp(losses, exact, np.float32) <= LOSS_ULP


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_with_logits_random_heavy_tailed_and_soft(dtype):
    rng = np.random.default_rng(11)
    z = (rng.standard_cauchy(3000) * 10).astype(dtype)
    y = rng.uniform(0, 1, 3000)
    y[:1000] = np.round(y[:1000])
    y[1000:1500] = 1 - rng.uniform(0, 1e-6, 500)           # soft labels near 1 (distillation)
    y = y.astype(dtype)
    exact = [exact_bce_logits(a, b) for a, b in zip(y, z)]
    assert worst_ulp(logits_ch.bce_with_logits(y, z, reduction="none"), exact, dtype) <= LOSS_ULP


def test_bce_from_probabilities_across_the_range():
    """The atlas and the figure: `bce` within a few ULP from subnormal p to p = 1."""
    from oracle import bce_terms
    p = np.concatenate([np.logspace(-320, -1, 120), 1 - np.logspace(-1, -16, 60), [0.0, 1.0]])
    for label in (0.0, 1.0, 0.3, 1e-300, 1 - 2**-53):
        y = np.full_like(p, label)
        assert worst_ulp(bce_ch.bce(y, p, reduction="none"),
                         [bce_terms(label, v) for v in p]) <= LOSS_ULP


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cce_with_logits_rows_hard_and_soft(dtype):
    rng = np.random.default_rng(21)
    worst = 0.0
    for z, labels in ROW_SETS:
        z = np.clip(z, -3e38, 3e38).astype(dtype)
        k = z.shape[1]
        for y in (np.eye(k)[labels], rng.dirichlet(np.full(k, 0.3), len(z))):
            y = y.astype(dtype)
            losses = cce_ch.cce_with_logits(y, z, reduction="none")
            assert losses.dtype == dtype
            worst = max(worst, worst_ulp(losses, [exact_cce_row(a, b) for a, b in zip(y, z)],
                                         dtype))
    assert worst <= LOSS_ULP


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sparse_cce_with_logits_rows(dtype):
    worst = 0.0
    for z, labels in ROW_SETS:
        z = np.clip(z, -3e38, 3e38).astype(dtype)
        losses = cce_ch.sparse_cce_with_logits(labels, z, reduction="none")
        exact = [exact_cce_row(np.eye(z.shape[1])[c], row) for c, row in zip(labels, z)]
        worst = max(worst, worst_ulp(losses, exact, dtype))
    assert worst <= LOSS_ULP


@pytest.mark.parametrize("row", EDGE_ROWS)
def test_cce_edge_rows(row):
    """Subnormal terms, huge logits, ties."""
    z = np.array([row])
    for label in range(3):
        exact = exact_cce_row(np.eye(3)[label], row)
        assert ulp_error(cce_ch.sparse_cce_with_logits([label], z), exact) <= LOSS_ULP
        assert ulp_error(cce_ch.cce_with_logits(np.eye(3)[[label]], z), exact) <= LOSS_ULP


def test_confident_rows_keep_their_digits():
    """The motivating numbers: log1p(e^-40) = 4.25e-18, not 0, and the gradient -sigma(-40)."""
    exact = mp.log1p(mp.exp(-40))
    assert ulp_error(logits_ch.bce_with_logits([0.0], [-40.0]), exact) <= 1
    assert ulp_error(cce_ch.sparse_cce_with_logits([0], [[40.0, 0.0]]), exact) <= 1
    assert ulp_error(cce_ch.cce_with_logits([[1.0, 0.0]], [[40.0, 0.0]]), exact) <= 1
    grad = logits_ch.bce_with_logits_grad([1.0], [40.0])[0]
    assert ulp_error(grad, -1 / (1 + mp.exp(40))) <= 1


# --------------------------------------------------------------------------------------------
# 2. Gradients and softmax
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



# --------------------------------------------------------------------------------------------
# 3. Two-sum
# --------------------------------------------------------------------------------------------
finite = st.floats(allow_nan=False, allow_infinity=False)


@SETTINGS
@given(a=finite, b=finite)
def test_two_sum_is_exact(a, b):
    if not math.isfinite(a + b):
        return                                                 # overflow: no error term
    s, e = cce_ch._two_sum(a, b)
    assert s == a + b
    assert Fraction(s) + Fraction(e) == Fraction(a) + Fraction(b)


def test_two_sum_on_arrays_and_the_chapter_examples():
    rng = np.random.default_rng(5)
    a = np.ldexp(rng.normal(0, 1, 5000), rng.integers(-60, 60, 5000))
    b = np.ldexp(rng.normal(0, 1, 5000), rng.integers(-60, 60, 5000))
    s, e = cce_ch._two_sum(a, b)
    assert all(Fraction(x) + Fraction(y) == Fraction(u) + Fraction(v)
               for x, y, u, v in zip(a.tolist(), b.tolist(), s.tolist(), e.tolist()))
    assert cce_ch._two_sum(2.0**53, 1.0) == (2.0**53, 1.0)     # exercise: a tie to even
    assert cce_ch._two_sum(1.0, 2.0**-60) == (1.0, 2.0**-60)
    hi, lo = cce_ch._two_sum(1.3, -40.0)
    exact = mp.exp(mpf(1.3) - mpf(40.0))
    assert ulp_error(np.exp(hi) * (1 + lo), exact) <= 2          # the split: about an ULP
    assert ulp_error(np.exp(hi), exact) > 4                      # the rounded difference: not


def test_rounded_difference_costs_up_to_half_the_gap():
    """The figure: e^fl(z - m) is off by at most about |z - m| ULP (plus the exp's own)."""
    rng = np.random.default_rng(1)
    m = rng.uniform(-3, 3, 300)
    z = m - np.logspace(-1, np.log10(700), 300) * rng.uniform(0.9, 1.1, 300)
    for zj, mj in zip(z, m):
        exact = mp.exp(mpf(zj) - mpf(mj))
        assert ulp_error(np.exp(zj - mj), exact) <= (mj - zj) + 1


# --------------------------------------------------------------------------------------------
# 4. The chapter's other claims
# --------------------------------------------------------------------------------------------
def kappa(z, y=0.0):
    """|z l'(z) / l(z)| with l'(z) = (1 - y) sigma(z) - y sigma(-z), from the definitions."""
    z, y = mpf(z), mpf(y)
    slope = (1 - y) / (1 + mp.exp(-z)) - y / (1 + mp.exp(z))
    return abs(z * slope / exact_bce_logits(y, z))


@pytest.mark.parametrize("z, y", [(-700.0, 0.0), (-40.0, 0.0), (-5.0, 0.0), (5.0, 0.0),
                                  (40.0, 1.0), (40.0, 0.0), (41.3, 1 - 2.0**-20)])
def test_condition_number_against_a_difference_quotient(z, y):
    """kappa = relative change of the loss / relative change of z, for a tiny change of z."""
    y_m = mpf(y)

    def loss(t):                                                 # t: an mpmath number, unrounded
        return y_m * mp.log1p(mp.exp(-t)) + (1 - y_m) * mp.log1p(mp.exp(t))

    z_m = mpf(z)
    dz = z_m * mp.mpf("1e-25")
    ratio = ((loss(z_m + dz) - loss(z_m)) / loss(z_m)) / (dz / z_m)
    assert abs(abs(ratio) - kappa(z, y)) <= 1e-6 * kappa(z, y)


def test_condition_number_limits():
    assert abs(kappa(-700.0) / 700 - 1) < 1e-10                 # kappa ~ |z| for z -> -inf
    assert abs(kappa(40.0, 1.0) / 40 - 1) < 1e-10               # confidently right
    assert abs(kappa(40.0, 0.0) - 1) < 1e-10                    # confidently wrong


def test_max_form_loses_digits_for_labels_near_one():
    def max_form(y, z):
        return np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    for k, low in ((10, 1e2), (20, 1e5), (40, 1e11), (50, 1e14)):
        y = 1 - 2.0**-k
        exact = exact_bce_logits(y, 41.3)
        assert ulp_error(max_form(np.array([y]), np.array([41.3]))[0], exact) > low
        assert ulp_error(logits_ch.bce_with_logits([y], [41.3]), exact) <= LOSS_ULP
    exact = exact_bce_logits(0.95, 41.3)                        # label smoothing: harmless
    assert ulp_error(max_form(np.array([0.95]), np.array([41.3]))[0], exact) <= 16


def test_an_oracle_given_the_decimal_measures_the_wrong_thing():
    book = bce_ch.bce([0.0], [0.9999999])
    assert ulp_error(book, -mp.log1p(-mpf(0.9999999))) <= LOSS_ULP
    assert ulp_error(book, -mp.log1p(-mp.mpf("0.9999999"))) > 1e5


def test_pytorch_zeros_and_whole_multiples_of_ulp_z():
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F
    assert F.cross_entropy(torch.tensor([[40.0, 0.0]], dtype=torch.float64),
                           torch.tensor([0])).item() == 0.0
    z = -np.linspace(1, 45, 200)
    out = F.binary_cross_entropy_with_logits(torch.from_numpy(z), torch.zeros(200, dtype=torch.float64),
                                             reduction="none").numpy()
    assert (np.mod(out, np.spacing(np.abs(z))) == 0).all()       # a difference of numbers near |z|
    exact = [exact_bce_logits(0.0, v) for v in z]
    below_half = np.array([e < np.spacing(abs(v)) / 2 for e, v in zip(exact, z)])
    assert (out[below_half] == 0).all() and below_half.any()
