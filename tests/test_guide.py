"""The instructor guide (book/instructors.md) covers every chapter in the toc and every exercise
that exists, with nothing stale: each chapter's section lists exactly its exercises."""
import pathlib
import re
import sys

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from book_files import toc_entries, toc_notebooks  # noqa: E402

GUIDE = ROOT / "book" / "instructors.md"
NOTEBOOKS = toc_notebooks()
EXERCISE = re.compile(r"(?::{3,}|`{3,})\{exercise\}.*?:label:\s*(\S+)", re.S)
FIELDS = ("Learning outcomes", "Prerequisites", "Time", "Exercises", "Suggested assignment",
          "Misconceptions")
TYPES = ("by hand", "code", "find the bug", "proof")


def sections():
    """{chapter name: its section of the guide}, split at the `(guide-NAME)=` labels."""
    text = GUIDE.read_text()
    parts = re.split(r"^\(guide-([\w-]+)\)=\s*$", text, flags=re.M)
    return {parts[i].replace("-", "_"): parts[i + 1] for i in range(1, len(parts), 2)}


def exercises(path):
    nb = nbformat.read(path, as_version=4)
    return EXERCISE.findall("\n".join(c.source for c in nb.cells if c.cell_type == "markdown"))


def test_guide_is_in_the_toc():
    assert "book/instructors" in toc_entries()


def test_every_chapter_has_a_section_and_no_section_is_stale():
    assert set(sections()) == {p.stem for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_section_lists_exactly_the_chapters_exercises(path):
    section = sections()[path.stem]
    for field in FIELDS:
        assert f"**{field}" in section, f"{path.stem}: no '{field}' in the guide"
    listed = re.findall(r"\{ref\}`([\w-]+)`", section)
    assert sorted(set(listed)) == sorted(exercises(path)), path.stem
    rows = [line for line in section.splitlines() if line.startswith("| {ref}")]
    assert len(rows) == len(exercises(path))
    for row in rows:
        assert any(kind in row for kind in TYPES), f"exercise type missing: {row}"
        assert re.search(r"★", row), f"difficulty missing: {row}"
    assert re.search(r"reading\D*\d+\s*min", section) and re.search(r"exercises\D*\d+\s*min",
                                                                       section)
    assert f"_build/student/{path.stem}.ipynb" in section, "per-chapter student download"
