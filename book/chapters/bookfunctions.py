"""Load the book's reference functions from the chapter notebooks (their one implementation).

    from bookfunctions import load_chapter
    bce = load_chapter("bce").bce

The code cells tagged `export` of `<name>.ipynb` (in this folder, or `chapters/<name>.nb.json`
as in the assignments that `make assignments` generates) are run, in order, in a fresh
module; nothing is copied. The tests use this, and so do the chapters that measure the book's
own functions (frameworks, accuracy and speed): they need the other notebooks beside them.
"""
import functools
import pathlib
import types

import nbformat

CHAPTERS = pathlib.Path(__file__).resolve().parent


def export_sources(notebook: pathlib.Path) -> list[str]:
    """The source of every code cell tagged `export`, in notebook order."""
    nb = nbformat.read(notebook, as_version=4)
    return [c.source for c in nb.cells
            if c.cell_type == "code" and "export" in c.metadata.get("tags", [])]


@functools.cache
def load_chapter(name: str) -> types.ModuleType:
    """The module made of `<name>.ipynb`'s export cells."""
    path = CHAPTERS / f"{name}.ipynb"
    if not path.exists() and (CHAPTERS / "chapters" / f"{name}.nb.json").exists():
        # an nbgrader assignment folder (make assignments): nbgrader drops .ipynb files in
        # subfolders, so the chapters it needs travel as .nb.json (the same notebook JSON)
        path = CHAPTERS / "chapters" / f"{name}.nb.json"
    if not path.exists():
        raise FileNotFoundError(f"{name}.ipynb is not beside bookfunctions.py: this chapter "
                                f"loads the book's functions from it; put the book's chapter "
                                f"notebooks together in one folder")
    sources = export_sources(path)
    if not sources:
        raise LookupError(f"{path.name} has no code cell tagged 'export'")
    module = types.ModuleType(f"chapter_{name}")
    module.__file__ = str(path)
    for index, source in enumerate(sources):
        exec(compile(source, f"{path.name}[export {index}]", "exec"), module.__dict__)
    return module
