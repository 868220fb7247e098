"""Which files make up the book, read from _toc.yml (shared by the tools and the tests)."""
import pathlib

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]


def toc_entries() -> list[str]:
    """Every `file:`/`root:` entry of _toc.yml, in order, without extension."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    entries = [toc["root"]]
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):
            entries.append(chapter["file"])
            entries.extend(section["file"] for section in chapter.get("sections", []))
    return entries


def resolve(entry: str) -> pathlib.Path | None:
    """The source file of a toc entry (.md or .ipynb), or None when it does not exist."""
    for suffix in (".ipynb", ".md"):
        path = ROOT / (entry + suffix)
        if path.exists():
            return path
    return None


def toc_notebooks() -> list[pathlib.Path]:
    """The chapter notebooks listed in the toc, in reading order."""
    paths = (resolve(e) for e in toc_entries())
    return [p for p in paths if p is not None and p.suffix == ".ipynb"]
