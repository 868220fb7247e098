"""How fast are the book's cross-entropies on this machine? (`make bench`; not a test.)

Measures, single-threaded and in one run:

* BCE from logits on 10^7 float64 elements,
* CCE from logits on 10^5 x 100 float64 logits, with one-hot rows and with integer labels,

for the book's reference functions, a plain vectorised NumPy version, the chapter's fast
variants (in place with `out=`, one block and blocked; imported from the speed chapter, so
there is one implementation), PyTorch (CPU) and scikit-learn where they apply. For each it prints
the median of 7 timed calls (after one warm-up call), the ratio to a memory-bandwidth bound (the
bytes of the inputs, read once, divided by the measured copy bandwidth) and to PyTorch, and the
peak extra memory: NumPy's allocations as traced by tracemalloc, and the growth of the process's
peak resident memory (VmHWM, which also sees PyTorch's allocator). Results go to
benchmarks/results/bench.json and benchmarks/results/bench.png.

Usage:  python benchmarks/bench.py [--elements N] [--rows N] [--classes K] [--repeats R]
"""
import os
import sys

# Single-threaded, decided before NumPy (and its BLAS/OpenMP pools) is imported: re-run this
# script with the thread variables set if they are not all "1" already.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
if any(os.environ.get(name) != "1" for name in THREAD_VARIABLES):
    env = {**os.environ, **{name: "1" for name in THREAD_VARIABLES}}
    os.execve(sys.executable, [sys.executable, *sys.argv], env)

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "book" / "chapters"))
from bookfunctions import load_chapter  # noqa: E402

try:
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(1)
except ImportError:          # the frameworks are optional here: their rows are skipped
    torch = None
try:
    import sklearn
    from sklearn.metrics import log_loss
except ImportError:
    sklearn = None


# ---------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------
def median_time(fn, repeats):
    """Median wall time of `repeats` calls (seconds), after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), times


def _status_kib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def rss_peak_growth(fn):
    """Growth of the peak resident memory during one call, in bytes (Linux only, else None).

    Writing 5 to /proc/self/clear_refs resets the peak (VmHWM) to the current resident size."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        before = _status_kib("VmRSS")
        fn()
        return (_status_kib("VmHWM") - before) * 1024
    except OSError:
        return None


def traced_peak(fn):
    """Peak of the memory NumPy (and Python) allocated during one call, in bytes."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def copy_bandwidth(nbytes, repeats):
    """Bytes read per second by np.copyto on an array of `nbytes` (it also writes as many)."""
    src = np.ones(nbytes // 8)
    dst = np.empty_like(src)
    seconds, _ = median_time(lambda: np.copyto(dst, src), repeats)
    return src.nbytes / seconds


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "logical_cores": os.cpu_count(), "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()}", "numpy": np.__version__,
            "torch": torch.__version__ if torch else None,
            "scikit-learn": sklearn.__version__ if sklearn else None,
            "threads": {name: os.environ[name] for name in THREAD_VARIABLES}}


# ---------------------------------------------------------------------------------------------
# The methods
# ---------------------------------------------------------------------------------------------
def numpy_plain_bce(y, z):
    """The stable formula written the obvious way: every operation makes a full-size array."""
    return np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))


def numpy_plain_log_softmax(z):
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


def numpy_plain_cce(y, z):
    return -np.mean(np.sum(y * numpy_plain_log_softmax(z), axis=1))


def numpy_plain_sparse_cce(labels, z):
    log_p = numpy_plain_log_softmax(z)
    return -np.mean(log_p[np.arange(z.shape[0]), labels])


def softmax_rows(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class OneBlock:
    """Run the chapter's fast variants with a block as large as the whole input: in place with
    `out=` but without blocking (the module constant is restored afterwards)."""

    def __init__(self, module, fn):
        self.module, self.fn = module, fn

    def __call__(self, *args):
        saved = self.module.BLOCK_BYTES
        self.module.BLOCK_BYTES = 1 << 62
        try:
            return self.fn(*args)
        finally:
            self.module.BLOCK_BYTES = saved


def benchmarks(args):
    speed, logits, cce = (load_chapter(name) for name in ("speed", "logits", "cce"))
    rng = np.random.default_rng(2024)
    n, rows, k = args.elements, args.rows, args.classes

    z = rng.normal(0.0, 4.0, n)
    y = (rng.random(n) < 0.5).astype(np.float64)
    bce = {"name": f"BCE from logits, {n:.0e} float64 elements", "key": "bce",
           "bytes": z.nbytes + y.nbytes, "methods": [
               ("book bce_with_logits (reference)", lambda: logits.bce_with_logits(y, z)),
               ("NumPy, plain vectorised", lambda: numpy_plain_bce(y, z)),
               ("book fast: in place, one block",
                lambda: OneBlock(speed, speed.bce_with_logits_fast)(y, z)),
               ("book fast: in place, blocked", lambda: speed.bce_with_logits_fast(y, z))]}
    zc = rng.normal(0.0, 3.0, (rows, k))
    labels = rng.integers(0, k, rows)
    one_hot = np.zeros((rows, k))
    one_hot[np.arange(rows), labels] = 1.0
    cce_dense = {"name": f"CCE from logits, {rows:.0e} x {k}, one-hot rows", "key": "cce",
                 "bytes": zc.nbytes + one_hot.nbytes, "methods": [
                     ("book cce_with_logits (reference)", lambda: cce.cce_with_logits(one_hot, zc)),
                     ("NumPy, plain vectorised", lambda: numpy_plain_cce(one_hot, zc)),
                     ("book fast: in place, one block",
                      lambda: OneBlock(speed, speed.cce_with_logits_fast)(one_hot, zc)),
                     ("book fast: in place, blocked",
                      lambda: speed.cce_with_logits_fast(one_hot, zc))]}
    cce_sparse = {"name": f"CCE from logits, {rows:.0e} x {k}, integer labels",
                  "key": "sparse_cce", "bytes": zc.nbytes + labels.nbytes, "methods": [
                      ("book sparse_cce_with_logits (reference)",
                       lambda: cce.sparse_cce_with_logits(labels, zc)),
                      ("NumPy, plain vectorised", lambda: numpy_plain_sparse_cce(labels, zc)),
                      ("book fast: in place, one block",
                       lambda: OneBlock(speed, speed.sparse_cce_with_logits_fast)(labels, zc)),
                      ("book fast: in place, blocked",
                       lambda: speed.sparse_cce_with_logits_fast(labels, zc))]}
    if torch is not None:
        zt, yt = torch.from_numpy(z), torch.from_numpy(y)          # no copies
        zct, one_hot_t, labels_t = (torch.from_numpy(a) for a in (zc, one_hot, labels))
        bce["methods"].append(("PyTorch binary_cross_entropy_with_logits",
                               lambda: F.binary_cross_entropy_with_logits(zt, yt)))
        cce_dense["methods"].append(("PyTorch cross_entropy (probability targets)",
                                     lambda: F.cross_entropy(zct, one_hot_t)))
        cce_sparse["methods"].append(("PyTorch cross_entropy (class indices)",
                                      lambda: F.cross_entropy(zct, labels_t)))
    if sklearn is not None:           # from probabilities: the sigmoid/softmax is not timed
        p = 1 / (1 + np.exp(-z))
        probabilities = softmax_rows(zc)
        bce["methods"].append(("scikit-learn log_loss (on sigmoid(z), from probabilities)",
                               lambda: log_loss(y, p)))
        cce_sparse["methods"].append(("scikit-learn log_loss (on softmax(z), from probabilities)",
                                      lambda: log_loss(labels, probabilities, labels=np.arange(k))))
    return [bce, cce_dense, cce_sparse]


# ---------------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------------
def run(args):
    info = machine()
    print(f"machine: {info['cpu']}, {info['logical_cores']} logical cores; Python "
          f"{info['python']}, NumPy {info['numpy']}, PyTorch {info['torch']}, scikit-learn "
          f"{info['scikit-learn']}; single-threaded (torch.set_num_threads(1) and "
          f"{', '.join(THREAD_VARIABLES[:3])} = 1)", flush=True)
    bandwidth = copy_bandwidth(80_000_000, args.repeats)
    print(f"copy bandwidth (np.copyto of 80 MB): {bandwidth / 1e9:.1f} GB/s read "
          f"(and as much written)\n", flush=True)
    results = []
    for bench in benchmarks(args):
        bound = bench["bytes"] / bandwidth
        entry = {"benchmark": bench["name"], "key": bench["key"], "bytes_read_once": bench["bytes"],
                 "bound_ms": bound * 1e3, "methods": []}
        reference_value = None
        for label, fn in bench["methods"]:
            seconds, times = median_time(fn, args.repeats)
            value = float(fn())
            reference_value = value if reference_value is None else reference_value
            entry["methods"].append({
                "method": label, "median_ms": seconds * 1e3, "times_ms": [t * 1e3 for t in times],
                "ratio_to_bound": seconds / bound, "value": value,
                "relative_difference_to_reference": abs(value - reference_value) / reference_value,
                "tracemalloc_peak_MB": traced_peak(fn) / 1e6,
                "rss_peak_growth_MB": (lambda b: None if b is None else b / 1e6)(rss_peak_growth(fn)),
            })
            print(f"  {bench['key']:>10}: {label:<58} {seconds * 1e3:9.1f} ms", flush=True)
        torch_ms = next((m["median_ms"] for m in entry["methods"] if m["method"].startswith("PyTorch")),
                        None)
        for m in entry["methods"]:
            m["ratio_to_torch"] = None if torch_ms is None else m["median_ms"] / torch_ms
        results.append(entry)
    report = {"machine": info, "copy_bandwidth_GBps": bandwidth / 1e9, "repeats": args.repeats,
              "sizes": {"bce_elements": args.elements, "cce_rows": args.rows,
                        "cce_classes": args.classes}, "benchmarks": results}
    print_table(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, RESULTS / "bench.png")
    print(f"\nwrote {(RESULTS / 'bench.json').relative_to(ROOT)} and "
          f"{(RESULTS / 'bench.png').relative_to(ROOT)}")


def print_table(report):
    print(f"\nMedians of {report['repeats']} calls, single-threaded. 'x bound': time / (bytes of "
          "the inputs read once / copy bandwidth). 'x torch': time / PyTorch's time.\n"
          "'NumPy peak': tracemalloc peak during one call; 'RSS peak': growth of the peak "
          "resident memory (sees PyTorch too).\n'rel. diff': |value - reference| / reference.")
    header = (f"{'method':<58} {'median ms':>10} {'x bound':>8} {'x torch':>8} "
              f"{'NumPy peak':>11} {'RSS peak':>10} {'rel. diff':>10}")
    for entry in report["benchmarks"]:
        print(f"\n{entry['benchmark']}: bound {entry['bound_ms']:.1f} ms "
              f"({entry['bytes_read_once'] / 1e6:.0f} MB read once)")
        print(header)
        for m in entry["methods"]:
            ratio = "-" if m["ratio_to_torch"] is None else f"{m['ratio_to_torch']:.2f}"
            rss = "-" if m["rss_peak_growth_MB"] is None else f"{m['rss_peak_growth_MB']:.1f} MB"
            print(f"{m['method']:<58} {m['median_ms']:10.1f} {m['ratio_to_bound']:8.1f} "
                  f"{ratio:>8} {m['tracemalloc_peak_MB']:8.1f} MB {rss:>10} "
                  f"{m['relative_difference_to_reference']:10.1e}")


def plot(report, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    entries = report["benchmarks"]
    fig, axes = plt.subplots(len(entries), 1, figsize=(9.5, 2.2 + 1.7 * len(entries)))
    for ax, entry in zip(np.atleast_1d(axes), entries):
        names = [m["method"] for m in entry["methods"]][::-1]
        times = [m["median_ms"] for m in entry["methods"]][::-1]
        colours = ["#009E73" if n.startswith("book fast") else
                   "#D55E00" if n.startswith(("PyTorch", "scikit")) else "#0072B2" for n in names]
        ax.barh(names, times, color=colours)
        for row, ms in enumerate(times):
            ax.text(ms * 1.04, row, f"{ms:.0f} ms", va="center", fontsize=7)
        bound = entry["bound_ms"]
        ax.axvline(bound, color="black", ls="--", lw=1.2)
        ax.text(bound * 1.04, len(names) - 0.55, f"memory-bandwidth bound {bound:.1f} ms",
                fontsize=7, va="bottom")
        ax.set_xscale("log")
        ax.set_xlim(bound * 0.6, max(times) * 2.2)
        ax.set_ylim(-0.6, len(names) + 0.2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("median time [ms], log scale")
        ax.set_title(entry["benchmark"], fontsize=10)
        ax.tick_params(axis="y", labelsize=8)
        ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle(f"Single-threaded, {report['machine']['cpu']}, NumPy {report['machine']['numpy']}"
                 f", PyTorch {report['machine']['torch']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--elements", type=int, default=10**7, help="BCE size (default 1e7)")
    parser.add_argument("--rows", type=int, default=10**5, help="CCE rows (default 1e5)")
    parser.add_argument("--classes", type=int, default=100, help="CCE classes (default 100)")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per method")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
