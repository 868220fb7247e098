"""Tests for the chapter "When numbers run out" (low_precision.ipynb).

Two kinds:
- conformance: every claim the chapter makes about PyTorch, Keras 3, tf-keras and ml_dtypes is
  checked here by running the library (Keras in subprocesses, one per backend, started once);
- oracle: the book's functions in float16 (directly) and in bfloat16 (widened to float32, rounded
  once) against mpmath, within a few ULP of the format, for the chapter's cases and beyond, plus
  the thresholds of the chapter's table checked with the formats' own arithmetic.

The frameworks are not in requirements.txt: a missing one FAILS (never skips) with the install line.
"""
import json
import math
import os
import subprocess
import sys
import warnings

import mpmath
import numpy as np
import pytest

from conftest import require  # noqa: E402  (shared with the other framework tests)
from bookfunctions import load_chapter

mp = mpmath.mp
mp.dps = 60
logits_ch, bce_ch, cce_ch = load_chapter("logits"), load_chapter("bce"), load_chapter("cce")

ULP_BOUND = 4          # the chapter's "within 4 ULP" (float16, and bfloat16 via float32)


@pytest.fixture(scope="module")
def bfloat16():
    return require("ml_dtypes").bfloat16


# ------------------------------------------------------------------ formats and ULPs (test's own)
FORMAT_BITS = {"float16": (11, 2.0**-14, 2.0**-24), "bfloat16": (8, 2.0**-126, 2.0**-133),
               "float32": (24, 2.0**-126, 2.0**-149), "float64": (53, 2.0**-1022, 2.0**-1074)}


def ulp_at(name, exact):
    """The spacing of format `name` at the (mpmath) value `exact`."""
    p, normal, subnormal = FORMAT_BITS[name]
    x = abs(exact)
    if x < normal:
        return mp.mpf(subnormal)
    return mp.mpf(2) ** (mp.floor(mp.log(x, 2)) + 1 - p)


def ulps(computed, exact, name):
    computed = float(computed)
    if math.isnan(computed):
        return math.inf
    if mp.isinf(exact) or math.isinf(computed):
        return 0.0 if computed == exact else math.inf
    return float(abs(mp.mpf(computed) - exact) / ulp_at(name, exact))


def exact_bce_logits(y, z):
    y, z = mp.mpf(float(y)), mp.mpf(float(z))
    softplus = lambda x: x + mp.log1p(mp.exp(-x)) if x > 0 else mp.log1p(mp.exp(x))
    return y * softplus(-z) + (1 - y) * softplus(z)


def exact_bce(y, p):
    y, p = mp.mpf(float(y)), mp.mpf(float(p))
    first = 0 if y == 0 else (-mp.inf if p == 0 else y * mp.log(p))
    second = 0 if y == 1 else (-mp.inf if p == 1 else (1 - y) * mp.log1p(-p))
    return -(first + second)


def exact_cce(label, row):
    row = [mp.mpf(float(v)) for v in row]
    return mp.log(mp.fsum(mp.exp(v) for v in row)) - row[label]


# ------------------------------------------------------------------ the chapter's thresholds
def test_threshold_table_in_float16_arithmetic():
    """The table's float16 values, checked with NumPy's own float16 operations (not the chapter's
    rounding model), and against the derived formulas in mpmath."""
    f = np.float16
    with np.errstate(over="ignore"):
        assert np.isfinite(np.exp(f(11.0859375))) and np.isinf(np.exp(f(11.09375)))          # A
    assert np.exp(-f(17.328125)) > 0 and np.exp(-f(17.34375)) == 0                            # B
    sigmoid = lambda z: f(1) / (f(1) + np.exp(-f(z)))
    assert sigmoid(7.62109375) < 1 and sigmoid(7.625) == 1                                    # C
    with np.errstate(over="ignore"):
        assert np.isinf(f(1) / f(1.52587890625e-05)) and np.isfinite(f(1) / f(1.531839370727539e-05))
    # the first float16 at or above each derived value
    for found, derived, below in [(11.09375, mp.log(65504), 11.0859375),
                                  (17.34375, 25 * mp.log(2), 17.328125),
                                  (7.625, 11 * mp.log(2), 7.62109375)]:
        assert below < derived <= found


def test_threshold_table_in_bfloat16_arithmetic(bfloat16):
    b = lambda values: np.array(values, bfloat16)
    with np.errstate(over="ignore"):
        exp_ab = np.exp(b([88.5, 89.0]))
        assert np.isfinite(exp_ab[0]) and np.isinf(exp_ab[1])                                 # A
    under = np.exp(-b([92.5, 93.0]))
    assert under[0] > 0 and under[1] == 0                                                     # B
    sig = b([1, 1]) / (b([1, 1]) + np.exp(-b([5.53125, 5.5625])))
    assert sig[0] < 1 and sig[1] == 1                                                         # C
    bf_max = float(require("ml_dtypes").finfo(bfloat16).max)
    assert 88.5 < mp.log(bf_max) <= 89 and 92.5 < 134 * mp.log(2) <= 93 and 5.53125 < 8 * mp.log(2) <= 5.5625


# ------------------------------------------------------------------ PyTorch: float16 mean overflows
def test_torch_float16_cross_entropy_overflows_on_a_large_batch(torch, F):
    logits16 = torch.zeros(10_000, 1_000, dtype=torch.float16)
    labels = torch.zeros(10_000, dtype=torch.long)
    assert math.isinf(F.cross_entropy(logits16, labels).item())
    per_row = F.cross_entropy(logits16, labels, reduction="none")
    assert per_row.dtype == torch.float16
    assert torch.all(per_row == float(np.float16(math.log(1000))))   # each row correctly rounded
    assert per_row.float().sum().item() == 69062.5 > float(torch.finfo(torch.float16).max)
    assert abs(F.cross_entropy(logits16.float(), labels).item() - math.log(1000)) < 1e-5


# ------------------------------------------------------------------ PyTorch: half-precision zeros
@pytest.mark.parametrize("dtype_name", ["float16", "bfloat16"])
def test_torch_half_cross_entropy_of_confident_rows(torch, F, dtype_name):
    dtype = getattr(torch, dtype_name)
    p = 11 if dtype_name == "float16" else 8
    zero_from = {"float16": 7.625, "bfloat16": 5.625}[dtype_name]
    for gap in np.arange(0, 12, 0.125):
        value = F.cross_entropy(torch.tensor([[gap, 0.0]], dtype=dtype), torch.tensor([0])).item()
        assert (value == 0.0) == (gap >= zero_from), gap
    assert zero_from - 0.125 < p * math.log(2) <= zero_from
    if dtype_name == "bfloat16":     # the chapter's 0.0155: log of 1 + e^-4 rounded to bfloat16
        value = F.cross_entropy(torch.tensor([[4.0, 0.0]], dtype=dtype), torch.tensor([0])).item()
        rounded_sum = 1 + 2.0**-6
        assert abs(value - math.log(rounded_sum)) <= 2.0**-14
        assert abs(1 + math.exp(-4) - rounded_sum) < abs(1 + math.exp(-4) - (1 + 3 * 2.0**-7))


@pytest.mark.parametrize("dtype_name", ["float16", "bfloat16"])
def test_torch_half_bce_with_logits_cancels_for_negative_labels(torch, F, dtype_name):
    dtype = getattr(torch, dtype_name)
    z, y0, y1 = torch.tensor([-10.0], dtype=dtype), torch.zeros(1, dtype=dtype), torch.ones(1, dtype=dtype)
    assert F.binary_cross_entropy_with_logits(z, y0).item() == 0.0          # exact 4.54e-5
    twin = F.binary_cross_entropy_with_logits(-z, y1).item()                 # y = 1, z = 10: fine
    exact = exact_bce_logits(1, 10)
    assert ulps(twin, exact, dtype_name) <= ULP_BOUND


def test_torch_bfloat16_cannot_hold_probabilities_near_one(torch, F, bfloat16):
    p = torch.tensor([0.99, 0.999], dtype=torch.bfloat16)
    assert p.tolist() == [float(np.float32(v).astype(bfloat16)) for v in (0.99, 0.999)]
    assert p.tolist()[1] == 1.0 and 1 - 2.0**-8 < 0.999
    loss = F.binary_cross_entropy(p, torch.zeros(2, dtype=torch.bfloat16), reduction="none").tolist()
    assert loss[1] == 100.0 and abs(loss[0] - (-math.log(1 - 0.98828125))) < 0.05


# ------------------------------------------------------------------ PyTorch: BCELoss's guard
def test_torch_bceloss_gradient_formula_and_clamp(torch, F):
    grid = np.logspace(-16, 0, 97)
    p = torch.tensor(np.concatenate([[0.0], grid, 1 - grid, np.linspace(0, 1, 101)]), requires_grad=True)
    cap = float(np.float32(1e-12))
    for y_val in (1.0, 0.0, 0.3):
        y = torch.full_like(p, y_val)
        grad, = torch.autograd.grad(F.binary_cross_entropy(p, y, reduction="sum"), p)
        assert torch.equal(grad, (p - y) / torch.clamp(p * (1 - p), min=cap)), y_val
    table = torch.tensor([0.0, 1e-12, 1e-7, 1 - 1e-7, 1.0, 1e-50], dtype=torch.float64, requires_grad=True)
    loss1 = F.binary_cross_entropy(table, torch.ones(6, dtype=torch.float64), reduction="none")
    g1, = torch.autograd.grad(loss1.sum(), table)
    assert loss1[0].item() == 100.0 and loss1[5].item() == 100.0        # log clamped at -100
    assert abs(g1[0].item() / -1e12 - 1) < 1e-8 and g1[4].item() == 0.0  # -1e12; 0 at p = 1
    assert abs(g1[2].item() / -1e7 - 1) < 1e-6                            # exact inside
    loss0 = F.binary_cross_entropy(table, torch.zeros(6, dtype=torch.float64), reduction="none")
    g0, = torch.autograd.grad(loss0.sum(), table)
    assert abs(g0[4].item() / 1e12 - 1) < 1e-8 and g0[0].item() == 0.0
    assert abs(g0[5].item() / 1e-38 - 1) < 1e-8                           # p = 1e-50, y = 0


def test_torch_sigmoid_then_bceloss_push_fades(torch, F):
    z = torch.tensor([-10.0, -30.0, -40.0], dtype=torch.float64, requires_grad=True)
    ones = torch.ones(3, dtype=torch.float64)
    g, = torch.autograd.grad(F.binary_cross_entropy(torch.sigmoid(z), ones, reduction="sum"), z)
    s = [1 / (1 + mp.exp(-mp.mpf(v))) for v in (-10, -30, -40)]
    assert abs(g[0].item() - float(s[0] - 1)) < 1e-12
    for k in (1, 2):      # 1e12 (as float32) times sigma(z)(1 - sigma(z)) times (sigma(z) - 1) / (...)
        expected = float((s[k] - 1) * s[k] * (1 - s[k]) / mp.mpf(float(np.float32(1e-12))))
        assert abs(g[k].item() / expected - 1) < 1e-12
    fused, = torch.autograd.grad(F.binary_cross_entropy_with_logits(z, ones, reduction="sum"), z)
    assert torch.allclose(fused, torch.full_like(fused, -1.0), atol=1e-4)
    z40 = torch.tensor([-40.0], dtype=torch.float64, requires_grad=True)
    g40, = torch.autograd.grad(F.binary_cross_entropy(torch.sigmoid(z40), torch.zeros(1, dtype=torch.float64)), z40)
    s40 = s[2]
    assert abs(g40.item() / float(s40 * s40 * (1 - s40) / mp.mpf(float(np.float32(1e-12)))) - 1) < 1e-10


# ------------------------------------------------------------------ infinite logits
def test_torch_bce_with_logits_nan_at_infinite_logits_and_the_book_limits(torch, F):
    z = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64) * math.inf
    z.requires_grad_()
    y = torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=torch.float64)
    loss = F.binary_cross_entropy_with_logits(z, y, reduction="none")
    grad, = torch.autograd.grad(loss.sum(), z)
    values = loss.tolist()
    assert math.isnan(values[0]) and math.isnan(values[1]) and math.isnan(values[3])
    assert values[2] == math.inf
    assert grad.tolist() == [0.0, 0.0, 1.0, -1.0]
    z_np, y_np = z.detach().numpy(), y.numpy()
    assert logits_ch.bce_with_logits(y_np, z_np, reduction="none").tolist() == [0.0, 0.0, math.inf, math.inf]
    assert logits_ch.bce_with_logits_grad(y_np, z_np, reduction="none").tolist() == [0.0, 0.0, 1.0, -1.0]
    for dtype in (np.float16, np.float32):
        assert logits_ch.bce_with_logits(y_np.astype(dtype), z_np.astype(dtype), reduction="none").tolist() \
            == [0.0, 0.0, math.inf, math.inf]


def test_torch_float32_bce_with_logits_gradient_is_sigmoid_minus_label(torch, F):
    """The chapter: PyTorch's gradient behaves like sigma(z) - y as written (0 from z = 16.6)."""
    z = torch.tensor([10.0, 12.0, 16.0, 17.0, 18.0, 20.0], requires_grad=True)
    y = torch.ones(6)
    grad, = torch.autograd.grad(F.binary_cross_entropy_with_logits(z, y, reduction="sum"), z)
    assert torch.equal(grad, torch.sigmoid(z.detach()) - y)
    assert grad[3].item() == grad[4].item() == 0.0


# ------------------------------------------------------------------ autocast and loss scaling
@pytest.mark.parametrize("dtype_name", ["bfloat16", "float16"])
def test_autocast_cpu_dtypes(torch, F, dtype_name):
    dtype = getattr(torch, dtype_name)
    torch.manual_seed(0)
    layer = torch.nn.Linear(8, 4)
    x, t = torch.randn(16, 8), torch.randint(0, 4, (16,))
    with torch.autocast("cpu", dtype=dtype):
        z = layer(x)
        loss = F.cross_entropy(z, t)
        split = F.nll_loss(F.log_softmax(z, 1), t)
        log_p, p = F.log_softmax(z, 1), F.softmax(z, 1)
        bce = F.binary_cross_entropy_with_logits(z, torch.rand(16, 4))
    loss.backward()
    assert z.dtype == dtype and log_p.dtype == dtype and p.dtype == dtype
    assert loss.dtype == split.dtype == bce.dtype == torch.float32
    assert layer.weight.dtype == layer.weight.grad.dtype == torch.float32


def test_autocast_split_log_softmax_loses_confident_rows(torch, F):
    rows = [[8.0, 0.0], [6.0, 0.0], [4.0, 0.0]]
    exact = mp.fsum(exact_cce(0, r) for r in rows) / 3
    t = torch.zeros(3, dtype=torch.long)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z = torch.tensor(rows).to(torch.bfloat16)
        fused, split = F.cross_entropy(z, t), F.nll_loss(F.log_softmax(z, 1), t)
    assert abs(fused.item() / float(exact) - 1) < 1e-6
    assert 0.2 < 1 - split.item() / float(exact) < 0.3           # the chapter's "26 % off"


def test_loss_scaling_keeps_a_float16_gradient(torch, F):
    x, y = torch.tensor([16.0, 17.0, 18.0, 20.0]), torch.ones(4)
    exact = -mp.fsum(v * mp.exp(-v) / (1 + mp.exp(-v)) for v in (16, 17, 18, 20)) / 4

    def gradient(scale, loss_dtype):
        w = torch.tensor(1.0, requires_grad=True)
        z = x.half() * w.half()
        loss = F.binary_cross_entropy_with_logits(z.to(loss_dtype), y.to(loss_dtype))
        (scale * loss).backward()
        return w.grad.item() / scale

    assert gradient(1.0, torch.float64) == 0.0
    assert abs(gradient(2.0**16, torch.float64) / float(exact) - 1) < 2.0**-10
    assert abs(gradient(2.0**16, torch.float32) / float(exact) - 1) > 2.0**-10


def test_grad_scaler_skips_an_overflowing_step_and_refuses_float16_weights(torch, F):
    scaler = torch.amp.GradScaler("cpu")
    assert scaler.get_scale() == 2.0**16 and scaler.get_growth_factor() == 2.0
    assert scaler.get_backoff_factor() == 0.5 and scaler.get_growth_interval() == 2000
    w = torch.tensor(20.0, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.01)
    seen = []
    for _ in range(2):
        opt.zero_grad()
        z = torch.tensor(-1.0, dtype=torch.float16) * w.half()
        scaler.scale(F.binary_cross_entropy_with_logits(z.float(), torch.tensor(1.0))).backward()
        seen.append(w.grad.item())
        scaler.step(opt)
        scaler.update()
        if len(seen) == 1:
            assert math.isinf(seen[0]) and w.item() == 20.0 and scaler.get_scale() == 2.0**15
    assert seen[1] == 2.0**15 and abs(w.item() - 19.99) < 1e-6
    w16 = torch.tensor(1.0, dtype=torch.float16, requires_grad=True)
    opt16, scaler16 = torch.optim.SGD([w16], lr=0.1), torch.amp.GradScaler("cpu")
    scaler16.scale((2 * w16).float()).backward()
    with pytest.raises(ValueError, match="unscale FP16 gradients"):
        scaler16.step(opt16)


def test_torch_sigmoid_rounds_once(torch):
    for name, naive_first, sigmoid_first, p in (("float16", 7.625, 8.3203125, 11),
                                                ("bfloat16", 5.5625, 6.25, 8)):
        z = torch.arange(4, 12, 2.0**-8).to(getattr(torch, name))
        assert z[1 / (1 + torch.exp(-z)) == 1][0].item() == naive_first
        assert z[torch.sigmoid(z) == 1][0].item() == sigmoid_first
        threshold = mp.log(2 ** (p + 1) - 1)
        step = 2.0 ** (math.floor(math.log2(sigmoid_first)) - (p - 1))   # the format's spacing there
        assert sigmoid_first - step < threshold <= sigmoid_first


# ------------------------------------------------------------------ Keras (subprocesses)
KERAS_JOB = r"""
import json, os, warnings
warnings.filterwarnings("ignore")
import numpy as np
BACKEND = os.environ["KERAS_BACKEND"]
if BACKEND == "tensorflow":
    import tensorflow as tf, tf_keras
else:
    import torch
import keras
from keras import ops

def grad(fn, x):
    if BACKEND == "tensorflow":
        x = tf.Variable(np.asarray(x, "float32"))
        with tf.GradientTape() as tape:
            out = fn(x); total = tf.reduce_sum(out)
        return ops.convert_to_numpy(out).ravel().tolist(), tape.gradient(total, x).numpy().ravel().tolist()
    x = torch.tensor(np.asarray(x, "float32"), requires_grad=True)
    out = fn(x); out.sum().backward()
    return out.detach().numpy().ravel().tolist(), x.grad.numpy().ravel().tolist()

P = np.array([0.0, 1e-12, 1e-7, 1e-3, 1 - 1e-7, 1.0])[:, None]
R = {"keras": keras.__version__}
libs = {"k3": keras}
if BACKEND == "tensorflow":
    libs["tfk"] = tf_keras
for name, lib in libs.items():
    for y in (1, 0):
        R[f"{name} y={y}"] = grad(lambda p: lib.losses.binary_crossentropy(np.full(tuple(p.shape), y, "float32"), p), P)
one = np.ones((1, 1), "float32")
native = tf.sigmoid if BACKEND == "tensorflow" else torch.sigmoid
R["native sigmoid"] = grad(lambda z: keras.losses.binary_crossentropy(one, native(z)), [[-20.0]])
R["ops sigmoid"] = grad(lambda z: keras.losses.binary_crossentropy(one, ops.sigmoid(z)), [[-20.0]])
R["from logits"] = grad(lambda z: keras.losses.binary_crossentropy(one, z, from_logits=True), [[-20.0]])
y16, p16 = np.array([[1.0], [0.0]], "float16"), np.array([[1.0], [1.0]], "float16")
R["f16 function"] = ops.convert_to_numpy(keras.losses.binary_crossentropy(y16, p16)).tolist()
R["f16 class"] = ops.convert_to_numpy(keras.losses.BinaryCrossentropy(reduction=None)(y16, p16)).tolist()
if BACKEND == "tensorflow":
    R["tf.nn inf"] = tf.nn.sigmoid_cross_entropy_with_logits(
        labels=np.array([1.0, 0.0, 0.0, 1.0]), logits=np.array([1, -1, 1, -1]) * np.inf).numpy().tolist()
for policy in ("mixed_float16", "mixed_bfloat16"):
    keras.config.set_dtype_policy(policy)
    dense = keras.layers.Dense(3)
    model = keras.Sequential([keras.Input((4,)), dense])
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer="sgd", loss=loss_fn)
    logits = model(np.ones((2, 4), "float32"))
    loss = loss_fn(np.array([0, 1]), logits)
    R[policy] = [str(dense.kernel.dtype), dense.compute_dtype, str(ops.dtype(logits)), str(ops.dtype(loss)),
                 type(model.optimizer).__name__, float(ops.convert_to_numpy(model.optimizer.scale_loss(1.0)))]
print(json.dumps(R))
"""


@pytest.fixture(scope="module")
def keras_runs():
    """Both Keras 3 backends at once, each in its own process (the backend is fixed at import)."""
    for name in ("keras", "tensorflow", "tf_keras"):
        require(name)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0", OMP_NUM_THREADS="1")
    procs = {backend: subprocess.Popen([sys.executable, "-c", KERAS_JOB], text=True,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       env=dict(env, KERAS_BACKEND=backend))
             for backend in ("tensorflow", "torch")}
    results = {}
    for backend, proc in procs.items():
        out, err = proc.communicate()
        assert proc.returncode == 0, f"Keras ({backend}) failed:\n{err[-2000:]}"
        results[backend] = json.loads(out.splitlines()[-1])
    return results


@pytest.mark.parametrize("backend", ["tensorflow", "torch"])
def test_keras3_clip_gradient_is_zero_beyond_the_clip(keras_runs, backend):
    r = keras_runs[backend]
    p32 = np.array([0.0, 1e-12, 1e-7, 1e-3, 1 - 1e-7, 1.0], np.float32).astype(float)
    _, g1 = r["k3 y=1"]
    assert g1[0] == g1[1] == g1[5] == 0.0                              # below the clip and at p = 1
    for j in (2, 3, 4):                                                 # inside, bound included
        assert abs(g1[j] / (-1 / p32[j]) - 1) < 1e-5
    _, g0 = r["k3 y=0"]
    assert g0[0] == g0[1] == g0[5] == 0.0
    for j in (2, 3, 4):
        assert abs(g0[j] / (1 / (1 - p32[j])) - 1) < 1e-5
    assert abs(g0[4] - 2.0**23) / 2.0**23 < 1e-5                       # 1 - 1e-7 is 1 - 2^-23 in float32


def test_tf_keras_adds_epsilon_inside_the_log(keras_runs):
    _, g1 = keras_runs["tensorflow"]["tfk y=1"]
    assert g1[0] == g1[1] == 0.0 and abs(g1[2] / -5e6 - 1) < 1e-5
    _, g0 = keras_runs["tensorflow"]["tfk y=0"]
    assert abs(g0[4] / (1 / (2.0**-23 + 1e-7)) - 1) < 1e-5


def test_keras_sigmoid_link_only_on_tensorflow(keras_runs):
    tf_r, torch_r = keras_runs["tensorflow"], keras_runs["torch"]
    for r in (tf_r, torch_r):
        loss, g = r["native sigmoid"]
        assert g == [0.0] and abs(loss[0] - (-math.log(np.float32(1e-7)))) < 1e-4
        loss, g = r["from logits"]
        assert abs(g[0] + 1) < 1e-6 and abs(loss[0] - 20) < 1e-4
    loss, g = tf_r["ops sigmoid"]
    assert abs(g[0] + 1) < 1e-6 and abs(loss[0] - 20) < 1e-4
    assert torch_r["ops sigmoid"][1] == [0.0]


def test_keras_float16_function_versus_class(keras_runs):
    tf_values = keras_runs["tensorflow"]["f16 function"]
    assert math.isnan(tf_values[0]) and tf_values[1] == math.inf
    assert keras_runs["torch"]["f16 function"] == [0.0, 100.0]
    assert np.float16(1 - 1e-7) == 1
    for backend in ("tensorflow", "torch"):
        values = keras_runs[backend]["f16 class"]
        assert abs(values[1] - (-math.log(2.0**-23))) < 1e-4 and abs(values[0] - 2.0**-23) < 1e-9


def test_keras_mixed_precision_policies(keras_runs):
    for backend in ("tensorflow", "torch"):
        r = keras_runs[backend]
        assert r["mixed_float16"] == ["float32", "float16", "float16", "float32", "LossScaleOptimizer", 32768.0]
        assert r["mixed_bfloat16"] == ["float32", "bfloat16", "bfloat16", "float32", "SGD", 1.0]


def test_tensorflow_fused_form_at_infinite_logits(keras_runs):
    values = keras_runs["tensorflow"]["tf.nn inf"]
    assert all(math.isnan(v) for v in values[:3]) and values[3] == math.inf


# ------------------------------------------------------------------ the book's functions vs mpmath
Z16 = np.concatenate([np.linspace(-30, 30, 241), [-17.5, -11.1, 7.6, 8.3, 11.1, 17.4, 20.0]]).astype(np.float16)


@pytest.mark.parametrize("y", [0.0, 1.0, 0.5, 0.25])
def test_book_bce_with_logits_float16_per_element(y):
    labels = np.full(Z16.shape, y, np.float16)
    out = logits_ch.bce_with_logits(labels, Z16, reduction="none")
    assert out.dtype == np.float16
    worst = max(ulps(v, exact_bce_logits(y, z), "float16") for v, z in zip(out, Z16))
    assert worst <= ULP_BOUND, worst


def test_book_bce_float16_per_element():
    p = np.concatenate([2.0 ** -np.arange(1, 25), 1 - 2.0 ** -np.arange(1, 12), [0.3, 0.75, 0.9]]).astype(np.float16)
    for y in (0.0, 1.0, 0.5):
        out = bce_ch.bce(np.full(p.shape, y, np.float16), p, reduction="none")
        assert out.dtype == np.float16
        worst = max(ulps(v, exact_bce(y, q), "float16") for v, q in zip(out, p))
        assert worst <= ULP_BOUND, (y, worst)


ROWS = [(0, [3.0, 0.0]), (0, [8.0, 0.0]), (2, [100.0, 101.0, 102.0]), (0, [20.0, 0.0]),
        (1, [2.0, -1.0, 0.5, 4.0]), (3, [-5.0, 0.0, 5.0, 10.0]), (0, [0.0] * 1000)]


@pytest.mark.parametrize("label, row", ROWS, ids=[str(r[:4]) for _, r in ROWS])
def test_book_sparse_cce_with_logits_float16(label, row):
    out = cce_ch.sparse_cce_with_logits(np.array([label]), np.array([row], np.float16))
    assert out.dtype == np.float16
    assert ulps(out, exact_cce(label, row), "float16") <= ULP_BOUND


CASES = [("logits", 1.0, 2.0), ("logits", 1.0, 10.0), ("logits", 0.0, -10.0), ("logits", 1.0, 20.0),
         ("probs", 1.0, 2.0**-12), ("probs", 0.0, 1 - 2.0**-8),
         ("cce", 0, [3.0, 0.0]), ("cce", 0, [8.0, 0.0]), ("cce", 2, [100.0, 101.0, 102.0])]


@pytest.mark.parametrize("kind, target, prediction", CASES)
def test_chapter_cases_float16_and_bfloat16_route(bfloat16, kind, target, prediction):
    """The side-by-side table: float16 directly, bfloat16 widened to float32 and rounded once."""
    book, exact = {"logits": (logits_ch.bce_with_logits, exact_bce_logits),
                   "probs": (bce_ch.bce, exact_bce),
                   "cce": (cce_ch.sparse_cce_with_logits, exact_cce)}[kind]
    t, x = np.array([target]), np.array([prediction])
    cast_t = (lambda d: t) if kind == "cce" else (lambda d: t.astype(d))
    value = exact(target, prediction)
    out16 = book(cast_t(np.float16), x.astype(np.float16))
    assert out16.dtype == np.float16 and ulps(out16, value, "float16") <= ULP_BOUND
    wide = [a.astype(bfloat16).astype(np.float32) if a.dtype.kind == "f" else a for a in (t, x)]
    out_bf = np.asarray(book(*wide)).astype(bfloat16)
    assert ulps(float(out_bf), value, "bfloat16") <= 1


def test_book_refuses_bfloat16(bfloat16):
    with pytest.raises(ValueError):
        logits_ch.bce_with_logits(np.ones(2, bfloat16), np.zeros(2, bfloat16))
    with pytest.raises(ValueError):
        bce_ch.bce(np.ones(2, bfloat16), np.full(2, 0.5, bfloat16))
    with pytest.raises(ValueError):
        cce_ch.sparse_cce_with_logits(np.zeros(2, int), np.zeros((2, 3), bfloat16))


def test_book_float16_means_over_large_batches():
    """The chapter's large-N demos: 70,000 elements (more than any float16) and 10,000 x 1,000.

    Each element is computed in float16 (a few ULP), the mean in float64 and rounded once:
    within the chapter's bound of 4 float16 ULP on any CPU's exp/log."""
    n = 70_000
    ones, zeros, halves = (np.full(n, v, np.float16) for v in (1.0, 0.0, 0.5))
    mean = logits_ch.bce_with_logits(ones, zeros)
    assert mean.dtype == np.float16 and ulps(mean, mp.log(2), "float16") <= ULP_BOUND
    mean = bce_ch.bce(ones, halves)
    assert mean.dtype == np.float16 and ulps(mean, mp.log(2), "float16") <= ULP_BOUND
    y = np.zeros(n, np.float16)
    y[::2] = 1
    z = np.tile(np.array([3.0, -3.0], np.float16), n // 2)      # every loss log1p(e^-3)
    assert ulps(logits_ch.bce_with_logits(y, z), exact_bce_logits(1, 3), "float16") <= ULP_BOUND
    mean = cce_ch.sparse_cce_with_logits(np.zeros(10_000, int), np.zeros((10_000, 1_000), np.float16))
    assert mean.dtype == np.float16 and ulps(mean, mp.log(1000), "float16") <= ULP_BOUND


def test_ml_dtypes_double_rounding_from_float64(bfloat16):
    """Why the chapter rounds to bfloat16 with its own round-to-odd step: via float32 (and, in
    ml_dtypes 0.6.0, also directly) a float64 just above a bfloat16 tie is rounded twice."""
    x = np.array([1 + 2.0**-8 + 2.0**-30])
    assert float(x.astype(bfloat16)[0]) == 1.0          # correctly rounded would be 1 + 2^-7
    assert float(x.astype(np.float32).astype(bfloat16)[0]) == 1.0
