"""Re-execute chapter notebooks in place, deterministically.

Usage: python tools/execute_notebooks.py [--refresh-timings] [NOTEBOOK ...]
       (default: every notebook in _toc.yml)

Run twice, it leaves `git diff` empty: no timing metadata is recorded, old execution metadata
is cleared, and the kernel is always `python3` (the venv's own Python).

Cells whose source starts with `# NBVAL_IGNORE_OUTPUT` (timings, the machine's description)
print something different on every run; nbval does not compare them. If a fresh execution
differs from the notebook on disk *only* in the outputs of such cells, the file is left as it
is, so the recorded benchmark run stays put. Every other difference rewrites the whole notebook,
timing cells included. `--refresh-timings` always rewrites (use it to record a new run).
"""
import copy
import pathlib
import sys

import nbformat
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from book_files import toc_notebooks  # noqa: E402

KERNEL = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
IGNORE_MARK = "# NBVAL_IGNORE_OUTPUT"


def without_ignored_outputs(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of `nb` with the outputs of `# NBVAL_IGNORE_OUTPUT` cells removed."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.lstrip().startswith(IGNORE_MARK):
            cell.outputs = []
    return nb


def execute(path: pathlib.Path, refresh_timings: bool = False) -> str:
    on_disk = nbformat.read(path, as_version=4)
    nb = copy.deepcopy(on_disk)
    nb.metadata["kernelspec"] = KERNEL
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    client = NotebookClient(
        nb, timeout=1800, kernel_name="python3", record_timing=False, coalesce_streams=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    nb.metadata.pop("widgets", None)
    if nbformat.writes(nb) == nbformat.writes(on_disk):
        return "unchanged"
    if not refresh_timings and (nbformat.writes(without_ignored_outputs(nb))
                                == nbformat.writes(without_ignored_outputs(on_disk))):
        return "unchanged apart from timing outputs: kept the recorded run"
    nbformat.write(nb, path)
    return "written"


def main(argv: list[str]) -> None:
    refresh = "--refresh-timings" in argv
    args = [a for a in argv if a != "--refresh-timings"]
    paths = [pathlib.Path(a).resolve() for a in args] or toc_notebooks()
    for path in paths:
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        print(f"executing {shown}", flush=True)
        print(f"    {execute(path, refresh)}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
