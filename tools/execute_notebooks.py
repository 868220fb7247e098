"""Re-execute chapter notebooks in place, deterministically.

Usage: python tools/execute_notebooks.py [NOTEBOOK ...]   (default: every notebook in _toc.yml)

Run twice, it leaves `git diff` empty: no timing metadata is recorded, old execution metadata
is cleared, and the kernel is always `python3` (the venv's own Python).
"""
import pathlib
import sys

import nbformat
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from book_files import toc_notebooks  # noqa: E402

KERNEL = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def execute(path: pathlib.Path) -> None:
    nb = nbformat.read(path, as_version=4)
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
    nbformat.write(nb, path)


def main(argv: list[str]) -> None:
    paths = [pathlib.Path(a).resolve() for a in argv] or toc_notebooks()
    for path in paths:
        print(f"executing {path.relative_to(ROOT)}", flush=True)
        execute(path)


if __name__ == "__main__":
    main(sys.argv[1:])
