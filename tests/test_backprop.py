"""Tests for the chapter "Backpropagation through one hidden layer": mlp_init, mlp_forward,
mlp_loss_and_grad.

The functions are loaded from the chapter's export cells. Independent routes:
  - central finite differences of the chapter's own loss (tests/oracle.py), several seeds and
    shapes, both losses;
  - the loss written as a plain loop over samples and units in 50-digit mpmath, and its gradient
    by mpmath's numerical differentiation at that precision (no chain rule by hand);
  - PyTorch autograd in float64 (skipped when torch is not installed).
"""
import mpmath
import numpy as np
import pytest

from bookfunctions import load_chapter
from oracle import central_difference_gradient

ch = load_chapter("backprop")
NAMES = ("W1", "b1", "w2", "b2")
LOSSES = ("bce", "mse")


def random_problem(seed, n=7, n_in=3, hidden=5, scale=1.5, soft=False):
    """A random network (distinct sizes, so a transposed gradient cannot hide) and data."""
    rng = np.random.default_rng(seed)
    params = ch.mlp_init(n_in, hidden, rng, scale=scale)
    params["b1"] = rng.normal(0, 0.5, hidden)
    params["b2"] = np.array(rng.normal(0, 0.5))
    X = rng.normal(0, 1, (n, n_in))
    y = rng.uniform(0, 1, n) if soft else rng.integers(0, 2, n).astype(np.float64)
    return params, X, y


def relative_error(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300)


# ------------------------------------------------------------------ finite differences
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("seed", range(6))
def test_gradient_matches_finite_differences(seed, loss):
    params, X, y = random_problem(seed, soft=seed % 2 == 1)
    _, grads = ch.mlp_loss_and_grad(params, X, y, loss)
    for name in NAMES:
        def loss_of(value, name=name):
            return ch.mlp_loss_and_grad({**params, name: value}, X, y, loss)[0]
        fd = central_difference_gradient(loss_of, np.asarray(params[name], dtype=np.float64))
        assert grads[name].shape == np.shape(params[name])
        assert relative_error(grads[name], fd) < 1e-7, (name, grads[name], fd)


# ------------------------------------------------------------------ mpmath, plain loops
def loss_mp(flat, X, y, loss, n_in, hidden):
    """Mean loss from a flat parameter list, one sample and one unit at a time, in mpmath."""
    W1 = [[flat[i * hidden + j] for j in range(hidden)] for i in range(n_in)]
    off = n_in * hidden
    b1, w2, b2 = flat[off:off + hidden], flat[off + hidden:off + 2 * hidden], flat[-1]
    total = mpmath.mpf(0)
    for xs, label in zip(X, y):
        z = b2
        for j in range(hidden):
            a = b1[j] + mpmath.fsum(mpmath.mpf(float(xs[i])) * W1[i][j] for i in range(n_in))
            z += w2[j] * mpmath.tanh(a)
        label = mpmath.mpf(float(label))
        if loss == "bce":   # -y log sigma(z) - (1-y) log(1 - sigma(z)) = softplus forms
            total += label * mpmath.log1p(mpmath.exp(-z)) + (1 - label) * mpmath.log1p(mpmath.exp(z))
        else:
            total += (1 / (1 + mpmath.exp(-z)) - label) ** 2
    return total / len(y)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("seed", [10, 11])
def test_loss_and_gradient_match_high_precision_loop(seed, loss):
    n_in, hidden = 2, 3
    params, X, y = random_problem(seed, n=4, n_in=n_in, hidden=hidden, scale=2.0, soft=seed == 11)
    value, grads = ch.mlp_loss_and_grad(params, X, y, loss)
    flat_np = np.concatenate([np.ravel(params[k]) for k in NAMES])
    with mpmath.workdps(50):
        flat = [mpmath.mpf(float(v)) for v in flat_np]
        exact = loss_mp(flat, X, y, loss, n_in, hidden)
        assert abs(mpmath.mpf(float(value)) - exact) <= 1e-14 * abs(exact)
        h = mpmath.mpf("1e-20")
        exact_grad = []
        for k in range(len(flat)):
            plus, minus = list(flat), list(flat)
            plus[k] += h
            minus[k] -= h
            exact_grad.append((loss_mp(plus, X, y, loss, n_in, hidden)
                               - loss_mp(minus, X, y, loss, n_in, hidden)) / (2 * h))
    ours = np.concatenate([np.ravel(grads[k]) for k in NAMES])
    exact_grad = np.array([float(g) for g in exact_grad])
    scale = np.max(np.abs(exact_grad))
    assert np.max(np.abs(ours - exact_grad)) <= 1e-13 * scale, (ours, exact_grad)


def test_forward_matches_plain_loop():
    params, X, _ = random_problem(3)
    z, cache = ch.mlp_forward(params, X)
    for i, xs in enumerate(X):
        h = [np.tanh(sum(xs[k] * params["W1"][k, j] for k in range(X.shape[1])) + params["b1"][j])
             for j in range(len(params["b1"]))]
        assert cache["h"][i] == pytest.approx(h, rel=1e-13, abs=1e-15)
        assert z[i] == pytest.approx(sum(a * b for a, b in zip(h, params["w2"])) + params["b2"],
                                     rel=1e-12, abs=1e-14)


# ------------------------------------------------------------------ PyTorch autograd
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("seed", range(4))
def test_gradient_matches_torch_autograd(seed, loss):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    torch.set_num_threads(1)
    params, X, y = random_problem(seed, n=50, n_in=4, hidden=9, soft=seed % 2 == 0)
    value, grads = ch.mlp_loss_and_grad(params, X, y, loss)
    t = {k: torch.tensor(np.asarray(v, dtype=np.float64), requires_grad=True) for k, v in params.items()}
    z = torch.tanh(torch.tensor(X) @ t["W1"] + t["b1"]) @ t["w2"] + t["b2"]
    yt = torch.tensor(y)
    ref = (F.binary_cross_entropy_with_logits(z, yt) if loss == "bce"
           else F.mse_loss(torch.sigmoid(z), yt))
    ref.backward()
    assert float(value) == pytest.approx(ref.item(), rel=1e-13)
    for k in NAMES:
        theirs = t[k].grad.numpy()
        assert np.max(np.abs(grads[k] - theirs)) <= 1e-12 * np.max(np.abs(theirs)), k


# ------------------------------------------------------------------ contract
def test_init_shapes_dtype_scale_and_reproducibility():
    p = ch.mlp_init(400, 300, np.random.default_rng(0), scale=2.0)
    assert {k: v.shape for k, v in p.items()} == {"W1": (400, 300), "b1": (300,), "w2": (300,), "b2": ()}
    assert all(v.dtype == np.float64 for v in p.values())
    assert not p["b1"].any() and p["b2"] == 0
    assert np.std(p["W1"]) == pytest.approx(2.0 / np.sqrt(400), rel=0.02)
    assert np.std(p["w2"]) == pytest.approx(2.0 / np.sqrt(300), rel=0.1)
    again = ch.mlp_init(400, 300, np.random.default_rng(0), scale=2.0)
    assert all(np.array_equal(p[k], again[k]) for k in NAMES)
    p32 = ch.mlp_init(2, 4, np.random.default_rng(0), dtype=np.float32)
    assert all(v.dtype == np.float32 for v in p32.values())


@pytest.mark.parametrize("loss", LOSSES)
def test_float32_stays_float32(loss):
    params, X, y = random_problem(4)
    p32 = {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}
    value32, g32 = ch.mlp_loss_and_grad(p32, X, y, loss)
    value64, g64 = ch.mlp_loss_and_grad(params, X, y, loss)
    assert np.asarray(value32).dtype == np.float32
    assert all(g32[k].dtype == np.float32 for k in NAMES)
    assert float(value32) == pytest.approx(float(value64), rel=1e-5)
    for k in NAMES:
        assert np.max(np.abs(g32[k] - g64[k])) <= 1e-4 * np.max(np.abs(g64[k])) + 1e-7


def test_gradient_is_linear_in_dz_mse_over_ce_ratio():
    """One sample: every MSE gradient entry is the CE entry times 2 sigma(z)(1 - sigma(z))."""
    params, X, _ = random_problem(5, n=1)
    y = np.ones(1)
    z = ch.mlp_forward(params, X)[0][0]
    s = 1 / (1 + np.exp(-z))
    g_ce = ch.mlp_loss_and_grad(params, X, y, "bce")[1]
    g_mse = ch.mlp_loss_and_grad(params, X, y, "mse")[1]
    for k in NAMES:
        np.testing.assert_allclose(g_mse[k], 2 * s * (1 - s) * g_ce[k], rtol=1e-12)


P_OK, X_OK, Y_OK = random_problem(0)
BAD_CALLS = {
    "unknown loss": lambda: ch.mlp_loss_and_grad(P_OK, X_OK, Y_OK, loss="hinge"),
    "label above 1": lambda: ch.mlp_loss_and_grad(P_OK, X_OK, np.full(7, 1.5)),
    "negative label": lambda: ch.mlp_loss_and_grad(P_OK, X_OK, np.full(7, -0.1)),
    "NaN label": lambda: ch.mlp_loss_and_grad(P_OK, X_OK, np.full(7, np.nan)),
    "labels (N, 1)": lambda: ch.mlp_loss_and_grad(P_OK, X_OK, Y_OK[:, None]),
    "too few labels": lambda: ch.mlp_loss_and_grad(P_OK, X_OK, Y_OK[:-1]),
    "text labels": lambda: ch.mlp_loss_and_grad(P_OK, X_OK, ["1"] * 7),
    "X 1-D": lambda: ch.mlp_forward(P_OK, X_OK[0]),
    "X wrong width": lambda: ch.mlp_forward(P_OK, np.ones((7, 2))),
    "X empty": lambda: ch.mlp_forward(P_OK, np.ones((0, 3))),
    "X inf": lambda: ch.mlp_forward(P_OK, np.full((2, 3), np.inf)),
    "X NaN": lambda: ch.mlp_forward(P_OK, np.full((2, 3), np.nan)),
    "params not a dict": lambda: ch.mlp_forward([1, 2], X_OK),
    "missing key": lambda: ch.mlp_forward({k: P_OK[k] for k in ("W1", "b1", "w2")}, X_OK),
    "extra key": lambda: ch.mlp_forward({**P_OK, "W2": P_OK["W1"]}, X_OK),
    "b1 wrong length": lambda: ch.mlp_forward({**P_OK, "b1": np.zeros(4)}, X_OK),
    "w2 as a column": lambda: ch.mlp_forward({**P_OK, "w2": P_OK["w2"][:, None]}, X_OK),
    "b2 not scalar": lambda: ch.mlp_forward({**P_OK, "b2": np.zeros(1)}, X_OK),
    "NaN weight": lambda: ch.mlp_forward({**P_OK, "W1": np.full((3, 5), np.nan)}, X_OK),
    "mixed dtypes": lambda: ch.mlp_forward({**P_OK, "w2": P_OK["w2"].astype(np.float32)}, X_OK),
    "n_in 0": lambda: ch.mlp_init(0, 3, np.random.default_rng(0)),
    "n_hidden float": lambda: ch.mlp_init(2, 3.0, np.random.default_rng(0)),
    "n_hidden bool": lambda: ch.mlp_init(2, True, np.random.default_rng(0)),
    "legacy rng": lambda: ch.mlp_init(2, 3, np.random.RandomState(0)),
    "seed instead of rng": lambda: ch.mlp_init(2, 3, 0),
    "scale 0": lambda: ch.mlp_init(2, 3, np.random.default_rng(0), scale=0.0),
    "scale inf": lambda: ch.mlp_init(2, 3, np.random.default_rng(0), scale=np.inf),
    "scale NaN": lambda: ch.mlp_init(2, 3, np.random.default_rng(0), scale=np.nan),
    "integer dtype": lambda: ch.mlp_init(2, 3, np.random.default_rng(0), dtype=np.int64),
    "nonsense dtype": lambda: ch.mlp_init(2, 3, np.random.default_rng(0), dtype="banana"),
}


@pytest.mark.parametrize("call", BAD_CALLS.values(), ids=BAD_CALLS.keys())
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_inputs_are_not_modified():
    params, X, y = random_problem(6)
    copies = ({k: np.copy(v) for k, v in params.items()}, X.copy(), y.copy())
    ch.mlp_loss_and_grad(params, X, y, "bce")
    ch.mlp_loss_and_grad(params, X, y, "mse")
    assert all(np.array_equal(params[k], copies[0][k]) for k in NAMES)
    assert np.array_equal(X, copies[1]) and np.array_equal(y, copies[2])


# ------------------------------------------------------------------ large logits
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("w2_size", [50.0, 1e3, 1e5])
def test_large_logits_give_finite_loss_and_gradient(w2_size, loss, dtype):
    """Saturated tanh units and logits up to ~1e6 in size, right and wrong: the exact loss is
    finite, so the computed loss and every gradient entry must be finite too."""
    rng = np.random.default_rng(8)
    params = {"W1": rng.normal(0, 30, (3, 6)), "b1": rng.normal(0, 1, 6),
              "w2": rng.choice([-1.0, 1.0], 6) * w2_size, "b2": np.array(0.0)}
    params = {k: np.asarray(v, dtype=dtype) for k, v in params.items()}
    X = rng.normal(0, 1, (20, 3))
    y = np.arange(20) % 2 * 1.0                      # both labels: half the samples are wrong
    z = ch.mlp_forward(params, X)[0]
    assert np.max(np.abs(z)) > 0.5 * w2_size
    value, grads = ch.mlp_loss_and_grad(params, X, y, loss)
    assert np.isfinite(value) and value >= 0
    assert all(np.isfinite(grads[k]).all() for k in NAMES)
    if loss == "bce":   # the mean softplus of the wrong-signed logits: about mean |z| over them
        zz = z.astype(np.float64)
        exact = np.mean(np.where(y == 1, np.logaddexp(0, -zz), np.logaddexp(0, zz)))
        assert float(value) == pytest.approx(exact, rel=1e-5)
        assert np.max(np.abs(grads["b2"])) <= 1.0       # |dL/db2| = |mean(sigma(z) - y)| <= 1
