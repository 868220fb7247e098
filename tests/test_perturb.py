"""The perturbed nbval run (tools/perturb/sitecustomize.py) really perturbs, and really fails a
notebook that prints digits another CPU's exp/log would change.

`make test` runs nbval over every chapter a second time with PYTHONPATH=tools/perturb and
BOOK_PERTURB=1: in the notebook kernels, NumPy's transcendental ufuncs then return results one
ULP away on a deterministic third of the elements. If the perturbation silently did nothing,
that second run would be a test that cannot fail; these tests make sure it does not.
"""
import os
import pathlib
import subprocess
import sys

import nbformat
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[1]
PERTURB = ROOT / "tools" / "perturb"


def perturbed_env():
    env = dict(os.environ, BOOK_PERTURB="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PERTURB), env.get("PYTHONPATH")]))
    return env


def run_in_kernel(source, env):
    """Execute one code cell in a fresh kernel started with `env`; its stdout."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return "".join(o.get("text", "") for o in nb.cells[0].outputs)


PROBE = """
import numpy as np
x = np.linspace(0.1, 10, 3001)
moved = np.abs(np.log(x).view(np.int64) - np.log(x.copy()).view(np.int64))
print(getattr(np, "BOOK_PERTURBED", False), np.exp(x).dtype)
print("same input, same output:", bool((np.log(x) == np.log(x.copy())).all()))
print("float32 kept:", np.exp(x.astype(np.float32)).dtype)
"""

ULP_PROBE = """
import numpy as np
x = np.linspace(0.1, 10, 3001)
import math
exact = np.array([math.log(v) for v in x])   # the C library's log, not NumPy's
d = np.abs(np.log(x).view(np.int64) - exact.view(np.int64))
print(int(d.max()), round(float(np.mean(d > 0)), 1))
"""


def test_kernel_is_perturbed_only_when_asked():
    assert run_in_kernel(PROBE, perturbed_env()).splitlines()[0] == "True float64"
    assert run_in_kernel(PROBE, dict(os.environ)).splitlines()[0] == "False float64"


def test_perturbation_is_deterministic_and_keeps_dtypes():
    out = run_in_kernel(PROBE, perturbed_env())
    assert "same input, same output: True" in out
    assert "float32 kept: float32" in out


def test_perturbation_moves_about_a_third_of_results_by_an_ulp_or_two():
    largest, share = run_in_kernel(ULP_PROBE, perturbed_env()).split()
    # NumPy's log and the C library's may already differ by one ULP; the nudge adds one more
    assert 1 <= int(largest) <= 3
    assert 0.2 <= float(share) <= 0.8


def test_nbval_fails_a_notebook_that_prints_machine_dependent_digits(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(
        "import numpy as np\nprint(np.log(np.arange(2, 22) / 7).tolist())\n"
        "print([f'{v:.6f}' for v in np.log(np.arange(2, 22) / 7)])")]
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    full, rounded = (nbformat.v4.new_notebook(), nbformat.v4.new_notebook())
    path_full, path_rounded = tmp_path / "full.ipynb", tmp_path / "rounded.ipynb"
    lines = nb.cells[0].outputs[0]["text"].splitlines()
    for target, path, keep in ((full, path_full, 0), (rounded, path_rounded, 1)):
        cell = nbformat.v4.new_code_cell(nb.cells[0].source.splitlines()[0] + "\n"
                                         + nb.cells[0].source.splitlines()[1 + keep])
        cell.execution_count = 1
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                               text=lines[keep] + "\n")]
        target.cells = [cell]
        target.metadata = nb.metadata
        nbformat.write(target, path)

    def nbval(path, env):
        return subprocess.run([sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env",
                               "-p", "no:cacheprovider", "-q", "-c", os.devnull, str(path)],
                              env=env, capture_output=True, text=True, cwd=tmp_path).returncode

    assert nbval(path_full, dict(os.environ)) == 0        # passes on the machine that ran it
    assert nbval(path_full, perturbed_env()) != 0         # 17 digits: fails "elsewhere"
    assert nbval(path_rounded, perturbed_env()) == 0      # 7 digits: passes everywhere
