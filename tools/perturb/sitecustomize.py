"""Make NumPy's transcendental functions round differently, in notebook kernels only.

Used by the second nbval run of `make test` (PYTHONPATH=tools/perturb BOOK_PERTURB=1). CPUs and
C libraries differ in the last bit of exp, log, ...: NumPy uses its own AVX-512 kernels where the
CPU has them and the C library elsewhere. This module imitates "another machine": each wrapped
ufunc returns its usual result, except that on a deterministic subset of results (about one in
three, chosen by a hash of the result's bits, so equal inputs still give equal outputs) the value
is moved one ULP up or down. A notebook whose compared outputs survive this prints no digit that
depends on the machine's exp/log.

It acts only when BOOK_PERTURB=1 and this process is an IPython kernel (`ipykernel` in its
command line): framework subprocesses and pytest itself see the real NumPy.
"""
import os
import sys

NAMES = ("exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "tanh", "sinh", "cosh",
         "logaddexp", "logaddexp2", "power", "float_power", "sin", "cos", "tan", "arctan")


def _active() -> bool:
    if os.environ.get("BOOK_PERTURB") == "everywhere":   # for trying the unit tests by hand
        return True
    return (os.environ.get("BOOK_PERTURB") == "1"
            and any("ipykernel" in arg for arg in getattr(sys, "orig_argv", sys.argv)))


def _install() -> None:
    import numpy as np
    try:  # ml_dtypes registers loops on the real ufuncs: let it do so before they are wrapped
        import ml_dtypes  # noqa: F401
    except ImportError:
        pass

    uint_of = {np.dtype(np.float16): np.uint16, np.dtype(np.float32): np.uint32,
               np.dtype(np.float64): np.uint64}

    def nudge_block(a):
        bits = a.view(uint_of[a.dtype]).astype(np.uint64)
        with np.errstate(over="ignore"):
            mixed = (bits * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)
        pick = ((mixed % np.uint64(3)) == 0) & np.isfinite(a) & (a != 0)
        if pick.any():
            up = (mixed & np.uint64(8)) != 0
            target = np.where(up, np.inf, -np.inf).astype(a.dtype)
            a[pick] = np.nextafter(a[pick], target[pick])

    def nudge(a):
        """Move about a third of the finite, non-zero elements of float array `a` by one ULP.

        In blocks of 2048 elements, so that the extra memory stays small (chapters that
        measure peak memory should see little of it)."""
        if a.dtype not in uint_of or a.size == 0:
            return a
        flat = a.reshape(-1) if a.flags.c_contiguous else None
        if flat is None:                         # a strided view: work on a copy, write back
            flat = a.ravel()
            for start in range(0, flat.size, 2048):
                nudge_block(flat[start:start + 2048])
            a[...] = flat.reshape(a.shape)
            return a
        for start in range(0, flat.size, 2048):
            nudge_block(flat[start:start + 2048])
        return a

    class Perturbed:
        """Calls the real ufunc, then nudges its floating-point result(s)."""

        def __init__(self, ufunc):
            self._ufunc = ufunc
            self.__name__ = ufunc.__name__
            self.__doc__ = ufunc.__doc__

        def __call__(self, *args, **kwargs):
            result = self._ufunc(*args, **kwargs)
            if isinstance(result, np.ndarray):
                if result.dtype in uint_of:
                    if not result.flags.writeable:
                        result = result.copy()
                    nudge(result if result.ndim else result.reshape(1))
                return result
            if isinstance(result, np.floating) and np.dtype(type(result)) in uint_of:
                return type(result)(nudge(np.array([result]))[0])
            return result

        def __getattr__(self, name):  # reduce, outer, nin, types, ...
            return getattr(self._ufunc, name)

        def __repr__(self):
            return f"<perturbed ufunc {self.__name__!r}>"

    for name in NAMES:
        setattr(np, name, Perturbed(getattr(np, name)))
    np.BOOK_PERTURBED = True


if _active():
    _install()
