"""The reductions chapter: its focal loss (`focal_loss_with_logits` and its gradient, against
mpmath, finite differences and their properties), and the claims it makes about reductions,
minibatch accumulation, weights, `pos_weight` and label smoothing, checked against the book's
functions, exact rational arithmetic and PyTorch.

Bounds asserted (the chapter prints the first):
  focal loss, per element        <= 4 + 2 gamma ULP (each factor sigma(-t) of the weight brings its
                                    rounding error; measured worst here 1.3 (gamma 0) to 5.1 (gamma 5))
  its gradient, per element      <= 6 + 2 gamma ULP (measured worst 1.8 to 6.0)
  PyTorch float64 vs the book    relative 1e-13
PyTorch is not in requirements.txt: a missing one FAILS (never skips) with the install line.
"""
import itertools
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from conftest import require  # noqa: E402  (shared with the other framework tests)
from oracle import exact_focal  # noqa: E402
from bookfunctions import load_chapter
from oracle import central_difference_gradient

red = load_chapter("reductions")
bce_ch, logits_ch, cce_ch = load_chapter("bce"), load_chapter("logits"), load_chapter("cce")
mp = mpmath.mp
mp.dps = 60

F64_REL = 1e-13        # float64 PyTorch vs the book


def ulp_focal(gamma):
    return 4 + 2 * gamma


def ulp_focal_grad(gamma):
    return 6 + 2 * gamma


# ------------------------------------------------------------------ mpmath oracle for the focal loss


def exact_focal_grad(y, z, gamma, alpha=None):
    """d/dz, in closed form from the definitions (sigma(-t)^g log(1+e^-t)), evaluated in mpmath."""
    s = 1 if y == 1 else -1
    t = s * mp.mpf(float(z))
    alpha_t = 1 if alpha is None else (mp.mpf(alpha) if y == 1 else 1 - mp.mpf(alpha))
    sig_neg, sig_pos = 1 / (1 + mp.exp(t)), 1 / (1 + mp.exp(-t))
    d_dt = -alpha_t * sig_neg ** gamma * (gamma * sig_pos * mp.log1p(mp.exp(-t)) + sig_neg)
    return s * d_dt


def ulps(computed, exact, dtype=np.float64):
    computed = float(computed)
    if exact == 0:
        return 0.0 if computed == 0 else np.inf
    return float(abs(mp.mpf(computed) - exact) / mp.mpf(float(np.spacing(dtype(abs(float(exact)))))))


SMALL = np.logspace(-300, 0, 31)
LOGITS = np.concatenate([-SMALL, [0.0], SMALL, np.linspace(-700, 700, 281), [-36.7, 36.7, -745.0, 745.0]])
TINY = np.finfo(np.float64).tiny


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 5.0])
@pytest.mark.parametrize("label", [0.0, 1.0])
@pytest.mark.parametrize("alpha", [None, 0.25])
def test_focal_matches_mpmath_across_float64(gamma, label, alpha):
    y = np.full_like(LOGITS, label)
    got = red.focal_loss_with_logits(y, LOGITS, gamma=gamma, alpha=alpha, reduction="none")
    grad = red.focal_loss_with_logits_grad(y, LOGITS, gamma=gamma, alpha=alpha, reduction="none")
    checked = 0
    for g, d, z in zip(got, grad, LOGITS):
        exact = exact_focal(label, z, gamma, alpha)
        if exact > TINY:                         # below that the float64 result may be subnormal
            assert ulps(g, exact) <= ulp_focal(gamma), (z, float(g), exact)
            checked += 1
        else:
            assert 0 <= g <= 2 * TINY
        exact_d = exact_focal_grad(label, z, gamma, alpha)
        if abs(exact_d) > TINY:
            assert ulps(d, exact_d) <= ulp_focal_grad(gamma), (z, float(d), exact_d)
    assert checked > 100


@pytest.mark.parametrize("gamma", [0.0, 2.0])
def test_focal_float32_in_float32_out_and_accurate(gamma):
    z = np.concatenate([-np.logspace(-30, 2, 40), np.logspace(-30, 2, 40)]).astype(np.float32)
    y = (np.arange(z.size) % 2).astype(np.float32)
    got = red.focal_loss_with_logits(y, z, gamma=gamma, reduction="none")
    assert got.dtype == np.float32
    assert red.focal_loss_with_logits(y, z, gamma=gamma).dtype == np.float32
    assert red.focal_loss_with_logits(y, z, gamma=gamma, reduction="sum").dtype == np.float32
    assert red.focal_loss_with_logits_grad(y, z, gamma=gamma).dtype == np.float32
    for g, a, b in zip(got, y, z):
        exact = exact_focal(a, b, gamma)
        if exact > np.finfo(np.float32).tiny:
            assert ulps(g, exact, np.float32) <= ulp_focal(gamma), (b, a)


def test_focal_integer_logits_give_float64_and_extremes_are_finite():
    assert red.focal_loss_with_logits([1, 0], [2, -3]).dtype == np.float64
    z = np.array([-1e300, -1e6, 1e6, 1e300])
    for y in (0.0, 1.0):
        loss = red.focal_loss_with_logits(np.full(4, y), z, reduction="none")
        grad = red.focal_loss_with_logits_grad(np.full(4, y), z, reduction="none")
        assert np.isfinite(loss).all() and np.isfinite(grad).all()


def test_focal_gradient_matches_finite_differences():
    rng = np.random.default_rng(11)
    y, z, w = (rng.random(30) < 0.5).astype(float), rng.normal(0, 3, 30), rng.random(30)
    for reduction in ("sum", "mean"):
        grad = red.focal_loss_with_logits_grad(y, z, gamma=1.5, alpha=0.3, sample_weight=w, reduction=reduction)
        h = 1e-6
        for k in range(30):
            step = np.zeros(30)
            step[k] = h
            f = lambda x: red.focal_loss_with_logits(y, x, gamma=1.5, alpha=0.3, sample_weight=w, reduction=reduction)
            assert (f(z + step) - f(z - step)) / (2 * h) == pytest.approx(grad[k], rel=1e-6, abs=1e-8)   # FD error ~ eps*|f|/h


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, 1.0]), st.floats(-700, 700)), min_size=1, max_size=20),
       st.floats(0, 6))
def test_focal_properties(pairs, gamma):
    y, z = np.array(pairs).T
    bce = logits_ch.bce_with_logits(y, z, reduction="none")
    focal = red.focal_loss_with_logits(y, z, gamma=gamma, reduction="none")
    # gamma = 0 is cross-entropy; the focal weight never exceeds 1
    np.testing.assert_allclose(red.focal_loss_with_logits(y, z, gamma=0, reduction="none"), bce, rtol=4e-16, atol=0)
    assert np.all(focal <= bce * (1 + 1e-15))
    assert np.all(focal >= 0)
    # mirror symmetry: (y, z) and (1 - y, -z) are the same sample
    np.testing.assert_array_equal(focal, red.focal_loss_with_logits(1 - y, -z, gamma=gamma, reduction="none"))
    # larger gamma, smaller loss
    assert np.all(red.focal_loss_with_logits(y, z, gamma=gamma + 1, reduction="none") <= focal)


def test_focal_reductions_and_weights():
    rng = np.random.default_rng(4)
    y, z, w = (rng.random((5, 3)) < 0.5).astype(float), rng.normal(0, 2, (5, 3)), rng.random((5, 1))
    none = red.focal_loss_with_logits(y, z, sample_weight=w, reduction="none")
    plain = red.focal_loss_with_logits(y, z, reduction="none")
    np.testing.assert_array_equal(none, plain * w)
    total = red.focal_loss_with_logits(y, z, sample_weight=w, reduction="sum")
    assert total == pytest.approx(np.sum(plain * w), rel=1e-15)
    mean = red.focal_loss_with_logits(y, z, sample_weight=w, reduction="mean")
    assert mean == pytest.approx(np.sum(plain * w) / (3 * w.sum()), rel=1e-15)
    assert red.focal_loss_with_logits(y, z) == pytest.approx(plain.mean(), rel=1e-15)
    g_sum = red.focal_loss_with_logits_grad(y, z, sample_weight=w, reduction="sum")
    g_none = red.focal_loss_with_logits_grad(y, z, sample_weight=w, reduction="none")
    g_mean = red.focal_loss_with_logits_grad(y, z, sample_weight=w, reduction="mean")
    np.testing.assert_array_equal(g_sum, g_none)
    np.testing.assert_allclose(g_mean, g_sum / (3 * w.sum()), rtol=1e-15)


@pytest.mark.parametrize("function", ["focal_loss_with_logits", "focal_loss_with_logits_grad"])
@pytest.mark.parametrize("args, kwargs, message", [
    (([1.0, 0.0], [[1.0], [2.0]]), {}, "shape"),
    (([1.0], [np.nan]), {}, "NaN"),
    (([1.0], [np.inf]), {}, "finite"),
    (([np.nan], [1.0]), {}, "NaN"),
    (([0.5], [1.0]), {}, "hard labels"),
    (([2.0], [1.0]), {}, "hard labels"),
    (([], []), {}, "empty"),
    ((["a"], [1.0]), {}, "real numbers"),
    (([1.0], [1 + 2j]), {}, "real numbers"),
    (([1.0], [1.0]), {"gamma": -1.0}, "gamma"),
    (([1.0], [1.0]), {"gamma": np.nan}, "gamma"),
    (([1.0], [1.0]), {"gamma": "2"}, "gamma"),
    (([1.0], [1.0]), {"alpha": 1.5}, "alpha"),
    (([1.0], [1.0]), {"reduction": "avg"}, "reduction"),
    (([1.0], [1.0]), {"sample_weight": [-1.0]}, "non-negative"),
    (([1.0], [1.0]), {"sample_weight": [np.nan]}, "NaN"),
    (([1.0, 0.0], [1.0, 2.0]), {"sample_weight": [1.0, 2.0, 3.0]}, "broadcast"),
    (([1.0, 0.0], [1.0, 2.0]), {"sample_weight": [0.0, 0.0]}, "sum to 0"),
])
def test_focal_value_errors(function, args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        getattr(red, function)(*args, **kwargs)


# ------------------------------------------------------------------ reductions and minibatches
def test_sum_and_mean_gradients_differ_by_the_total_weight():
    rng = np.random.default_rng(21)
    y, z, w = (rng.random(40) < 0.5).astype(float), rng.normal(0, 3, 40), rng.random(40)
    g_sum = logits_ch.bce_with_logits_grad(y, z, sample_weight=w, reduction="sum")
    g_mean = logits_ch.bce_with_logits_grad(y, z, sample_weight=w, reduction="mean")
    np.testing.assert_allclose(g_mean * w.sum(), g_sum, rtol=1e-14)
    fd = central_difference_gradient(lambda x: logits_ch.bce_with_logits(y, x, sample_weight=w), z)
    np.testing.assert_allclose(g_mean, fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("n, batch", [(10, 4), (1000, 111), (1000, 250), (64, 64), (7, 1)])
def test_batch_sums_over_n_is_the_mean_and_batch_means_are_a_weighted_mean(n, batch):
    rng = np.random.default_rng(n + batch)
    y, z = (rng.random(n) < 0.4).astype(float), rng.normal(-1, 2, n)
    batches = np.split(np.arange(n), range(batch, n, batch))
    sums = [logits_ch.bce_with_logits(y[b], z[b], reduction="sum") for b in batches]
    means = [logits_ch.bce_with_logits(y[b], z[b]) for b in batches]
    mean = logits_ch.bce_with_logits(y, z)
    assert sum(sums) / n == pytest.approx(mean, rel=1e-14)
    implied = np.concatenate([np.full(len(b), 1 / (len(batches) * len(b))) for b in batches])
    assert implied.sum() == pytest.approx(1.0, rel=1e-14)
    weighted = logits_ch.bce_with_logits(y, z, sample_weight=implied)
    assert np.mean(means) == pytest.approx(weighted, rel=1e-13)
    equal_sizes = n % batch == 0
    assert (abs(np.mean(means) / mean - 1) < 1e-13) == equal_sizes


@pytest.mark.parametrize("n, batch", [(5, 2), (6, 4), (7, 3)])
def test_mean_of_batch_means_is_unbiased_over_every_shuffle(n, batch):
    """Exact rational arithmetic over all n! orders: the average of the mean of batch means is
    the mean over the epoch (the chapter's claim 5), while single orders differ from it."""
    rng = np.random.default_rng(n)
    losses = [Fraction(int(v), 7) for v in rng.integers(1, 50, n)]
    sizes = [len(b) for b in np.split(np.arange(n), range(batch, n, batch))]
    starts = np.cumsum([0] + sizes[:-1])
    values = []
    for order in itertools.permutations(range(n)):
        batch_means = [sum(losses[i] for i in order[s:s + k]) / k for s, k in zip(starts, sizes)]
        values.append(sum(batch_means) / len(sizes))
    true_mean = sum(losses) / n
    assert sum(values) / len(values) == true_mean
    assert min(values) < true_mean < max(values)


def test_balanced_class_weights_give_the_mean_of_class_means():
    rng = np.random.default_rng(8)
    labels = rng.integers(0, 4, 200)
    counts = np.bincount(labels)
    c = labels.size / (4 * counts)
    np.testing.assert_allclose(np.bincount(labels, weights=c[labels]), labels.size / 4, rtol=1e-13)
    Z = rng.normal(0, 2, (200, 4))
    losses = cce_ch.sparse_cce_with_logits(labels, Z, reduction="none")
    weighted = cce_ch.sparse_cce_with_logits(labels, Z, sample_weight=c[labels])
    assert weighted == pytest.approx(np.mean([losses[labels == k].mean() for k in range(4)]), rel=1e-13)


def test_label_smoothing_best_logit_and_gradient():
    for s in (0.05, 0.1, 0.2, 0.5):
        y_s = np.array([1 - s / 2])
        z_star = np.log((2 - s) / s)
        assert abs(logits_ch.bce_with_logits_grad(y_s, np.array([z_star]))[0]) < 1e-15
        # a step either way raises the loss: a minimum, not a maximum
        at = logits_ch.bce_with_logits(y_s, np.array([z_star]))
        assert at < logits_ch.bce_with_logits(y_s, np.array([z_star - 0.01]))
        assert at < logits_ch.bce_with_logits(y_s, np.array([z_star + 0.01]))
    # K classes: the gradient of CE with the smoothed target is (softmax(z) - y_s) / N
    rng = np.random.default_rng(9)
    labels, Z = rng.integers(0, 5, 6), rng.normal(0, 2, (6, 5))
    y_s = np.eye(5)[labels] * 0.9 + 0.1 / 5
    fd = central_difference_gradient(lambda x: cce_ch.cce_with_logits(y_s, x), Z)
    np.testing.assert_allclose((cce_ch.softmax(Z) - y_s) / 6, fd, rtol=1e-6, atol=1e-9)


# ------------------------------------------------------------------ PyTorch (in process)


def test_torch_weighted_bce_mean_divides_by_n(torch, F):
    y, p, w = np.array([1.0, 0.0, 1.0]), np.array([0.3, 0.4, 0.9]), np.array([1.0, 0.0, 3.0])
    torch_mean = F.binary_cross_entropy(torch.tensor(p), torch.tensor(y), weight=torch.tensor(w)).item()
    total = bce_ch.bce(y, p, sample_weight=w, reduction="sum")
    assert torch_mean == pytest.approx(total / 3, rel=F64_REL)
    assert bce_ch.bce(y, p, sample_weight=w) == pytest.approx(total / 4, rel=1e-15)


def test_torch_pos_weight_is_a_weight_and_a_new_target(torch, F):
    y, z, a = np.array([1.0, 0.0, 1.0, 0.3, 0.8]), np.array([0.5, -1.0, 2.0, -0.7, 3.0]), 3.0
    zt = torch.tensor(z, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(zt, torch.tensor(y), pos_weight=torch.tensor(a, dtype=torch.float64))
    loss.backward()
    c = a * y + 1 - y
    book = logits_ch.bce_with_logits(a * y / c, z, sample_weight=c, reduction="sum") / y.size
    assert loss.item() == pytest.approx(book, rel=F64_REL)
    derived = (c * logits_ch.sigmoid(z) - a * y) / y.size
    np.testing.assert_allclose(zt.grad.numpy(), derived, rtol=1e-13, atol=1e-17)


def test_torch_cross_entropy_weights_smoothing_and_targets(torch, F):
    rng = np.random.default_rng(3)
    labels, Z, class_w = rng.integers(0, 3, 12), rng.normal(0, 2, (12, 3)), np.array([1.0, 2.0, 5.0])
    w = class_w[labels]
    Zt, lt, cwt = torch.tensor(Z), torch.tensor(labels), torch.tensor(class_w)
    # class indices: sum(w l) / sum(w), the book's weighted mean
    assert F.cross_entropy(Zt, lt, weight=cwt).item() == pytest.approx(
        cce_ch.sparse_cce_with_logits(labels, Z, sample_weight=w), rel=F64_REL)
    # probability targets: sum(w l) / N
    one_hot = np.eye(3)[labels]
    assert F.cross_entropy(Zt, torch.tensor(one_hot), weight=cwt).item() == pytest.approx(
        cce_ch.cce_with_logits(one_hot, Z, sample_weight=w, reduction="sum") / 12, rel=F64_REL)
    # label smoothing = the target y(1 - s) + s/K
    smoothed = one_hot * 0.9 + 0.1 / 3
    assert F.cross_entropy(Zt, lt, label_smoothing=0.1).item() == pytest.approx(
        cce_ch.cce_with_logits(smoothed, Z), rel=F64_REL)


def test_torch_smooths_a_probability_target_again(torch, F):
    rng = np.random.default_rng(10)
    labels, Z = rng.integers(0, 3, 8), rng.normal(0, 2, (8, 3))
    once = np.eye(3)[labels] * 0.9 + 0.1 / 3
    got = F.cross_entropy(torch.tensor(Z), torch.tensor(once), label_smoothing=0.1).item()
    assert got == pytest.approx(cce_ch.cce_with_logits(once * 0.9 + 0.1 / 3, Z), rel=F64_REL)


def test_torch_accepts_multi_hot_targets_the_book_refuses(torch, F):
    y, z = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]), np.array([[2.0, -1.0, 0.5], [-0.5, -2.0, 1.5]])
    got = F.cross_entropy(torch.tensor(z), torch.tensor(y)).item()
    expected = -np.mean(np.sum(y * cce_ch.log_softmax(z), axis=1))       # the rows as weights
    assert got == pytest.approx(expected, rel=F64_REL)
    with pytest.raises(ValueError):
        cce_ch.cce_with_logits(y, z)
    assert F.binary_cross_entropy_with_logits(torch.tensor(z), torch.tensor(y)).item() == pytest.approx(
        logits_ch.bce_with_logits(y, z), rel=F64_REL)


def test_sgd_feels_the_reduction_and_adam_hardly(torch, F):
    ratios = {}
    for optimizer_class in (torch.optim.SGD, torch.optim.Adam):
        steps = {}
        for reduction in ("sum", "mean"):
            batch = np.random.default_rng(1).normal(size=(16, 3))
            xb, yb = torch.tensor(batch), torch.tensor((batch[:, 0] > 0).astype(float))
            w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
            optimizer = optimizer_class([w], lr=0.1)
            F.binary_cross_entropy_with_logits(xb @ w, yb, reduction=reduction).backward()
            optimizer.step()
            steps[reduction] = w.detach().numpy()
        ratios[optimizer_class.__name__] = steps["sum"] / steps["mean"]
    np.testing.assert_allclose(ratios["SGD"], 16, rtol=1e-13)
    np.testing.assert_allclose(ratios["Adam"], 1, rtol=1e-6)
