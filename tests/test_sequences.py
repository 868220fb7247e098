"""The sequences chapter (book/chapters/sequences.ipynb): every library claim it makes, checked
against the book's functions (loaded from cce.ipynb and information.ipynb) and independent
formulas.

- PyTorch (float64): every target ignored gives NaN for 'mean' and 0 for 'sum'; on masked
  batches, per-pixel (N, K, H, W) inputs and class weights it agrees with the book within 1e-12
  (relative); its default ignore_index is -100; `kl_div` with log_target=False and True equals
  T^2 times the book's mean KL and its gradient is T (p - q) / N; 'mean' is 'batchmean' / K.
- Keras 3 (float32, in subprocesses: the backend is fixed at import; torch and tensorflow
  backends): `ignore_class` with every target ignored gives 0; masked and per-pixel means agree
  with the book within 1e-6 (relative); with sample weights the default reduction divides by the
  number of kept targets, 'mean_with_sample_weight' by their weights.
- The temperature claims: d CE(q, softmax(s/T)) / ds = (p - q) / T; for large T the gradient
  falls like 1/T^2 and T^2 times it tends to ((s - mean s) - (t - mean t)) / K.
The oracle tests of `ignore_index` and `axis` themselves are in tests/test_cce.py.
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
from oracle import central_difference_gradient

cce_ch, info_ch = load_chapter("cce"), load_chapter("information")
F64_REL = 1e-12
F32_REL = 1e-6


# ------------------------------------------------------------------ data (as in the chapter)
def padded_batch():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 1.5, (2, 6, 5))
    labels = rng.integers(0, 5, (2, 6))
    lengths = np.array([2, 6])
    labels[np.arange(6) >= lengths[:, None]] = -100
    return logits, labels, lengths


def pixel_batch():
    rng = np.random.default_rng(4)
    z = rng.normal(0, 2, (2, 4, 3, 5))
    c = rng.integers(0, 4, (2, 3, 5))
    c[:, 0, :2] = 255
    return z, c


def teacher_student(seed=3):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 3, (4, 5)), rng.normal(0, 3, (4, 5))


def weighted_quad():
    z = np.random.default_rng(8).normal(0, 2, (4, 3))
    return z, np.array([0, -100, 2, -100]), np.array([1.0, 2.0, 3.0, 4.0])


# ------------------------------------------------------------------ independent formulas
def loss_rows(labels, logits):
    """-log softmax(z)[c] per row, with mpmath (60 digits), as floats."""
    mpmath.mp.dps = 60
    out = []
    for c, z in zip(labels, logits):
        z = [mpmath.mpf(float(v)) for v in z]
        lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in z))
        out.append(float(lse - z[c]))
    return np.array(out)


def per_token_and_sequence_means(labels, logits, ignore=-100):
    """A plain loop over sequences: (per-token mean, per-sequence mean)."""
    totals, counts = [], []
    for c_row, z_row in zip(labels, logits):
        keep = c_row != ignore
        totals.append(loss_rows(c_row[keep], z_row[keep]).sum())
        counts.append(keep.sum())
    totals, counts = np.array(totals), np.array(counts)
    return totals.sum() / counts.sum(), np.mean(totals / counts)


# ------------------------------------------------------------------ PyTorch
def test_torch_every_target_ignored_gives_nan_mean_and_zero_sum(torch, F):
    logits, _, _ = padded_batch()
    z = torch.tensor(logits).reshape(-1, 5)
    empty = torch.full((12,), -100)
    assert math.isnan(F.cross_entropy(z, empty, ignore_index=-100).item())
    assert F.cross_entropy(z, empty, ignore_index=-100, reduction="sum").item() == 0
    assert not F.cross_entropy(z, empty, ignore_index=-100, reduction="none").numpy().any()
    assert math.isnan(F.cross_entropy(z, empty).item())          # -100 is the default
    # the book: 'mean' refuses, 'sum' is 0
    with pytest.raises(ValueError, match="ignore_index"):
        cce_ch.sparse_cce_with_logits(np.full((2, 6), -100), logits, ignore_index=-100)
    assert cce_ch.sparse_cce_with_logits(np.full((2, 6), -100), logits, ignore_index=-100,
                                         reduction="sum") == 0


def test_torch_all_ignored_nan_mean_has_a_zero_gradient(torch, F):
    """The NaN is in the reported loss only: backward gives an all-zero gradient."""
    logits, _, _ = padded_batch()
    z = torch.tensor(logits).reshape(-1, 5).requires_grad_(True)
    loss = F.cross_entropy(z, torch.full((12,), -100), ignore_index=-100)
    assert math.isnan(loss.item())
    loss.backward()
    assert torch.all(z.grad == 0).item()


def test_torch_kl_div_with_swapped_arguments_is_kl_of_the_other_order(torch, F):
    """kl_div(log q, p) computes KL(p || q): the teacher's and student's roles exchanged."""
    t_logits, s_logits = teacher_student()
    T = 4.0
    q, p = cce_ch.softmax(t_logits / T), cce_ch.softmax(s_logits / T)
    st = torch.tensor(s_logits, requires_grad=True)
    log_q = F.log_softmax(torch.tensor(t_logits) / T, dim=1)
    p_t = F.softmax(st / T, dim=1)
    swapped = F.kl_div(log_q, p_t, reduction="batchmean")
    assert swapped.item() == pytest.approx(np.mean(info_ch.kl_divergence(p, q)), rel=1e-12)
    assert swapped.item() != pytest.approx(np.mean(info_ch.kl_divergence(q, p)), rel=1e-3)
    swapped.backward()
    right = T * cce_ch.cce_with_logits_grad(q, s_logits / T) / T**2     # d KL(q||p) / ds
    assert not np.allclose(st.grad.numpy(), right, rtol=1e-3)


def test_torch_masked_batch_and_class_weights_agree_with_the_book(torch, F):
    logits, labels, _ = padded_batch()
    z, c = torch.tensor(logits).reshape(-1, 5), torch.tensor(labels).reshape(-1)
    book = cce_ch.sparse_cce_with_logits(labels, logits, ignore_index=-100)
    assert F.cross_entropy(z, c, ignore_index=-100).item() == pytest.approx(book, rel=F64_REL)
    assert F.cross_entropy(z, c).item() == F.cross_entropy(z, c, ignore_index=-100).item()
    oracle, _ = per_token_and_sequence_means(labels, logits)
    assert book == pytest.approx(oracle, rel=1e-14)
    class_weight = np.array([1.0, 2.0, 0.5, 1.0, 3.0])
    kept = labels != -100
    target_weight = class_weight[np.where(kept, labels, 0)]
    torch_w = F.cross_entropy(z, c, weight=torch.tensor(class_weight), ignore_index=-100).item()
    book_w = cce_ch.sparse_cce_with_logits(labels, logits, ignore_index=-100,
                                           sample_weight=target_weight)
    assert torch_w == pytest.approx(book_w, rel=F64_REL)
    rows = loss_rows(labels[kept], logits[kept])
    assert book_w == pytest.approx(np.sum(target_weight[kept] * rows) / target_weight[kept].sum(),
                                   rel=1e-14)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_torch_per_pixel_layout_agrees_with_axis_1(torch, F, reduction):
    z, c = pixel_batch()
    zt = torch.tensor(z, requires_grad=True)
    out = F.cross_entropy(zt, torch.tensor(c), ignore_index=255, reduction=reduction)
    book = cce_ch.sparse_cce_with_logits(c, z, axis=1, ignore_index=255, reduction=reduction)
    np.testing.assert_allclose(out.detach().numpy(), book, rtol=F64_REL, atol=0)
    out.sum().backward()
    grad = cce_ch.sparse_cce_with_logits_grad(c, z, axis=1, ignore_index=255,
                                              reduction=reduction)
    assert grad.shape == z.shape
    np.testing.assert_allclose(zt.grad.numpy(), grad, rtol=1e-10, atol=1e-15)


def test_reshape_without_moveaxis_gives_another_number_in_both(torch, F):
    z, c = pixel_batch()
    right = cce_ch.sparse_cce_with_logits(c.ravel(), np.moveaxis(z, 1, -1).reshape(-1, 4),
                                          ignore_index=255)
    assert right == cce_ch.sparse_cce_with_logits(c, z, axis=1, ignore_index=255)
    wrong = cce_ch.sparse_cce_with_logits(c.ravel(), z.reshape(-1, 4), ignore_index=255)
    torch_wrong = F.cross_entropy(torch.tensor(z).reshape(-1, 4), torch.tensor(c).reshape(-1),
                                  ignore_index=255).item()
    assert torch_wrong == pytest.approx(wrong, rel=F64_REL)
    assert abs(wrong - right) > 0.1
    torch_right = F.cross_entropy(torch.tensor(z).permute(0, 2, 3, 1).reshape(-1, 4),
                                  torch.tensor(c).reshape(-1), ignore_index=255).item()
    assert torch_right == pytest.approx(right, rel=F64_REL)


@pytest.mark.parametrize("T", [1.0, 4.0, 10.0])
def test_torch_kl_div_both_log_target_settings(torch, F, T):
    t_logits, s_logits = teacher_student()
    q = cce_ch.softmax(t_logits / T)
    book = T**2 * np.mean(info_ch.kl_divergence(q, cce_ch.softmax(s_logits / T)))
    st = torch.tensor(s_logits, requires_grad=True)
    log_p = F.log_softmax(st / T, dim=1)
    log_q = F.log_softmax(torch.tensor(t_logits) / T, dim=1)
    probs = T**2 * F.kl_div(log_p, log_q.exp(), reduction="batchmean")
    logs = T**2 * F.kl_div(log_p, log_q, reduction="batchmean", log_target=True)
    assert probs.item() == pytest.approx(book, rel=F64_REL)
    assert logs.item() == pytest.approx(book, rel=F64_REL)
    # KL = CE - H(q), the CE computed by the book from logits
    ce = T**2 * cce_ch.cce_with_logits(q, s_logits / T)
    assert ce - T**2 * np.mean(info_ch.entropy(q)) == pytest.approx(book, rel=1e-10)
    probs.backward()
    np.testing.assert_allclose(st.grad.numpy(), T * cce_ch.cce_with_logits_grad(q, s_logits / T),
                               rtol=1e-10, atol=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mean = F.kl_div(log_p, log_q.exp(), reduction="mean").item()
    assert probs.item() / T**2 == pytest.approx(5 * mean, rel=F64_REL)       # 'mean' = / (N K)


def test_torch_kl_div_input_must_be_log_probabilities(torch, F):
    """Given probabilities (or raw logits) as input, kl_div computes sum q (log q - input) / N,
    which is not a KL divergence and can be negative; with raw logits its gradient is -q/(N T)."""
    t_logits, s_logits = teacher_student()
    T = 4.0
    q = cce_ch.softmax(t_logits / T)
    p = cce_ch.softmax(s_logits / T)
    formula = lambda inp: np.sum(q * (np.log(q) - inp)) / len(q)
    got = F.kl_div(torch.tensor(p), torch.tensor(q), reduction="batchmean").item()
    assert got == pytest.approx(formula(p), rel=F64_REL)
    assert got < 0
    st = torch.tensor(s_logits, requires_grad=True)
    raw = F.kl_div(st / T, torch.tensor(q), reduction="batchmean")
    assert raw.item() == pytest.approx(formula(s_logits / T), rel=F64_REL)
    raw.backward()
    np.testing.assert_allclose(st.grad.numpy(), -q / (len(q) * T), rtol=1e-12)


# ------------------------------------------------------------------ the temperature claims
def test_distillation_gradient_is_p_minus_q_over_t():
    t_logits, s_logits = teacher_student(9)
    for T in (0.5, 2.0, 7.0):
        q = cce_ch.softmax(t_logits / T)
        fd = central_difference_gradient(
            lambda s: cce_ch.cce_with_logits(q, s / T, reduction="sum"), s_logits)
        np.testing.assert_allclose((cce_ch.softmax(s_logits / T) - q) / T, fd, rtol=1e-6,
                                   atol=1e-9)


def test_gradient_falls_like_one_over_t_squared_and_t_squared_restores_it():
    t_logits, s_logits = teacher_student()
    k = t_logits.shape[1]

    def grad(T):                    # d/ds of the mean CE(softmax(t/T), softmax(s/T))
        return cce_ch.cce_with_logits_grad(cce_ch.softmax(t_logits / T), s_logits / T) / T

    for T in (100.0, 1000.0):
        assert np.linalg.norm(grad(2 * T)) / np.linalg.norm(grad(T)) == pytest.approx(0.25,
                                                                                      rel=2e-2)
    centred = ((s_logits - s_logits.mean(1, keepdims=True))
               - (t_logits - t_logits.mean(1, keepdims=True))) / k / len(s_logits)
    errors = [np.abs(T**2 * grad(T) - centred).max() for T in (1e3, 1e4)]
    assert errors[1] < 1e-3 * np.abs(centred).max()              # the limit ...
    assert errors[1] == pytest.approx(errors[0] / 10, rel=0.1)   # ... approached like 1/T
    small = [np.linalg.norm(T**2 * grad(T)) for T in (50.0, 100.0, 200.0)]
    assert max(small) / min(small) < 1.05                      # levels off
    assert np.linalg.norm(grad(200.0)) < 1e-3 * np.linalg.norm(grad(1.0))


# ------------------------------------------------------------------ means, perplexity, pitfalls
def test_per_token_and_per_sequence_means():
    logits, labels, lengths = padded_batch()
    token, sequence = per_token_and_sequence_means(labels, logits)
    assert cce_ch.sparse_cce_with_logits(labels, logits, ignore_index=-100) == pytest.approx(
        token, rel=1e-14)
    assert cce_ch.sparse_cce_with_logits(labels, logits, ignore_index=-100,
                                         sample_weight=1 / lengths) == pytest.approx(
        sequence, rel=1e-14)
    assert abs(token - sequence) > 0.1                           # the chapter's example differs
    losses = cce_ch.sparse_cce_with_logits(labels, logits, ignore_index=-100, reduction="none")
    means = losses.sum(1) / lengths
    assert np.average(means, weights=lengths) == pytest.approx(token, rel=1e-14)


def test_perplexity_of_the_uniform_model_and_bits():
    for v in (5, 1000, 50_000):
        loss = cce_ch.sparse_cce_with_logits(np.arange(3) % v, np.zeros((3, v)))
        assert loss == pytest.approx(math.log(v), rel=1e-15)
        assert math.exp(loss) == pytest.approx(v, rel=1e-12)
    logits, labels, _ = padded_batch()
    loss = cce_ch.sparse_cce_with_logits(labels, logits, ignore_index=-100)
    assert 2 ** (loss / math.log(2)) == pytest.approx(math.exp(loss), rel=1e-14)


def test_microbatch_sums_give_the_batch_mean_and_means_of_means_do_not():
    rng = np.random.default_rng(6)
    lengths = np.array([1, 2, 9, 8])
    z, c = rng.normal(0, 2, (4, 9, 5)), rng.integers(0, 5, (4, 9))
    c[np.arange(9) >= lengths[:, None]] = -100
    halves = [slice(0, 2), slice(2, 4)]
    sums = sum(cce_ch.sparse_cce_with_logits(c[h], z[h], ignore_index=-100, reduction="sum")
               for h in halves)
    whole = cce_ch.sparse_cce_with_logits(c, z, ignore_index=-100)
    assert sums / lengths.sum() == pytest.approx(whole, rel=1e-14)
    means = np.mean([cce_ch.sparse_cce_with_logits(c[h], z[h], ignore_index=-100)
                     for h in halves])
    assert abs(means - whole) > 0.1


def test_numpy_indexing_wraps_minus_100():
    log_p = cce_ch.log_softmax(np.random.default_rng(5).normal(0, 2, (3, 1000)))
    np.testing.assert_array_equal(log_p[np.arange(3), [17, 423, -100]][2], log_p[2, 900])
    with pytest.raises(IndexError):
        log_p[:, :5][np.arange(3), [1, 3, -100]]
    with pytest.raises(ValueError):
        cce_ch.sparse_cce_with_logits([17, 423, -100], np.zeros((3, 1000)))


# ------------------------------------------------------------------ Keras 3 (subprocesses)
KERAS_SCRIPT = r"""
import json, sys, warnings
warnings.filterwarnings("ignore")
import numpy as np
import keras
D = json.loads(sys.stdin.read())
f32 = lambda a: np.array(a, dtype="float32")


def scce(ignore, reduction="sum_over_batch_size"):
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=ignore,
                                                      reduction=reduction)


labels = np.array(D["labels"])
RESULT = {
    "backend": keras.backend.backend(),
    "all ignored": float(scce(-100)(np.full(labels.shape, -100), f32(D["logits"]))),
    "all ignored, 255": float(scce(255)(np.full(np.shape(D["pixel_labels"]), 255),
                                        f32(D["pixel_logits"]))),
    "all ignored, sum": float(scce(-100, "sum")(np.full(labels.shape, -100),
                                                 f32(D["logits"]))),
    "masked": float(scce(-100)(labels, f32(D["logits"]))),
    "masked none": np.asarray(scce(-100, None)(labels, f32(D["logits"]))).tolist(),
    "pixels": float(scce(255)(np.array(D["pixel_labels"]), f32(D["pixel_logits"]))),
    "weighted": [float(scce(-100, r)(np.array(D["c4"]), f32(D["z4"]),
                                     sample_weight=np.array(D["w4"])))
                 for r in ("sum_over_batch_size", "mean_with_sample_weight")],
}
print(json.dumps(RESULT))
"""


@pytest.fixture(scope="module")
def keras_runs():
    """{backend: RESULT}: one Keras 3 process per backend, run at the same time."""
    require("keras")
    logits, labels, _ = padded_batch()
    z, c = pixel_batch()
    z4, c4, w4 = weighted_quad()
    data = json.dumps({"logits": logits.tolist(), "labels": labels.tolist(),
                       "pixel_logits": np.moveaxis(z, 1, -1).tolist(),
                       "pixel_labels": c.tolist(),
                       "z4": z4.tolist(), "c4": c4.tolist(), "w4": w4.tolist()})
    procs = {}
    for backend in ("torch", "tensorflow"):
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
                   TF_ENABLE_ONEDNN_OPTS="0", OMP_NUM_THREADS="1")
        procs[backend] = subprocess.Popen([sys.executable, "-c", KERAS_SCRIPT], env=env,
                                          text=True, stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    results = {}
    for backend, proc in procs.items():
        out, err = proc.communicate(data, timeout=600)
        if proc.returncode != 0:
            pytest.fail(f"Keras ({backend}) failed:\n{err[-2000:]}", pytrace=False)
        results[backend] = json.loads(out.strip().splitlines()[-1])
        assert results[backend]["backend"] == backend
    return results


@pytest.mark.parametrize("backend", ["torch", "tensorflow"])
def test_keras_ignore_class_with_every_target_ignored_gives_zero(keras_runs, backend):
    assert keras_runs[backend]["all ignored"] == 0.0
    assert keras_runs[backend]["all ignored, 255"] == 0.0
    assert keras_runs[backend]["all ignored, sum"] == 0.0


@pytest.mark.parametrize("backend", ["torch", "tensorflow"])
def test_keras_masked_means_agree_with_the_book(keras_runs, backend):
    logits, labels, _ = padded_batch()
    r = keras_runs[backend]
    book = cce_ch.sparse_cce_with_logits(labels, logits, ignore_index=-100)
    assert r["masked"] == pytest.approx(book, rel=F32_REL)
    np.testing.assert_allclose(r["masked none"],
                               cce_ch.sparse_cce_with_logits(labels, logits, ignore_index=-100,
                                                             reduction="none"),
                               rtol=F32_REL, atol=1e-6)


@pytest.mark.parametrize("backend", ["torch", "tensorflow"])
def test_keras_per_pixel_classes_last_agrees_with_axis_1(keras_runs, backend):
    z, c = pixel_batch()
    book = cce_ch.sparse_cce_with_logits(c, z, axis=1, ignore_index=255)
    assert keras_runs[backend]["pixels"] == pytest.approx(book, rel=F32_REL)
    assert cce_ch.sparse_cce_with_logits(c, np.moveaxis(z, 1, -1), ignore_index=255) == book


@pytest.mark.parametrize("backend", ["torch", "tensorflow"])
def test_keras_weighted_reductions_with_ignore_class(keras_runs, backend, torch, F):
    z4, c4, w4 = weighted_quad()
    default, with_weights = keras_runs[backend]["weighted"]
    total = cce_ch.sparse_cce_with_logits(c4, z4, sample_weight=w4, ignore_index=-100,
                                          reduction="sum")
    assert default == pytest.approx(total / 2, rel=F32_REL)          # / number of kept targets
    book = cce_ch.sparse_cce_with_logits(c4, z4, sample_weight=w4, ignore_index=-100)
    assert book == pytest.approx(total / 4, rel=1e-15)               # / their weights 1 + 3
    assert with_weights == pytest.approx(book, rel=F32_REL)
    torch_value = F.cross_entropy(torch.tensor(z4), torch.tensor(c4),
                                  weight=torch.tensor([1.0, 0.0, 3.0], dtype=torch.float64)).item()
    assert torch_value == pytest.approx(book, rel=F64_REL)
    assert default / torch_value == pytest.approx(2, rel=F32_REL)
