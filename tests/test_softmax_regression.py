"""Tests of the softmax regression chapter (book/chapters/softmax_regression.ipynb).

`softmax_loss_and_grad(W, b, X, y, l2=0.0)` is loaded from the notebook's export cells. Oracles:
central finite differences, a plain per-sample loop in mpmath (60 digits) written here from the
definition, and scikit-learn's multinomial LogisticRegression.

Tolerances asserted (stated in the chapter):
  gradient vs finite differences     max |difference| < 1e-7 (h = 1e-6)
  loss vs mpmath loop                 relative 1e-13; gradients absolute 1e-14
  confident rows (X = I, Z = W)       loss within 4 ULP of the exact value, never 0 or inf
  scikit-learn parity (C = 1 and 0.1) max |W - W_sklearn| < 1e-4, centred biases < 1e-3,
                                      probabilities < 1e-5, loss = log_loss + L2 to 1e-12
"""
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from bookfunctions import load_chapter
from oracle import central_difference_gradient, mp, mpf, ulp_error

ch = load_chapter("softmax_regression")
loss_and_grad = ch.softmax_loss_and_grad


def random_problem(seed, n=None, d=None, k=None, scale=1.0):
    rng = np.random.default_rng(seed)
    n = n or int(rng.integers(1, 12))
    d = d or int(rng.integers(1, 7))
    k = k or int(rng.integers(2, 6))
    W = rng.normal(0.0, scale, (d, k))
    b = rng.normal(0.0, scale, k)
    X = rng.normal(0.0, 1.0, (n, d))
    y = rng.integers(0, k, n)
    return W, b, X, y


# ------------------------------------------------------------------------- oracle: mpmath loop
def exact_loss_and_grad(W, b, X, y, l2):
    """The definition, one sample and one class at a time, at 60 digits."""
    (d, k), n = W.shape, X.shape[0]
    total = mp.mpf(0)
    grad_W = [[mp.mpf(0)] * k for _ in range(d)]
    grad_b = [mp.mpf(0)] * k
    for i in range(n):
        z = [mp.fsum(mpf(X[i, j]) * mpf(W[j, c]) for j in range(d)) + mpf(b[c]) for c in range(k)]
        top = max(z)
        lse = top + mp.log(mp.fsum(mp.exp(zc - top) for zc in z))
        total += lse - z[int(y[i])]
        for c in range(k):
            residual = mp.exp(z[c] - lse) - (1 if c == y[i] else 0)
            grad_b[c] += residual / n
            for j in range(d):
                grad_W[j][c] += mpf(X[i, j]) * residual / n
    penalty = mpf(l2) / 2 * mp.fsum(mpf(w) ** 2 for w in W.ravel())
    for j in range(d):
        for c in range(k):
            grad_W[j][c] += mpf(l2) * mpf(W[j, c])
    return total / n + penalty, grad_W, grad_b


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_against_mpmath_loop(seed, l2):
    W, b, X, y = random_problem(seed, scale=2.0)
    loss, gW, gb = loss_and_grad(W, b, X, y, l2)
    exact, exact_W, exact_b = exact_loss_and_grad(W, b, X, y, l2)
    assert abs(mpf(loss) - exact) <= mp.mpf("1e-13") * abs(exact)
    for (j, c), g in np.ndenumerate(gW):
        assert abs(mpf(g) - exact_W[j][c]) <= mp.mpf("1e-14") * (1 + abs(exact_W[j][c]))
    for c, g in enumerate(gb):
        assert abs(mpf(g) - exact_b[c]) <= mp.mpf("1e-14")


# ---------------------------------------------------------------------- finite differences
@pytest.mark.parametrize("seed", range(10, 16))
@pytest.mark.parametrize("l2", [0.0, 0.05, 1.0])
def test_gradient_against_finite_differences(seed, l2):
    W, b, X, y = random_problem(seed)
    _, gW, gb = loss_and_grad(W, b, X, y, l2)
    fd_W = central_difference_gradient(lambda A: float(loss_and_grad(A, b, X, y, l2)[0]), W)
    fd_b = central_difference_gradient(lambda a: float(loss_and_grad(W, a, X, y, l2)[0]), b)
    assert np.max(np.abs(fd_W - gW)) < 1e-7
    assert np.max(np.abs(fd_b - gb)) < 1e-7


def test_gradient_against_finite_differences_on_digits():
    from sklearn.datasets import load_digits
    digits = load_digits()
    X, y = digits.data[:40] / 16, digits.target[:40]
    rng = np.random.default_rng(20)
    W, b = rng.normal(0.0, 0.1, (64, 10)), rng.normal(0.0, 0.1, 10)
    _, gW, gb = loss_and_grad(W, b, X, y, 1e-3)
    fd_W = central_difference_gradient(lambda A: float(loss_and_grad(A, b, X, y, 1e-3)[0]), W)
    assert np.max(np.abs(fd_W - gW)) < 1e-7


# -------------------------------------------------------------------- confident rows, exactly
def exact_row_loss(z_row, label):
    z = [mpf(v) for v in z_row]
    top = max(range(len(z)), key=lambda j: z[j])
    rest = mp.fsum(mp.exp(v - z[top]) for j, v in enumerate(z) if j != top)
    return -(z[label] - z[top] - mp.log1p(rest))


@pytest.mark.parametrize("row, label", [
    ([40.0, 0.0, 0.0], 0),            # right and sure: loss log1p(2 e^-40), the core gives 0
    ([0.0, 800.0, -5.0], 0),          # wrong and sure: loss 800, the core gives inf
    ([700.0, -700.0, 0.0], 0),        # loss ~ e^-700
    ([1000.0, -1000.0, 999.0], 2),
    ([-1000.0, 0.0, 1e4], 0),
])
def test_large_logits_are_exact(row, label):
    """X = I and b = 0 make Z = W exactly, so the loss of one row can be checked in ULP."""
    z = np.array([row])
    loss, gW, gb = loss_and_grad(z, np.zeros(3), np.eye(1), np.array([label]))
    exact = exact_row_loss(row, label)
    assert 0 < float(loss) < np.inf
    assert ulp_error(loss, exact) <= 4
    assert np.all(np.isfinite(gW)) and np.all(np.isfinite(gb))
    assert gb[label] <= 0 and np.all(np.delete(gb, label) >= 0)


def test_confident_right_row_keeps_its_gradient():
    _, _, gb = loss_and_grad(np.array([[40.0, 0.0, 0.0]]), np.zeros(3), np.eye(1), np.array([0]))
    exact = -2 * mp.exp(-40) / (1 + 2 * mp.exp(-40))        # p_0 - 1
    assert gb[0] < 0
    assert ulp_error(gb[0], exact) <= 4


# ------------------------------------------------------------------------- shift invariance
@pytest.mark.parametrize("seed", range(30, 36))
def test_shift_invariance_of_loss_and_data_gradient(seed):
    W, b, X, y = random_problem(seed, scale=0.5)
    rng = np.random.default_rng(seed + 100)
    v, c = rng.normal(0.0, 3.0, (W.shape[0], 1)), float(rng.normal(0.0, 10.0))
    loss_1, gW_1, gb_1 = loss_and_grad(W, b, X, y)
    loss_2, gW_2, gb_2 = loss_and_grad(W + v, b + c, X, y)
    assert np.isclose(loss_1, loss_2, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(gW_2, gW_1, rtol=0, atol=1e-12)
    np.testing.assert_allclose(gb_2, gb_1, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", range(40, 46))
@pytest.mark.parametrize("l2", [0.0, 0.2])
def test_gradient_sums_over_classes(seed, l2):
    """Sum_k grad_b[k] = 0; the rows of grad_W sum to l2 times the rows of W."""
    W, b, X, y = random_problem(seed, scale=2.0)
    _, gW, gb = loss_and_grad(W, b, X, y, l2)
    assert abs(gb.sum()) < 1e-15
    np.testing.assert_allclose(gW.sum(axis=1), l2 * W.sum(axis=1), rtol=0, atol=1e-13)


def test_zero_weights_give_log_k():
    """log K up to the rounding of the mean of N equal terms (2 ULP)."""
    for k in (2, 3, 10, 26):
        X = np.random.default_rng(k).normal(size=(7, 4))
        loss, _, _ = loss_and_grad(np.zeros((4, k)), np.zeros(k), X, np.arange(7) % k)
        assert ulp_error(loss, mp.log(k)) <= 2


def test_two_classes_is_logistic_regression():
    """K = 2: the loss equals the book's BCE from the logits X (W1 - W0) + (b1 - b0)."""
    bce_with_logits = load_chapter("logits").bce_with_logits
    for seed in range(50, 55):
        W, b, X, y = random_problem(seed, n=9, k=2, scale=3.0)
        loss, _, _ = loss_and_grad(W, b, X, y)
        bce = bce_with_logits(y.astype(float), X @ (W[:, 1] - W[:, 0]) + b[1] - b[0])
        assert np.isclose(loss, bce, rtol=1e-13, atol=0)


# --------------------------------------------------------------------------- dtypes, errors
def test_dtypes():
    W, b, X, y = random_problem(60)
    result = loss_and_grad(W.astype(np.float32), b.astype(np.float32), X.astype(np.float32), y, 0.1)
    assert [np.asarray(r).dtype for r in result] == [np.float32] * 3
    loss, gW, gb = loss_and_grad(W, b, np.round(10 * X).astype(int), y)
    assert gW.dtype == np.float64 and gb.dtype == np.float64
    loss_list, _, _ = loss_and_grad(W.tolist(), b.tolist(), X.tolist(), y.tolist())
    assert loss_list == loss_and_grad(W, b, X, y)[0]


W_OK, B_OK, X_OK, Y_OK = random_problem(70, n=6, d=4, k=3)


@pytest.mark.parametrize("args, message", [
    ((W_OK.T, B_OK, X_OK, Y_OK, 0.0), "shapes do not fit"),
    ((W_OK, B_OK[:2], X_OK, Y_OK, 0.0), "shapes do not fit"),
    ((W_OK, B_OK, X_OK[:, :3], Y_OK, 0.0), "shapes do not fit"),
    ((W_OK[0], B_OK, X_OK, Y_OK, 0.0), "axes"),
    ((W_OK, B_OK[None], X_OK, Y_OK, 0.0), "axes"),
    ((W_OK, B_OK, X_OK[0], Y_OK, 0.0), "axes"),
    ((W_OK, B_OK, X_OK[:0], Y_OK[:0], 0.0), "non-empty"),
    ((W_OK, B_OK, X_OK, Y_OK.astype(float), 0.0), "integer"),
    ((W_OK, B_OK, X_OK, Y_OK.astype(bool), 0.0), "integer"),
    ((W_OK, B_OK, X_OK, np.eye(3, dtype=int)[Y_OK], 0.0), "argmax"),
    ((W_OK, B_OK, X_OK, np.eye(3)[Y_OK], 0.0), "argmax"),
    ((W_OK, B_OK, X_OK, Y_OK[:-1], 0.0), "shape"),
    ((W_OK, B_OK, X_OK, np.where(Y_OK == 0, 3, Y_OK), 0.0), "0..2"),
    ((W_OK, B_OK, X_OK, np.where(Y_OK == 0, -1, Y_OK), 0.0), "0..2"),
    ((W_OK, B_OK, np.where(X_OK > 0.5, np.nan, X_OK), Y_OK, 0.0), "NaN or inf"),
    ((W_OK, B_OK, np.where(X_OK > 0.5, np.inf, X_OK), Y_OK, 0.0), "NaN or inf"),
    ((np.where(W_OK > 0.5, np.nan, W_OK), B_OK, X_OK, Y_OK, 0.0), "NaN or inf"),
    ((W_OK, B_OK + np.inf, X_OK, Y_OK, 0.0), "NaN or inf"),
    ((W_OK.astype(complex), B_OK, X_OK, Y_OK, 0.0), "real numbers"),
    ((W_OK, B_OK, [[1, 2], [3]], Y_OK, 0.0), "X"),
    ((W_OK, B_OK, X_OK, Y_OK, -0.1), "l2"),
    ((W_OK, B_OK, X_OK, Y_OK, np.nan), "l2"),
    ((W_OK, B_OK, X_OK, Y_OK, np.inf), "l2"),
    ((W_OK, B_OK, X_OK, Y_OK, [0.1]), "l2"),
    ((W_OK, B_OK, X_OK, Y_OK, "0.1"), "l2"),
    ((W_OK, B_OK, X_OK, Y_OK, None), "l2"),
])
def test_bad_input_raises_value_error(args, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.").replace("(", r"\(")):
        loss_and_grad(*args)


# ------------------------------------------------------------------------ scikit-learn parity
def stratified_train_indices(y, rng):
    """The chapter's split: per class, a seeded permutation, the first 60 % for training."""
    parts = []
    for k in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == k))
        parts.append(members[:int(np.round(0.6 * len(members)))])
    return np.sort(np.concatenate(parts))


@pytest.mark.parametrize("C", [1.0, 0.1])
def test_parity_with_scikit_learn(C):
    from scipy.optimize import minimize
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    digits = load_digits()
    train = stratified_train_indices(digits.target, np.random.default_rng(0))
    X, y = digits.data[train] / 16, digits.target[train]
    assert len(y) == 1078
    l2 = 1 / (C * len(y))
    with threadpool_limits(1):
        clf = LogisticRegression(C=C, tol=1e-10, max_iter=1000).fit(X, y)
        W_sk, b_sk = clf.coef_.T, clf.intercept_
        P_sk = clf.predict_proba(X)

        D, K = W_sk.shape

        def objective(theta):
            loss, gW, gb = loss_and_grad(theta[:D * K].reshape(D, K), theta[D * K:], X, y, l2)
            return float(loss), np.concatenate([gW.ravel(), gb])

        start = np.concatenate([np.random.default_rng(7).normal(0.0, 1.0, D * K), np.zeros(K)])
        theta = minimize(objective, start, jac=True, method="L-BFGS-B",
                         options={"maxiter": 5000, "ftol": 0.0, "gtol": 1e-12}).x
    W, b = theta[:D * K].reshape(D, K), theta[D * K:]

    loss_at_sk, gW_sk, gb_sk = loss_and_grad(W_sk, b_sk, X, y, l2)
    assert abs(loss_at_sk - (log_loss(y, P_sk) + l2 / 2 * np.sum(W_sk**2))) < 1e-12
    assert max(np.abs(gW_sk).max(), np.abs(gb_sk).max()) < 1e-7
    assert np.max(np.abs(W - W_sk)) < 1e-4
    assert np.max(np.abs((b - b.mean()) - (b_sk - b_sk.mean()))) < 1e-3
    P = load_chapter("cce").softmax(X @ W + b)
    assert np.max(np.abs(P - P_sk)) < 1e-5
    assert np.max(np.abs(W.sum(axis=1))) < 1e-5           # the L2 optimum's rows sum to zero
    assert loss_and_grad(W, b, X, y, l2)[0] <= loss_at_sk + 1e-12
