import importlib
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "chapters"))
sys.path.insert(0, str(ROOT / "tests"))


# ------------------------------------------------------------------ frameworks, for every test file
INSTALL = "pip install -r requirements-frameworks.txt"


def require(name):
    """Import a framework module, or fail (not skip) with the install line."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        pytest.fail(f"{name} is not installed ({error}); run: {INSTALL}", pytrace=False)


@pytest.fixture(scope="module")
def torch():
    """PyTorch, single-threaded (reproducible sums)."""
    module = require("torch")
    module.set_num_threads(1)
    return module


@pytest.fixture(scope="module")
def F(torch):
    return torch.nn.functional
