"""Tests of the claims of book/chapters/cce_gradients.ipynb (the softmax Jacobian, convexity and
temperature). That chapter exports nothing: it uses the functions of cce.ipynb, so these tests
check its statements about them, against mpmath (60 digits), central differences and plain
formulas written here.
"""
import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bookfunctions import load_chapter
from oracle import central_difference_gradient, mpf

ch = load_chapter("cce")
mp = mpmath.mp
mp.dps = 60
SETTINGS = settings(max_examples=100, deadline=None)
rows = st.integers(2, 6).flatmap(lambda k: st.lists(st.floats(-30, 30), min_size=k, max_size=k))


def softmax_exact(z):
    """softmax at 60 digits, from the definition (floats taken exactly, mpf kept as is)."""
    e = [mp.exp(v if isinstance(v, mpmath.mpf) else mpf(v)) for v in z]
    total = mp.fsum(e)
    return [v / total for v in e]


def jacobian_exact(z):
    p = softmax_exact(z)
    return [[p[i] * ((i == j) - p[j]) for j in range(len(z))] for i in range(len(z))]


def jacobian(z):
    p = ch.softmax(np.asarray(z, dtype=np.float64))
    return np.diag(p) - np.outer(p, p)


@SETTINGS
@given(rows)
def test_jacobian_matches_its_definition_at_60_digits(z):
    exact = jacobian_exact(z)
    got = jacobian(z)
    for i in range(len(z)):
        for j in range(len(z)):
            assert abs(mpf(got[i, j]) - exact[i][j]) <= 1e-15


@pytest.mark.parametrize("seed", range(5))
def test_jacobian_against_finite_differences_of_softmax(seed):
    z = np.random.default_rng(seed).normal(0, 3, 5)
    fd = np.array([central_difference_gradient(lambda x: ch.softmax(x)[i], z)
                   for i in range(5)])
    np.testing.assert_allclose(fd, jacobian(z), atol=1e-8)


@SETTINGS
@given(rows)
def test_jacobian_symmetric_psd_rows_sum_to_zero_eigenvalues_at_most_half(z):
    J = jacobian(z)
    assert np.array_equal(J, J.T)
    assert np.max(np.abs(J.sum(axis=1))) <= 1e-15
    values, vectors = np.linalg.eigh(J)
    assert values[0] >= -1e-15 and values[-1] <= 0.5 + 1e-15
    assert abs(values[0]) <= 1e-15                      # the flat direction ...
    if values[1] > 1e-9:                                # ... is 1, when it is the only one
        assert abs(abs(vectors[:, 0].sum()) - np.sqrt(len(z))) < 1e-6


@SETTINGS
@given(st.integers(2, 6).flatmap(lambda k: st.tuples(
    st.lists(st.floats(-30, 30), min_size=k, max_size=k),
    st.lists(st.floats(0.01, 1), min_size=k, max_size=k))))
def test_chain_rule_through_probabilities_gives_p_minus_y(data):
    z, raw = np.array(data[0]), np.array(data[1])
    y = raw / raw.sum()
    p = ch.softmax(z)
    chain = jacobian(z) @ ch.cce_grad(y[None], p[None], reduction="sum")[0]
    direct = ch.cce_with_logits_grad(y[None], z[None], reduction="sum")[0]
    np.testing.assert_allclose(chain, direct, atol=1e-10 * max(1.0, np.max(np.abs(y / p))))


def test_chain_rule_is_nan_where_the_probability_underflowed():
    z, y = np.array([[-800.0, 0.0]]), np.array([[1.0, 0.0]])
    p = ch.softmax(z)
    assert p[0, 0] == 0
    with np.errstate(invalid="ignore"):
        chain = jacobian(z[0]) @ ch.cce_grad(y, p)[0]
    assert np.isnan(chain).all()
    np.testing.assert_array_equal(ch.cce_with_logits_grad(y, z)[0], [-1.0, 1.0])
    assert float(ch.cce_with_logits(y, z)) == 800.0


@pytest.mark.parametrize("seed", range(5))
def test_hessian_of_cce_with_logits_is_the_jacobian(seed):
    rng = np.random.default_rng(seed)
    z, y = rng.normal(0, 2, 4), rng.dirichlet(np.ones(4))
    columns = [central_difference_gradient(
        lambda x: ch.cce_with_logits_grad(y[None], x[None], reduction="sum")[0, i], z)
        for i in range(4)]
    np.testing.assert_allclose(np.array(columns), jacobian(z), atol=1e-8)


@SETTINGS
@given(rows, st.floats(-50, 50), st.integers(0, 5))
def test_loss_is_flat_along_ones_and_convex_along_lines(z, shift, c):
    z = np.array(z)
    c = c % len(z)
    base = ch.sparse_cce_with_logits([c], z[None])
    moved = ch.sparse_cce_with_logits([c], (z + shift)[None])
    assert abs(base - moved) <= 1e-12 * max(1.0, abs(shift) + np.max(np.abs(z)))
    v = np.random.default_rng(len(z)).normal(size=len(z))
    t = np.linspace(-3, 3, 13)
    values = ch.sparse_cce_with_logits(np.full(13, c), z + t[:, None] * v, reduction="none")
    second = values[:-2] - 2 * values[1:-1] + values[2:]
    assert np.all(second >= -1e-9)                      # midpoint convexity on a grid


@pytest.mark.parametrize("temperature", [0.3, 1.0, 2.5])
def test_temperature_gradients(temperature):
    rng = np.random.default_rng(int(temperature * 10))
    z, y = rng.normal(0, 2, 4), rng.dirichlet(np.ones(4))
    loss = lambda x, t=temperature: float(ch.cce_with_logits(y[None], x[None] / t))
    p_t = ch.softmax(z / temperature)
    np.testing.assert_allclose(central_difference_gradient(loss, z), (p_t - y) / temperature,
                               atol=1e-8)
    d_dt = (loss(z, temperature + 1e-6) - loss(z, temperature - 1e-6)) / 2e-6
    assert d_dt == pytest.approx(-np.dot(p_t - y, z) / temperature**2, abs=1e-8)


@pytest.mark.parametrize("seed", range(3))
def test_entropy_grows_with_temperature_at_rate_var_over_t_cubed(seed):
    z = [mpf(v) for v in np.random.default_rng(seed).normal(0, 2, 4)]

    def entropy(t):
        p = softmax_exact([v / t for v in z])
        return -mp.fsum(pk * mp.log(pk) for pk in p)

    for t in (mp.mpf("0.5"), mp.mpf(1), mp.mpf(3)):
        p = softmax_exact([v / t for v in z])
        mean = mp.fsum(pk * v for pk, v in zip(p, z))
        variance = mp.fsum(pk * (v - mean) ** 2 for pk, v in zip(p, z))
        assert abs(mp.diff(entropy, t) - variance / t**3) < mp.mpf(10) ** -40
        assert variance > 0


def test_gradient_descent_on_a_hard_label_never_converges():
    z, y = np.zeros((1, 3)), np.array([[1.0, 0.0, 0.0]])
    margins, losses = [], []
    for step in range(1, 10_001):
        z -= ch.cce_with_logits_grad(y, z)
        if step in (10, 100, 1_000, 10_000):
            margins.append(z[0, 0] - z[0, 1:].max())
            losses.append(float(ch.cce_with_logits(y, z)))
    assert all(b > a for a, b in zip(margins, margins[1:]))
    assert all(b < a for a, b in zip(losses, losses[1:]))
    for a, b in zip(margins[1:], margins[2:]):          # about log 10 per decade
        assert abs((b - a) - np.log(10)) < 0.05
    assert abs(z.sum()) < 1e-12
