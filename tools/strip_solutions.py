"""Copy the book's sources to a folder with every exercise solution removed (for instructors).

Usage: python tools/strip_solutions.py DEST

sphinx-exercise's own `hide_solutions` crashes on gated solutions (solution-start/-end) in
version 1.2.1, so the solutions are removed from the sources instead: every cell from a
`{solution-start}` directive to its `{solution-end}`, and every `{solution}` block.
"""
import pathlib
import re
import shutil
import sys

import nbformat
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from assignments import SINGLE as SOLUTION_BLOCK  # noqa: E402  (a whole {solution} block)

FENCE = r"(?:```|:{3,})"      # backtick or MyST colon fence
START, END = (re.compile(FENCE + p) for p in (r"\{solution-start\}", r"\{solution-end\}"))


def strip_notebook(source: pathlib.Path, target: pathlib.Path) -> int:
    nb = nbformat.read(source, as_version=4)
    kept, inside, removed = [], False, 0
    for cell in nb.cells:
        text = cell.source if cell.cell_type == "markdown" else ""
        if START.search(text):
            inside = True
        if inside:
            removed += 1
        elif SOLUTION_BLOCK.search(text):     # drop the solution, keep what else the cell says
            removed += 1
            cell.source = SOLUTION_BLOCK.sub("", text)
            if cell.source.strip():
                kept.append(cell)
        else:
            kept.append(cell)
        if END.search(text):
            inside = False
    nb.cells = kept
    nbformat.write(nb, target)
    return removed


def main(dest: pathlib.Path) -> None:
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(ROOT / "book", dest / "book")
    shutil.copy(ROOT / "_toc.yml", dest / "_toc.yml")
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["title"] += " (exercises without solutions)"
    (dest / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    (dest / "_vendor").symlink_to(ROOT / "_vendor")
    (dest / "_build").mkdir()                  # the student notebooks the pages link to
    (dest / "_build" / "student").symlink_to(ROOT / "_build" / "student")
    for notebook in sorted((dest / "book" / "chapters").glob("*.ipynb")):
        print(f"{notebook.name}: removed {strip_notebook(notebook, notebook)} solution cells")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]).resolve())
