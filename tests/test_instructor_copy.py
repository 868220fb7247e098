"""`make book-no-solutions`: the copy for instructors keeps every exercise and no solution."""
import pathlib
import re
import subprocess
import sys

import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]


def markdown(path):
    return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells
                     if c.cell_type == "markdown")


def test_strip_solutions_keeps_exercises_and_drops_solutions(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "tools" / "strip_solutions.py"), str(tmp_path)],
                   check=True, capture_output=True)
    originals = sorted((ROOT / "book" / "chapters").glob("*.ipynb"))
    assert originals
    for original in originals:
        stripped = tmp_path / "book" / "chapters" / original.name
        before, after = markdown(original), markdown(stripped)
        assert "{solution" in before
        assert "{solution" not in after, f"{original.name}: a solution survived"
        assert (re.findall(r"\{exercise\}", after) == re.findall(r"\{exercise\}", before))
        code_before = len([c for c in nbformat.read(original, as_version=4).cells
                           if c.cell_type == "code"])
        code_after = len([c for c in nbformat.read(stripped, as_version=4).cells
                          if c.cell_type == "code"])
        assert code_after < code_before or "solution-start" not in before
