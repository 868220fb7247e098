"""Generate, from the chapters themselves, nbgrader assignments and student notebooks.

Usage: python tools/assignments.py student DEST       student editions (no nbgrader needed)
       python tools/assignments.py nbgrader COURSE    nbgrader source notebooks + release

One source: the chapters. An exercise is gradable when its solution has a code cell tagged
`answer` (what the learner writes) and the exercise is followed, after `solution-end`, by a code
cell tagged `self-check` (calls to book/chapters/selfcheck.py; an optional
`### BEGIN HIDDEN TESTS` / `### END HIDDEN TESTS` region holds checks only the autograder
runs; cell metadata `book.points` gives its points, default 1). See book/conventions.md.

- Student edition (`student`): each chapter with every solution removed; each `answer` cell
  becomes a stub that names what to define and raises NotImplementedError; each self-check
  stays (its hidden tests removed); outputs cleared. Plus bookfunctions.py and selfcheck.py,
  and a zip of it all. The site links to them.
- nbgrader (`nbgrader`): a course directory with, per chapter, `source/<chapter>/<chapter>.ipynb`
  (answer cells as solution regions between `### BEGIN SOLUTION` / `### END SOLUTION`, self-
  checks as graded test cells with points, the other solution cells removed), the helper
  modules, and the code of every other chapter (as `chapters/NAME.nb.json`, for the
  chapters it loads); then
  `nbgrader generate_assignment` writes the released student version to `release/`.
"""
import copy
import os
import pathlib
import re
import shutil
import subprocess
import sys
import zipfile

import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "book" / "chapters"
sys.path.insert(0, str(ROOT / "tools"))
from book_files import toc_notebooks  # noqa: E402

HELPERS = ("bookfunctions.py", "selfcheck.py")
FENCE = r"(?::{3,}|`{3,})"
EXERCISE = re.compile(FENCE + r"\{exercise\}.*?:label:\s*(\S+)", re.S)
START = re.compile(FENCE + r"\{solution-start\}")
END = re.compile(FENCE + r"\{solution-end\}")
SINGLE = re.compile(r"(?ms)^(?P<f>:{3,}|`{3,})\{solution\}.*?^(?P=f)[ \t]*$\n?")
HIDDEN = re.compile(r"(?ms)^[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?")
CHECKED_NAMES = re.compile(r"\b(?:answer|close|within|equal|function_matches|finite)\(\s*"
                           r"[\"'](\w+)[\"']")
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


def tags(cell):
    return cell.metadata.get("tags", [])


def gradable_exercises(nb):
    """[(label, answer cells, self-check cell)] in notebook order."""
    found, label, answers, inside = [], None, [], False
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            labels = EXERCISE.findall(cell.source)
            if labels:
                label, answers = labels[-1], []
            inside = bool(START.search(cell.source)) or (inside and not END.search(cell.source))
        elif "answer" in tags(cell):
            answers.append(cell)
        elif "self-check" in tags(cell):
            if label is None or not answers:
                raise ValueError(f"a self-check cell with no answer cell before it:\n{cell.source}")
            found.append((label, answers, cell))
            answers = []
    return found


def transform(nb, mode):
    """The chapter for `mode` 'student' or 'nbgrader' (see the module docstring)."""
    nb = copy.deepcopy(nb)
    kept, inside, label = [], False, None
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            labels = EXERCISE.findall(cell.source)
            label = labels[-1] if labels else label
            if START.search(cell.source):
                inside = True
            if inside:
                inside = not END.search(cell.source)
                continue
            cell.source = SINGLE.sub("", cell.source)
            if cell.source.strip():
                kept.append(cell)
            continue
        if "answer" in tags(cell):
            if mode == "nbgrader":
                cell.source = f"### BEGIN SOLUTION\n{cell.source}\n### END SOLUTION"
                cell.metadata["nbgrader"] = nbgrader_meta(f"{label}-answer-{len(kept)}",
                                                          solution=True)
            kept.append(cell)
            continue
        if inside:                      # other cells of a solution: not handed out
            continue
        if "self-check" in tags(cell):
            points = cell.metadata.get("book", {}).get("points", 1)
            if mode == "nbgrader":
                cell.metadata["nbgrader"] = nbgrader_meta(f"{label}-check", grade=True,
                                                          points=points)
            else:
                cell.source = HIDDEN.sub("", cell.source)
        kept.append(cell)
    for cell in kept:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
    if mode == "student":
        for cell in kept:
            if "answer" in tags(cell):
                check = next((c for c in kept[kept.index(cell):] if "self-check" in tags(c)),
                             None)
                names = sorted(set(CHECKED_NAMES.findall(check.source))) if check else []
                wanted = ", ".join(f"`{n}`" for n in names) or "your answer"
                cell.source = f"# Your answer: define {wanted}, then run the check below.\n{STUB}"
    nb.cells = kept
    return nb


def nbgrader_meta(grade_id, solution=False, grade=False, points=0):
    meta = {"grade": grade, "grade_id": grade_id, "locked": grade, "schema_version": 3,
            "solution": solution, "task": False}
    if grade:
        meta["points"] = points
    return meta


def code_only(nb):
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if c.cell_type == "code"]
    for cell in nb.cells:
        cell.outputs, cell.execution_count = [], None
    return nb


def write_student(dest):
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for helper in HELPERS:
        shutil.copy(CHAPTERS / helper, dest / helper)
    shutil.copy(ROOT / "requirements.txt", dest / "requirements.txt")
    for path in toc_notebooks():
        nb = nbformat.read(path, as_version=4)
        nbformat.write(transform(nb, "student"), dest / path.name)
        print(f"{path.stem}: {len(gradable_exercises(nb))} self-checked exercises")
    with zipfile.ZipFile(dest / "cross-entropy-derived-student.zip", "w",
                         zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(dest.iterdir()):
            if file.suffix != ".zip":
                archive.write(file, f"cross-entropy-derived/{file.name}")


CONFIG = '''c = get_config()  # noqa: F821 (nbgrader's config file)
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "cross-entropy-derived"
c.ClearSolutions.code_stub = {{"python": {stub!r}}}
c.Execute.timeout = 900
c.Execute.kernel_name = "python3"
'''


def write_nbgrader(course):
    shutil.rmtree(course, ignore_errors=True)
    (course / "source").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(CONFIG.format(root=str(course), stub=STUB))
    for path in toc_notebooks():
        name = path.stem
        folder = course / "source" / name
        (folder / "chapters").mkdir(parents=True)
        nb = nbformat.read(path, as_version=4)
        nbformat.write(transform(nb, "nbgrader"), folder / path.name)
        for helper in HELPERS:
            shutil.copy(CHAPTERS / helper, folder / helper)
        for dep in sorted(p.stem for p in toc_notebooks() if p.stem != name):
            nbformat.write(code_only(nbformat.read(CHAPTERS / f"{dep}.ipynb", as_version=4)),
                           folder / "chapters" / f"{dep}.nb.json")   # see bookfunctions.py
        points = sum(c.metadata.get("book", {}).get("points", 1)
                     for _, _, c in gradable_exercises(nb))
        run_nbgrader(course, "generate_assignment", name, "--force")
        print(f"{name}: {points} points, released to release/{name}/", flush=True)


def run_nbgrader(course, *args):
    """nbgrader from this Python's environment (it calls `alembic` from the same folder)."""
    bin_dir = pathlib.Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    done = subprocess.run([str(bin_dir / "nbgrader"), *args], cwd=course, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def main(argv):
    mode, dest = argv[0], pathlib.Path(argv[1]).resolve()
    if mode == "student":
        write_student(dest)
    elif mode == "nbgrader":
        write_nbgrader(dest)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
