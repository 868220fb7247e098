"""The autograding round trip (`make assignments`): for every chapter, nbgrader gives the
solution full marks and the released stub zero, with a clear message per failing test; the
student edition is the released notebook; the self-checks pass on the solutions."""
import os
import pathlib
import shutil
import subprocess
import sys

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import assignments  # noqa: E402
from book_files import toc_notebooks  # noqa: E402

CHAPTERS = [p.stem for p in toc_notebooks()]
STUB_LINE = "# Your answer:"

@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """An nbgrader course with every chapter generated, submitted twice and autograded."""
    course = tmp_path_factory.mktemp("nbgrader") / "course"
    subprocess.run([sys.executable, str(ROOT / "tools" / "assignments.py"), "nbgrader",
                    str(course)], check=True, capture_output=True, text=True)
    for name in CHAPTERS:
        for student, origin in (("solution", "source"), ("stub", "release")):
            shutil.copytree(course / origin / name, course / "submitted" / student / name)
        assignments.run_nbgrader(course, "autograde", name, "--force")
    return course

def scores(course, name):
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return {student: (gradebook.find_submission(name, student).score,
                          gradebook.find_submission(name, student).max_score)
                for student in ("solution", "stub")}

def graded_cells(path):
    nb = nbformat.read(path, as_version=4)
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]

@pytest.mark.parametrize("name", CHAPTERS)
def test_solution_gets_full_marks(course, name):
    score, max_score = scores(course, name)["solution"]
    assert max_score > 0, f"{name} has no graded exercise (no self-check cell)"
    assert score == max_score

@pytest.mark.parametrize("name", CHAPTERS)
def test_stub_gets_zero_with_a_clear_message_per_test(course, name):
    score, max_score = scores(course, name)["stub"]
    assert score == 0 and max_score > 0
    cells = graded_cells(course / "autograded" / "stub" / name / f"{name}.ipynb")
    assert cells
    for cell in cells:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert errors, f"a test passed on the stub:\n{cell.source}"
        assert errors[0].ename == "SelfCheckFailed", (errors[0].ename, errors[0].evalue)
        assert "not defined yet" in errors[0].evalue or "your" in errors[0].evalue

@pytest.mark.parametrize("name", CHAPTERS)
def test_student_edition_is_the_released_notebook(course, tmp_path_factory, name):
    student = tmp_path_factory.getbasetemp() / "student"
    if not student.exists():
        subprocess.run([sys.executable, str(ROOT / "tools" / "assignments.py"), "student",
                        str(student)], check=True, capture_output=True, text=True)

    def code(path):
        cells = nbformat.read(path, as_version=4).cells
        return ["\n".join(line for line in c.source.splitlines() if not line.startswith(STUB_LINE))
                .strip() for c in cells if c.cell_type == "code"]

    assert code(student / f"{name}.ipynb") == code(course / "release" / name / f"{name}.ipynb")

@pytest.mark.parametrize("path", toc_notebooks(), ids=CHAPTERS)
def test_self_checks_pass_on_the_solutions_in_the_chapter(path):
    nb = nbformat.read(path, as_version=4)
    checks = [c for c in nb.cells if "self-check" in c.metadata.get("tags", [])]
    assert checks, "every chapter has at least one self-checked exercise"
    assert len(assignments.gradable_exercises(nb)) == len(checks)
    for cell in checks:
        text = "".join(o.get("text", "") for o in cell.outputs)
        assert not [o for o in cell.outputs if o.output_type == "error"], cell.source
        assert text.startswith(("correct", "in range")), (cell.source, text)
        assert "remove-cell" in cell.metadata.get("tags", []), "self-checks are hidden on the site"

def test_student_zip_holds_every_chapter_and_the_helpers(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "tools" / "assignments.py"), "student",
                    str(tmp_path)], check=True, capture_output=True, text=True)
    import zipfile
    names = set(zipfile.ZipFile(tmp_path / "cross-entropy-derived-student.zip").namelist())
    expected = {f"cross-entropy-derived/{n}.ipynb" for n in CHAPTERS}
    expected |= {f"cross-entropy-derived/{h}" for h in assignments.HELPERS}
    assert expected <= names
    for name in CHAPTERS:
        nb = nbformat.read(tmp_path / f"{name}.ipynb", as_version=4)
        text = "\n".join(c.source for c in nb.cells)
        assert "solution-start" not in text and "{solution}" not in text
        assert "BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text

os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
