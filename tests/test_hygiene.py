"""Notebook hygiene: what nbval alone does not check."""
import json
import pathlib
import re
import sys

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from book_files import resolve, toc_entries, toc_notebooks  # noqa: E402

NOTEBOOKS = toc_notebooks()
IDS = [p.stem for p in NOTEBOOKS]
LOCAL_PATH = re.compile(r"(/work/|/root/|/home/\w+|/tmp/|\.venv/|site-packages|[A-Z]:\\\\Users)")


def code_cells(path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_every_toc_entry_exists():
    missing = [e for e in toc_entries() if resolve(e) is None]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


def test_every_chapter_notebook_is_in_the_toc():
    on_disk = set((ROOT / "book" / "chapters").glob("*.ipynb"))
    assert on_disk == set(NOTEBOOKS), "a chapter notebook is missing from _toc.yml (or vice versa)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_kernel_is_python3(path):
    assert nbformat.read(path, as_version=4).metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_code_cell_executed_in_order(path):
    counts = [c.execution_count for c in code_cells(path)]
    assert None not in counts, "a code cell was never executed: nbval would silently skip it"
    assert counts == list(range(1, len(counts) + 1)), f"cells executed out of order: {counts}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_errors_except_where_tagged(path):
    for cell in code_cells(path):
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if errors:
            assert "raises-exception" in cell.metadata.get("tags", []), (
                f"untagged error output {errors[0].ename} in cell:\n{cell.source[:200]}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_local_paths_in_outputs(path):
    for cell in code_cells(path):
        text = json.dumps([o for o in cell.outputs if "image/png" not in o.get("data", {})])
        match = LOCAL_PATH.search(text)
        assert match is None, f"local path {match.group(0)!r} in output of:\n{cell.source[:200]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_figures_have_caption_and_alt_text(path):
    for cell in code_cells(path):
        if any("image/png" in o.get("data", {}) for o in cell.outputs):
            meta = cell.metadata.get("mystnb", {})
            assert meta.get("figure", {}).get("caption"), f"figure without caption:\n{cell.source[:200]}"
            assert meta.get("figure", {}).get("name"), f"figure without name:\n{cell.source[:200]}"
            assert meta.get("image", {}).get("alt"), f"figure without alt text:\n{cell.source[:200]}"


def test_setup_cell_is_the_same_everywhere():
    first_cells = {p.stem: code_cells(p)[0].source for p in NOTEBOOKS}
    assert len(set(first_cells.values())) == 1, "the setup cell differs between chapters"
    assert "plt.rcParams.update" in next(iter(first_cells.values()))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_chapter_follows_the_template(path):
    headings = [line.lstrip("#").strip().lower()
                for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"
                for line in c.source.splitlines() if line.startswith("## ")]
    template = ["learning goals", "motivation", "derivation", "implementation", "pictures",
                "pitfalls", "summary", "exercises"]
    positions = []
    for section in template:
        found = [i for i, h in enumerate(headings) if h.startswith(section)]
        assert found, f"section '{section}' missing; headings are {headings}"
        positions.append(found[0])
    assert positions == sorted(positions), f"sections out of template order: {headings}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_at_least_four_exercises_each_with_a_solution(path):
    text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells
                     if c.cell_type == "markdown")
    fence = r"(?:```|:{3,})"
    exercises = re.findall(fence + r"\{exercise\}.*?:label:\s*(\S+)", text, re.S)
    solved = set(re.findall(fence + r"\{solution(?:-start)?\}\s+(\S+)", text))
    assert len(exercises) >= 4, f"only {len(exercises)} exercises"
    assert set(exercises) <= solved, f"exercises without solution: {set(exercises) - solved}"
    assert len(re.findall(fence + r"\{solution(?:-start)?\}[^\n]*\n(?::[^\n]*\n)*?:class: dropdown",
                          text)) >= len(exercises), "every solution must be collapsed (dropdown)"


# ------------------------------------------------------------------ one sitting, one home
MAX_WORDS = 3_000          # "at most about 3,000 words of prose" (markdown cells, split on spaces)
MAX_VISIBLE_LINES = 15     # longer cells are collapsed on the site (hide-input) or removed


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_chapter_is_one_sitting(path):
    cells = nbformat.read(path, as_version=4).cells
    words = sum(len(c.source.split()) for c in cells if c.cell_type == "markdown")
    assert words <= MAX_WORDS, f"{words} words of prose"
    for cell in cells:
        hidden = {"hide-input", "remove-cell", "remove-input"} & set(cell.metadata.get("tags", []))
        if cell.cell_type == "code" and not hidden:
            lines = len(cell.source.splitlines())
            assert lines <= MAX_VISIBLE_LINES, f"visible code cell of {lines} lines:\n{cell.source[:200]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_title_label_and_colon_fenced_exercises(path):
    cells = nbformat.read(path, as_version=4).cells
    assert cells[0].source.startswith(f"(ch-{path.stem.replace('_', '-')})=\n# "), \
        "the title cell starts with the chapter's label (ch-NAME)= and its # title"
    text = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    assert not re.search(r"```\{(exercise|solution)", text), \
        "exercises use MyST colon fences (they render in Jupyter and Colab), not backticks"
