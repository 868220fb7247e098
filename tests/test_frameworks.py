"""The frameworks chapter: conformance of the book's functions with PyTorch, TensorFlow, Keras 3
(tensorflow, torch and numpy backends), tf-keras (the Keras 2 API) and scikit-learn. (The focal
loss, pos_weight, label smoothing and class weights in PyTorch are tested in test_reductions.py,
beside the chapter that derives them; Keras's focal loss is compared here with the reductions
chapter's `focal_loss_with_logits`.)

Where the book and a framework should agree they agree to a stated tolerance (float64 frameworks:
relative 1e-13 or tighter; float32 frameworks: relative 2e-6, a few float32 ulps); where they
should differ, the documented difference is asserted. The frameworks are not in requirements.txt:
a missing one FAILS (never skips) with the install line `pip install -r requirements-frameworks.txt`.
Each Keras flavour runs in a subprocess of its own (the backend is fixed at import), all at once.
"""
import importlib
import json
import os
import subprocess
import sys
import textwrap
import warnings

import mpmath
import numpy as np
import pytest

from conftest import INSTALL, require  # noqa: E402  (shared with the other framework tests)
from oracle import exact_focal  # noqa: E402
from bookfunctions import load_chapter

red = load_chapter("reductions")           # the focal loss
bce_ch, logits_ch, cce_ch = load_chapter("bce"), load_chapter("logits"), load_chapter("cce")
mp = mpmath.mp
mp.dps = 60

F64_REL = 1e-13        # float64 framework vs the book
F32_REL = 2e-6         # float32 framework (Keras) vs the book: a few float32 ulps


# ------------------------------------------------------------------ PyTorch (in process)


def test_torch_bce_with_logits_agrees_on_moderate_logits(torch, F):
    rng = np.random.default_rng(1)
    y, z, w = rng.random(200), rng.uniform(-30, 30, 200), rng.random(200)
    got = F.binary_cross_entropy_with_logits(torch.tensor(z), torch.tensor(y), reduction="none").numpy()
    # torch forms log(1 + e^-|z|) without log1p: tiny losses (e^-30) keep only an absolute accuracy
    np.testing.assert_allclose(got, logits_ch.bce_with_logits(y, z, reduction="none"), rtol=F64_REL, atol=1e-15)
    # its 'mean' with weights divides by N, not by sum(w)
    mean = F.binary_cross_entropy_with_logits(torch.tensor(z), torch.tensor(y), weight=torch.tensor(w)).item()
    assert mean == pytest.approx(logits_ch.bce_with_logits(y, z, sample_weight=w, reduction="sum") / 200, rel=F64_REL)
    z32, y32 = z.astype(np.float32), y.astype(np.float32)
    got32 = F.binary_cross_entropy_with_logits(torch.tensor(z32), torch.tensor(y32)).item()
    assert got32 == pytest.approx(float(logits_ch.bce_with_logits(y32, z32)), rel=F32_REL)


def test_torch_autograd_matches_book_gradients(torch, F):
    rng = np.random.default_rng(2)
    y, z = rng.random(50), rng.normal(0, 3, 50)
    zt = torch.tensor(z, requires_grad=True)
    F.binary_cross_entropy_with_logits(zt, torch.tensor(y)).backward()
    np.testing.assert_allclose(zt.grad.numpy(), logits_ch.bce_with_logits_grad(y, z), rtol=1e-12, atol=1e-18)
    labels, Z = rng.integers(0, 4, 20), rng.normal(0, 3, (20, 4))
    Zt = torch.tensor(Z, requires_grad=True)
    F.cross_entropy(Zt, torch.tensor(labels)).backward()
    np.testing.assert_allclose(Zt.grad.numpy(), cce_ch.sparse_cce_with_logits_grad(labels, Z), rtol=1e-12, atol=1e-18)


def test_torch_bce_loss_clamps_each_log_at_minus_100(torch, F):
    # reference-facts item 3: 33.333333333333336; the book says inf
    item3 = F.binary_cross_entropy(torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64),
                                   torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64)).item()
    assert item3 == 33.333333333333336 == 100 / 3
    assert bce_ch.bce(np.array([1.0, 1.0, 1.0]), np.array([1.0, 1.0, 0.0])) == np.inf
    per_term = F.binary_cross_entropy(torch.tensor([0.0, 1e-50, 1e-10], dtype=torch.float64),
                                      torch.ones(3, dtype=torch.float64), reduction="none").numpy()
    assert per_term[0] == 100.0 and per_term[1] == 100.0          # exact: inf and 115.13
    assert bce_ch.bce(np.array([1.0]), np.array([1e-50])) == pytest.approx(50 * np.log(10), rel=1e-15)
    assert per_term[2] == pytest.approx(float(bce_ch.bce(np.array([1.0]), np.array([1e-10]))), rel=F64_REL)
    with pytest.raises(RuntimeError):
        F.binary_cross_entropy(torch.tensor([1.2], dtype=torch.float64), torch.tensor([1.0], dtype=torch.float64))


def test_torch_loses_tiny_losses_the_book_keeps(torch, F):
    exact = float(mp.log1p(mp.exp(-40)))
    book = logits_ch.bce_with_logits(np.array([1.0, 0.0]), np.array([40.0, -40.0]), reduction="none")
    np.testing.assert_allclose(book, [exact, exact], rtol=1e-15)
    got = F.binary_cross_entropy_with_logits(torch.tensor([40.0, -40.0], dtype=torch.float64),
                                             torch.tensor([1.0, 0.0], dtype=torch.float64), reduction="none").numpy()
    assert got[0] == pytest.approx(exact, rel=1e-15) and got[1] == 0.0   # y = 0, z = -40: lost
    row = F.cross_entropy(torch.tensor([[40.0, 0.0]], dtype=torch.float64), torch.tensor([0])).item()
    assert row == 0.0
    assert cce_ch.cce_with_logits(np.array([[1.0, 0.0]]), np.array([[40.0, 0.0]])) == pytest.approx(exact, rel=1e-15)


# ------------------------------------------------------------------ scikit-learn (in process)
@pytest.fixture(scope="module")
def log_loss():
    return require("sklearn.metrics").log_loss


def test_sklearn_log_loss_agrees_on_interior_probabilities(log_loss):
    rng = np.random.default_rng(5)
    y, p, w = (rng.random(300) < 0.4).astype(float), rng.uniform(1e-6, 1 - 1e-6, 300), rng.random(300)
    assert log_loss(y, p) == pytest.approx(float(bce_ch.bce(y, p)), rel=F64_REL)
    assert log_loss(y, p, sample_weight=w) == pytest.approx(float(bce_ch.bce(y, p, sample_weight=w)), rel=F64_REL)
    labels, P = rng.integers(0, 4, 100), rng.dirichlet(np.ones(4), 100)
    assert log_loss(labels, P, labels=[0, 1, 2, 3]) == pytest.approx(float(cce_ch.cce(np.eye(4)[labels], P)), rel=F64_REL)


def test_sklearn_clips_at_the_dtype_epsilon_and_does_not_renormalise(log_loss):
    y, p = [1, 1, 1], np.array([1.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="labels"):
        log_loss(y, p)
    item3 = log_loss(y, p, labels=[0, 1])
    # reference-facts item 3 (12.014551129705717): -log(eps) / 3, up to the last bit of log
    assert item3 == pytest.approx(-np.log(np.finfo(np.float64).eps) / 3, rel=1e-15)
    assert item3 == pytest.approx(12.014551129705717, rel=1e-15)
    assert log_loss(y, p.astype(np.float32), labels=[0, 1]) == pytest.approx(
        -np.log(float(np.finfo(np.float32).eps)) / 3, rel=1e-6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = log_loss([0, 1], np.array([[0.5, 0.3], [0.2, 0.2]]))
    assert any("sum to one" in str(c.message) for c in caught)
    assert value == pytest.approx(-(np.log(0.5) + np.log(0.2)) / 2, rel=1e-15)   # not renormalised
    with pytest.raises(ValueError):
        log_loss([0.3, 0.8], [0.2, 0.7], labels=[0, 1])              # soft labels refused


# ------------------------------------------------------------------ Keras and TensorFlow (subprocesses)
FLAVOURS = {"K3/tf": ("keras", "tensorflow"), "K3/torch": ("keras", "torch"),
            "K3/numpy": ("keras", "numpy"), "tf-keras": ("tf_keras", "tensorflow"),
            "tf.nn": ("tensorflow", "tensorflow")}
PRELUDE = """
import importlib, json, os, sys, warnings
warnings.filterwarnings("ignore")
import numpy as np
if os.environ["KERAS_BACKEND"] == "tensorflow":
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
keras = importlib.import_module(os.environ["BOOK_KERAS_MODULE"])
DATA = json.loads(sys.stdin.read())
"""
KERAS_SCRIPT = """
L, a = keras.losses, lambda key: np.array(DATA[key])
K3 = os.environ["BOOK_KERAS_MODULE"] == "keras"
value = lambda t: np.asarray(t).tolist()
R = {}
R["item3"] = value(L.BinaryCrossentropy()([[1.0], [1.0], [1.0]], [[1.0], [1.0], [0.0]]))
R["item3_f64_input"] = value(L.BinaryCrossentropy()(np.ones((3, 1)), np.array([[1.0], [1.0], [0.0]])))
if K3:
    R["item3_dtype64"] = value(L.BinaryCrossentropy(dtype="float64")(np.ones((3, 1)), np.array([[1.0], [1.0], [0.0]])))
R["p0_terms"] = value(L.BinaryCrossentropy(reduction="none")(np.ones((2, 1), "float32"), np.array([[0.0], [1e-10]], "float32")))
R["z_minus_100"] = value(L.BinaryCrossentropy(from_logits=True)([[1.0]], [[-100.0]]))
R["bce_logits"] = value(L.BinaryCrossentropy(from_logits=True, reduction="none")(a("y")[:, None], a("z")[:, None]))
R["bce_probs"] = value(L.BinaryCrossentropy(reduction="none")(a("y")[:, None], a("p")[:, None]))
R["cce_logits"] = value(L.CategoricalCrossentropy(from_logits=True, reduction="none")(a("Y"), a("Z")))
R["sparse_logits"] = value(L.SparseCategoricalCrossentropy(from_logits=True, reduction="none")(a("labels"), a("Z")))
R["weighted"] = {}
for reduction in ("sum_over_batch_size", "sum", "mean_with_sample_weight"):
    try:
        R["weighted"][reduction] = value(L.BinaryCrossentropy(from_logits=True, reduction=reduction)(
            a("y")[:, None], a("z")[:, None], sample_weight=a("w")))
    except ValueError as error:
        R["weighted"][reduction] = "ValueError: " + str(error)[:80]
R["smooth_bce"] = value(L.BinaryCrossentropy(label_smoothing=0.2)(a("y_hard")[:, None], a("p")[:, None]))
R["smooth_cce"] = value(L.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)(a("Y"), a("Z")))
focal = L.BinaryFocalCrossentropy(from_logits=True, gamma=2.0, apply_class_balancing=True, alpha=0.25, reduction="none")
R["focal"] = value(focal(a("y_hard")[:, None], a("z")[:, None]))
R["focal_z_minus_30"] = value(L.BinaryFocalCrossentropy(from_logits=True, gamma=2.0)([[1.0]], [[-30.0]]))
if K3:
    P = keras.activations.softmax(keras.ops.convert_to_tensor(np.array([[50.0, -50.0, 0.0]], "float32")))
    R["softmax_output"] = value(L.CategoricalCrossentropy()(np.array([[0.0, 1.0, 0.0]], "float32"), P))
R["renormalised"] = value(L.CategoricalCrossentropy()([[1.0, 0.0, 0.0]], [[0.5, 0.3, 0.1]]))
R["class_labels_to_bce"] = value(L.BinaryCrossentropy(from_logits=True)([[0.0], [1.0], [2.0]], [[0.5], [1.0], [3.0]]))
R["cce_p_true_0"] = value(L.CategoricalCrossentropy()([[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]]))
GUARD_P = [[1.0], [1.0], [0.0], [1e-8], [0.5]]                      # y = 1 everywhere
if os.environ["KERAS_BACKEND"] == "tensorflow":
    p = tf.Variable(GUARD_P)
    with tf.GradientTape() as tape:
        total = L.BinaryCrossentropy(reduction="sum")(tf.ones((5, 1)), p)
    R["grad_at_guard"] = tape.gradient(total, p).numpy().ravel().tolist()
elif os.environ["KERAS_BACKEND"] == "torch":
    import torch
    p = torch.tensor(GUARD_P, requires_grad=True)
    L.BinaryCrossentropy(reduction="sum")(torch.ones(5, 1), p).backward()
    R["grad_at_guard"] = p.grad.ravel().tolist()
RESULT = {"version": keras.__version__, **R}
"""
TF_SCRIPT = """
a = lambda key: tf.constant(DATA[key], tf.float64)
sig = tf.nn.sigmoid_cross_entropy_with_logits(labels=a("y"), logits=a("z")).numpy()
soft = tf.nn.softmax_cross_entropy_with_logits(labels=a("Y"), logits=a("Z")).numpy()
big = tf.nn.sigmoid_cross_entropy_with_logits(labels=a("y_big"), logits=a("z_big")).numpy()
RESULT = {"version": tf.__version__, "sigmoid": sig.tolist(), "softmax": soft.tolist(), "big": big.tolist()}
"""


def keras_data():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 4, 16)
    return {"y": rng.random(32).tolist(), "y_hard": (rng.random(32) < 0.5).astype(float).tolist(),
            "z": rng.uniform(-8, 8, 32).tolist(), "p": rng.uniform(0.01, 0.99, 32).tolist(),
            "w": np.where(rng.random(32) < 0.3, 0.0, rng.random(32)).tolist(),
            "labels": labels.tolist(), "Y": np.eye(4)[labels].tolist(), "Z": rng.normal(0, 3, (16, 4)).tolist(),
            "y_big": [0.0, 1.0, 0.3, 1.0], "z_big": [-40.0, 40.0, 100.0, -700.0]}


@pytest.fixture(scope="module")
def runs():
    """One subprocess per flavour, all at once; {flavour: RESULT} and the data sent."""
    data = keras_data()
    procs = {}
    for column, (module, backend) in FLAVOURS.items():
        env = dict(os.environ, KERAS_BACKEND=backend, BOOK_KERAS_MODULE=module, TF_CPP_MIN_LOG_LEVEL="3",
                   TF_ENABLE_ONEDNN_OPTS="0", OMP_NUM_THREADS="1")
        script = PRELUDE + textwrap.dedent(TF_SCRIPT if column == "tf.nn" else KERAS_SCRIPT) + "\nprint(json.dumps(RESULT))"
        procs[column] = subprocess.Popen([sys.executable, "-c", script], env=env, text=True, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    results = {}
    for column, proc in procs.items():
        out, err = proc.communicate(json.dumps(data), timeout=300)
        if proc.returncode != 0:
            missing = "ModuleNotFoundError" in err or "ImportError" in err
            hint = f"a framework is not installed; run: {INSTALL}\n" if missing else ""
            pytest.fail(f"{column} failed: {hint}{err[-1500:]}", pytrace=False)
        results[column] = json.loads(out.splitlines()[-1])
    return results, {k: np.array(v) for k, v in data.items()}


K3 = ("K3/tf", "K3/torch", "K3/numpy")
KERAS = K3 + ("tf-keras",)
NEG_LOG_EPS7 = float(-np.log(np.float32(1e-7)))                 # 16.11809539794922


def test_versions(runs):
    results, _ = runs
    assert {results[c]["version"] for c in K3} == {"3.15.1"}
    assert results["tf-keras"]["version"] == "2.21.0" and results["tf.nn"]["version"] == "2.21.0"


def guarded_item3(dtype, twice):
    """Mean BCE of y = (1, 1, 1), p = (1, 1, 0) with Keras's clip (and Keras 2's second eps), in dtype."""
    eps = dtype(1e-7)
    p = np.clip(np.array([1.0, 1.0, 0.0], dtype), eps, dtype(1) - eps)
    return float(np.mean(-np.log(p + (eps if twice else dtype(0)))))


F32_ULPS = 4 * 2.0**-24          # a few float32 ULP, relative: another CPU's float32 log may differ


def test_reference_item3_keras(runs):
    results, _ = runs
    keras3, keras2_32, keras2_64 = (guarded_item3(np.float32, False), guarded_item3(np.float32, True),
                                    guarded_item3(np.float64, True))
    # the published numbers (reference-facts items 2 and 3) are these formulas
    assert keras3 == pytest.approx(5.3726983070373535, rel=F32_ULPS)
    assert keras2_32 == pytest.approx(5.1416497230529785, rel=F32_ULPS)
    assert keras2_64 == pytest.approx(5.141649490132791, rel=1e-14)
    for column in K3:
        assert results[column]["item3"] == pytest.approx(keras3, rel=F32_ULPS), column
        assert results[column]["item3_f64_input"] == pytest.approx(keras3, rel=F32_ULPS), column  # cast to float32
    assert results["tf-keras"]["item3"] == pytest.approx(keras2_32, rel=F32_ULPS)               # float32 lists
    assert results["tf-keras"]["item3_f64_input"] == pytest.approx(keras2_64, rel=1e-14)        # keeps float64
    assert abs(keras2_64 / keras2_32 - 1) > 1e-8              # the two really are different numbers
    # Keras 3 with dtype="float64": float64 on the TensorFlow backend only
    assert results["K3/tf"]["item3_dtype64"] == pytest.approx((-np.log(1e-7) - 2 * np.log1p(-1e-7)) / 3, rel=1e-15)
    for column in ("K3/torch", "K3/numpy"):
        assert results[column]["item3_dtype64"] == pytest.approx(keras3, rel=F32_ULPS), column


def test_keras_clip_and_keras2_double_epsilon(runs):
    results, _ = runs
    for column in K3:                                     # p = 0 and p = 1e-10 both cost -log(1e-7)
        assert results[column]["p0_terms"] == pytest.approx([NEG_LOG_EPS7] * 2, rel=1e-7), column
    double = float(-np.log(np.float32(1e-7) + np.float32(1e-7)))
    assert results["tf-keras"]["p0_terms"] == pytest.approx([double] * 2, rel=1e-7)
    assert double == pytest.approx(-np.log(2e-7), rel=1e-6)


def test_keras_categorical_only_clips_in_both_kerases(runs):
    """tf-keras adds its second epsilon in the binary loss only: its categorical loss charges
    -log(1e-7) = 16.118 for p_true = 0, like Keras 3 (issue 11, claim 6)."""
    results, _ = runs
    for column in KERAS:
        assert results[column]["cce_p_true_0"] == pytest.approx(NEG_LOG_EPS7, rel=1e-6), column
    assert NEG_LOG_EPS7 == pytest.approx(16.1181, abs=1e-4)


def test_keras_clip_has_zero_gradient_beyond_its_guard(runs, torch):
    """Keras's clip: gradient 0 at p = 0, p = 1e-8 and p = 1 (y = 1); -1/p at p = 0.5. PyTorch's
    BCELoss: about -1e12 at p = 0 (its backward caps p(1 - p) at 1e-12) (issue 11, claim 1)."""
    results, _ = runs
    for column in ("K3/tf", "K3/torch", "tf-keras"):
        grad = results[column]["grad_at_guard"]
        assert grad[:4] == [0.0, 0.0, 0.0, 0.0], column
        assert grad[4] == pytest.approx(-2.0, rel=1e-5), column        # -1/p, tf-keras: -1/(p + eps)
    p = torch.tensor([1.0, 1.0, 0.0, 1e-8, 0.5], dtype=torch.float64, requires_grad=True)
    torch.nn.BCELoss(reduction="sum")(p, torch.ones(5, dtype=torch.float64)).backward()
    g = p.grad.numpy()
    assert g[0] == g[1] == 0.0                        # exact: -1 at p = 1
    assert g[2] == pytest.approx(-1e12, rel=1e-8)     # exact: -inf; the cap is float32(1e-12)
    assert g[3] == pytest.approx(-1e8, rel=1e-12) and g[4] == pytest.approx(-2.0, rel=1e-15)


def test_keras_numpy_backend_from_logits_is_sigmoid_then_clip(runs):
    results, _ = runs
    assert results["K3/numpy"]["z_minus_100"] == pytest.approx(16.118, abs=1e-3)
    assert results["K3/numpy"]["z_minus_100"] == pytest.approx(NEG_LOG_EPS7, rel=1e-7)
    for column in ("K3/tf", "K3/torch", "tf-keras"):
        assert results[column]["z_minus_100"] == pytest.approx(100.0, rel=1e-7), column
    assert logits_ch.bce_with_logits(np.array([1.0]), np.array([-100.0])) == pytest.approx(100.0, rel=1e-15)


def test_keras_agrees_with_book_where_it_should(runs):
    results, d = runs
    bce_z = logits_ch.bce_with_logits(d["y"], d["z"], reduction="none")
    bce_p = bce_ch.bce(d["y"], d["p"], reduction="none")
    cce_z = cce_ch.cce_with_logits(d["Y"], d["Z"], reduction="none")
    for column in KERAS:
        r = results[column]
        if column == "K3/numpy":    # sigmoid first, then log: 1 - sigma(z) loses digits in float32
            errors = np.abs(np.array(r["bce_logits"]) / bce_z - 1)
            assert 1e-6 < errors.max() < 1e-4, errors.max()
        else:                       # fused, stable formulas
            np.testing.assert_allclose(r["bce_logits"], bce_z, rtol=F32_REL, atol=1e-6, err_msg=column)
        np.testing.assert_allclose(r["cce_logits"], cce_z, rtol=F32_REL, atol=1e-6, err_msg=column)
        np.testing.assert_allclose(r["sparse_logits"], cce_z, rtol=F32_REL, atol=1e-6, err_msg=column)
        if column != "tf-keras":            # tf-keras adds 1e-7 in each log: relative shift ~1e-7/p
            np.testing.assert_allclose(r["bce_probs"], bce_p, rtol=F32_REL, err_msg=column)
    np.testing.assert_allclose(results["tf-keras"]["bce_probs"], bce_p, rtol=2e-5)


def test_keras_reductions_with_weights(runs):
    results, d = runs
    total = logits_ch.bce_with_logits(d["y"], d["z"], sample_weight=d["w"], reduction="sum")
    mean = logits_ch.bce_with_logits(d["y"], d["z"], sample_weight=d["w"])
    assert (d["w"] == 0).any()
    for column in KERAS:
        weighted = results[column]["weighted"]
        assert weighted["sum"] == pytest.approx(total, rel=F32_REL), column
        # the default divides by N, zero weights included
        assert weighted["sum_over_batch_size"] == pytest.approx(total / d["w"].size, rel=F32_REL), column
        assert weighted["sum_over_batch_size"] != pytest.approx(mean, rel=1e-3)
    for column in K3:
        assert results[column]["weighted"]["mean_with_sample_weight"] == pytest.approx(mean, rel=F32_REL), column
    assert results["tf-keras"]["weighted"]["mean_with_sample_weight"].startswith("ValueError")


def test_keras_label_smoothing_is_a_change_of_target(runs):
    results, d = runs
    bce_target = d["y_hard"] * 0.8 + 0.2 / 2
    cce_target = d["Y"] * 0.9 + 0.1 / 4
    for column in K3:
        assert results[column]["smooth_bce"] == pytest.approx(float(bce_ch.bce(bce_target, d["p"])), rel=F32_REL)
        assert results[column]["smooth_cce"] == pytest.approx(float(cce_ch.cce_with_logits(cce_target, d["Z"])), rel=F32_REL)
    assert results["tf-keras"]["smooth_cce"] == pytest.approx(float(cce_ch.cce_with_logits(cce_target, d["Z"])), rel=F32_REL)


def test_keras_focal_matches_the_chapter_and_where_it_clips(runs):
    results, d = runs
    book = red.focal_loss_with_logits(d["y_hard"], d["z"], gamma=2.0, alpha=0.25, reduction="none")
    for column in KERAS:
        np.testing.assert_allclose(results[column]["focal"], book, rtol=1e-5, atol=1e-7, err_msg=column)
    exact = float(exact_focal(1.0, -30.0, 2.0))
    for column in ("K3/tf", "tf-keras"):           # the sigmoid is traced back to its logit
        assert results[column]["focal_z_minus_30"] == pytest.approx(exact, rel=1e-6), column
    for column in ("K3/torch", "K3/numpy"):        # sigmoid, then the clipped probability path
        assert results[column]["focal_z_minus_30"] == pytest.approx(NEG_LOG_EPS7, rel=1e-6), column


def test_keras_probability_paths(runs):
    results, _ = runs
    # a softmax output is traced back to its logits on TensorFlow only
    assert results["K3/tf"]["softmax_output"] == pytest.approx(100.0, rel=1e-6)
    for column in ("K3/torch", "K3/numpy"):
        assert results[column]["softmax_output"] == pytest.approx(NEG_LOG_EPS7, rel=1e-6)
    # probability rows are renormalised before the log; the book refuses them
    for column in KERAS:
        assert results[column]["renormalised"] == pytest.approx(-np.log(0.5 / 0.9), rel=F32_REL)
    with pytest.raises(ValueError):
        cce_ch.cce(np.array([[1.0, 0.0, 0.0]]), np.array([[0.5, 0.3, 0.1]]))
    # class labels 0/1/2 given to a binary loss: silently accepted, and negative
    z, y = np.array([0.5, 1.0, 3.0]), np.array([0.0, 1.0, 2.0])
    expected = np.mean(np.logaddexp(0, z) - y * z)                 # softplus(z) - y z, unbounded below
    for column in KERAS:
        assert results[column]["class_labels_to_bce"] == pytest.approx(expected, rel=F32_REL) and expected < 0
    with pytest.raises(ValueError):
        logits_ch.bce_with_logits(y, z)


def test_tensorflow_ops(runs):
    results, d = runs
    tf = results["tf.nn"]
    z, y = d["z"], d["y"]
    formula = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    np.testing.assert_allclose(tf["sigmoid"], formula, rtol=1e-15)
    np.testing.assert_allclose(tf["sigmoid"], logits_ch.bce_with_logits(y, z, reduction="none"), rtol=F64_REL)
    np.testing.assert_allclose(tf["softmax"], cce_ch.cce_with_logits(d["Y"], d["Z"], reduction="none"), rtol=F64_REL)
    exact_big = logits_ch.bce_with_logits(d["y_big"], d["z_big"], reduction="none")
    np.testing.assert_allclose(tf["big"][:2], exact_big[:2], rtol=1e-15)       # 4.2e-18 kept
    np.testing.assert_allclose(tf["big"][2:], exact_big[2:], rtol=1e-14)
