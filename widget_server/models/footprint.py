"""How much memory a loaded model holds, for the model cache's cap."""

from __future__ import annotations

import sys
import types

import numpy as np

# Code, not data: shared by every model, and reaching the rest of the program.
_NOT_DATA = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.MethodWrapperType,
)


def footprint(root: object) -> int:
    """Bytes held by `root` and everything it reaches, each object counted once:
    numpy arrays' buffers (a view's base, once), sparse matrices through their
    `data`, `indices` and `indptr` arrays, and Python containers, strings and numbers
    at `sys.getsizeof`. The Python objects count too: a store's id maps (a dict and
    a list of strings per million visitors or items) weigh as much as its arrays."""
    seen: set[int] = set()
    pending: list[object] = [root]
    total = 0
    while pending:
        value = pending.pop()
        if id(value) in seen or isinstance(value, _NOT_DATA):
            continue
        seen.add(id(value))
        if isinstance(value, np.ndarray):
            if isinstance(value.base, np.ndarray):
                pending.append(value.base)  # a view: its memory is its base's
                continue
            total += value.nbytes
            if value.dtype == object:
                pending.extend(value.ravel().tolist())
            continue
        total += sys.getsizeof(value)
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list | tuple | set | frozenset):
            pending.extend(value)
        elif not isinstance(value, str | bytes | bytearray | int | float | complex | bool):
            attributes = getattr(value, "__dict__", None)
            if attributes is not None:
                pending.append(attributes)
            for cls in type(value).__mro__:
                slots = cls.__dict__.get("__slots__", ())
                for name in (slots,) if isinstance(slots, str) else slots:
                    if hasattr(value, name):
                        pending.append(getattr(value, name))
    return total
