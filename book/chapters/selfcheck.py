"""Self-checks for the exercises: say "correct" or what is wrong, never the answer.

A chapter's exercise is followed by a code cell tagged `self-check` that calls these helpers on
the names the answer defines, e.g.

    from selfcheck import close, within
    within("loss", 0, np.log(2), why="a mean BCE of predictions on the right side of 1/2")
    close("loss", bce(y, p))

On success each helper prints one line starting with "correct". On failure it raises
`SelfCheckFailed` (an AssertionError, which is what nbgrader counts as a failed test) with a
message that says what is wrong with the learner's value, not what the right value is.
The answer is looked up by name in the notebook's namespace (the caller's globals).
"""
import inspect

import numpy as np


class SelfCheckFailed(AssertionError):
    """An answer that does not pass its check; the message says what is wrong."""


def _namespace():
    frame = inspect.currentframe()
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
    return frame.f_globals if frame is not None else {}


def answer(name):
    """The value the learner stored under `name`, or SelfCheckFailed if there is none yet."""
    namespace = _namespace()
    if name not in namespace:
        raise SelfCheckFailed(f"`{name}` is not defined yet: write your answer in the cell "
                              "above (it must define it) and run that cell first")
    return namespace[name]


def _describe(value):
    array = np.asarray(value)
    if array.dtype.kind in "biuf" and array.size == 1:
        return f"{float(array):.4g}"
    if array.dtype.kind in "biuf":
        return f"an array of shape {array.shape}"
    return f"{type(value).__name__} {value!r:.60}"


def _as_float_array(name, value, shape=None):
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise SelfCheckFailed(f"`{name}` should be a number or an array of numbers, "
                              f"not {type(value).__name__}") from None
    if shape is not None and array.shape != tuple(shape):
        raise SelfCheckFailed(f"`{name}` has shape {array.shape}; expected shape {tuple(shape)}")
    return array


def close(name, expected, *, rtol=1e-6, atol=0.0, hint=""):
    """`name` equals `expected` (a number or array) within rtol/atol."""
    expected = np.asarray(expected, dtype=float)
    value = _as_float_array(name, answer(name), expected.shape)
    if not np.allclose(value, expected, rtol=rtol, atol=atol, equal_nan=False):
        wrong = int(np.sum(~np.isclose(value, expected, rtol=rtol, atol=atol)))
        where = "" if expected.ndim == 0 else f" ({wrong} of {expected.size} entries)"
        raise SelfCheckFailed(f"your `{name}` is {_describe(value)}: not the expected "
                              f"value{where}. {hint}".strip())
    print(f"correct: `{name}`")


def within(name, low, high, *, why=""):
    """`name` is a number in [low, high]; the message states the range, not the answer."""
    value = float(_as_float_array(name, answer(name), ()))
    if not (low <= value <= high):
        raise SelfCheckFailed(f"your `{name}` is {value:.4g}; expected a value between "
                              f"{low:.4g} and {high:.4g}" + (f" ({why})" if why else ""))
    print(f"in range: `{name}` lies between {low:.4g} and {high:.4g}")


def equal(name, expected, *, hint=""):
    """`name` equals `expected` exactly (integers, booleans, strings, tuples)."""
    value = answer(name)
    same = (np.array_equal(np.asarray(value), np.asarray(expected))
            if isinstance(expected, (list, tuple, np.ndarray)) else value == expected)
    if not same:
        raise SelfCheckFailed(f"your `{name}` is {_describe(value)}: not the expected "
                              f"answer. {hint}".strip())
    print(f"correct: `{name}`")


def function_matches(name, reference, cases, *, rtol=1e-9, atol=0.0):
    """The learner's function `name` agrees with `reference` on every argument tuple in cases."""
    function = answer(name)
    if not callable(function):
        raise SelfCheckFailed(f"`{name}` should be a function, not {type(function).__name__}")
    for index, args in enumerate(cases):
        try:
            got = function(*args)
        except Exception as error:  # the learner's code failed: say how, on which case
            raise SelfCheckFailed(f"`{name}` raised {type(error).__name__}: {error} "
                                  f"on test case {index + 1}") from None
        want = reference(*args)
        if np.shape(got) != np.shape(want) or not np.allclose(got, want, rtol=rtol, atol=atol):
            raise SelfCheckFailed(f"`{name}` gives {_describe(got)} on test case "
                                  f"{index + 1}: not the expected result")
    print(f"correct: `{name}` on {len(cases)} test cases")


def true(condition, message):
    """A free-form check: `message` says what is wrong when `condition` is false."""
    if not condition:
        raise SelfCheckFailed(message)
    print("correct")


def finite(name):
    """`name` is finite (no nan, no inf): for answers that must avoid a blow-up."""
    value = _as_float_array(name, answer(name))
    if not np.all(np.isfinite(value)):
        bad = "nan" if np.isnan(value).any() else "inf"
        raise SelfCheckFailed(f"your `{name}` contains {bad}")
    print(f"correct: `{name}` is finite")


__all__ = ["SelfCheckFailed", "answer", "close", "within", "equal", "function_matches",
           "true", "finite"]
