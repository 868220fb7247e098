"""`make execute` (tools/execute_notebooks.py): re-executing leaves a notebook byte-identical,
also when a `# NBVAL_IGNORE_OUTPUT` cell prints something new on every run."""
import pathlib
import subprocess
import sys

import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "execute_notebooks.py"


def run_tool(*args):
    done = subprocess.run([sys.executable, str(TOOL), *map(str, args)],
                          check=True, capture_output=True, text=True, cwd=ROOT)
    return done.stdout


def make_notebook(path, deterministic_source):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(deterministic_source),
                nbformat.v4.new_code_cell("# NBVAL_IGNORE_OUTPUT\nimport time\n"
                                          "print(time.perf_counter_ns())")]
    nbformat.write(nb, path)


def test_reexecution_is_byte_identical_and_timing_cells_keep_their_run(tmp_path):
    path = tmp_path / "demo.ipynb"
    make_notebook(path, "print(2 + 2)")
    assert "written" in run_tool(path)
    first = path.read_bytes()
    assert "unchanged apart from timing outputs" in run_tool(path)
    assert path.read_bytes() == first

    assert "written" in run_tool("--refresh-timings", path)
    refreshed = nbformat.read(path, as_version=4)
    assert refreshed.cells[0].outputs[0].text == "4\n"
    assert path.read_bytes() != first       # a new clock reading was recorded


def test_a_real_change_rewrites_the_whole_notebook(tmp_path):
    path = tmp_path / "demo.ipynb"
    make_notebook(path, "print(2 + 2)")
    run_tool(path)
    nb = nbformat.read(path, as_version=4)
    old_clock = nb.cells[1].outputs[0].text
    nb.cells[0].source = "print(3 + 3)"
    nbformat.write(nb, path)
    assert "written" in run_tool(path)
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].outputs[0].text == "6\n"
    assert nb.cells[1].outputs[0].text != old_clock
