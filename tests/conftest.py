import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "chapters"))
sys.path.insert(0, str(ROOT / "tests"))
