"""State as data: what a checkpoint holds, encoded so that reading it can run no code.

A checkpoint is read back on `--resume`, perhaps from a folder someone else
handed over; pickle would run whatever such a file says. Here the state is
turned into a tree of plain values (str, int, float, bool, None, bytes, lists
and str-keyed maps) and written as MessagePack. Everything else is tagged:
tuples, sets, maps with other keys, numpy arrays and scalars, scipy sparse
matrices, and instances of the classes that have said, with `@state_type`,
that they may be in a state. Decoding builds only those: an unknown tag or
class is an error, never an import.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import ormsgpack
from pydantic import BaseModel

TAG = "~"  # the key that marks a tagged value; a real map with this key is tagged itself
_INT64 = (-(2**63), 2**63 - 1)
_TYPES: dict[str, type] = {}

T = TypeVar("T", bound=type)


class StateError(ValueError):
    """A state that cannot be written, or bytes that are not a state this code reads."""


def state_type(cls: T) -> T:
    """Let instances of a dataclass or pydantic model be part of a checkpointed state."""
    if not (dataclasses.is_dataclass(cls) or issubclass(cls, BaseModel)):
        raise TypeError(f"{cls.__qualname__}: only dataclasses and pydantic models are state")
    name = cls.__qualname__
    if _TYPES.get(name, cls) is not cls:
        raise TypeError(f"{name}: another state type already has this name")
    _TYPES[name] = cls
    return cls


def encode(state: Any) -> bytes:
    """The state as MessagePack bytes; a value of an unknown type names where it is."""
    return ormsgpack.packb(_plain(state, "state"))


def decode(data: bytes) -> Any:
    """A state from `encode`'s bytes; StateError for anything else."""
    try:
        tree = ormsgpack.unpackb(data)
        return _value(tree)
    except StateError:
        raise
    except (ormsgpack.MsgpackDecodeError, RecursionError, TypeError, ValueError) as exc:
        raise StateError(f"not a state ({type(exc).__name__}: {exc})") from exc


def _tagged(kind: str, **fields: Any) -> dict[str, Any]:
    return {TAG: kind, **fields}


def _plain(x: Any, where: str) -> Any:
    # numpy scalars first: np.float64 is a float, np.bool_ is not a bool.
    if isinstance(x, np.generic):
        return _tagged("np", dtype=x.dtype.str, v=x.tobytes())
    if x is None or isinstance(x, (bool, float, str, bytes)):
        return x
    if isinstance(x, int):
        return x if _INT64[0] <= x <= _INT64[1] else _tagged("int", v=str(x))
    if isinstance(x, list):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(x)]
    if isinstance(x, tuple):
        return _tagged("tuple", v=[_plain(v, f"{where}[{i}]") for i, v in enumerate(x)])
    if isinstance(x, (set, frozenset)):
        kind = "set" if isinstance(x, set) else "frozenset"
        return _tagged(kind, v=[_plain(v, f"{where}{{}}") for v in x])
    if isinstance(x, dict):
        if all(isinstance(k, str) for k in x) and TAG not in x:
            return {k: _plain(v, f"{where}.{k}") for k, v in x.items()}
        pairs = [[_plain(k, f"{where}<key>"), _plain(v, f"{where}[{k!r}]")] for k, v in x.items()]
        return _tagged("dict", v=pairs)
    if isinstance(x, np.ndarray):
        if x.dtype.hasobject:
            raise StateError(f"{where}: a numpy array of Python objects cannot be state")
        return _tagged("nd", dtype=x.dtype.str, shape=list(x.shape), v=x.tobytes(order="C"))
    if _is_sparse(x):
        csr = x.tocsr()
        parts = {p: _plain(getattr(csr, p), f"{where}.{p}") for p in ("data", "indices", "indptr")}
        return _tagged("csr", shape=list(csr.shape), **parts)
    name = type(x).__qualname__
    if _TYPES.get(name) is type(x):
        fields = _fields(x)
        return _tagged(
            "obj", type=name, v={k: _plain(v, f"{where}.{k}") for k, v in fields.items()}
        )
    raise StateError(
        f"{where}: a {type(x).__module__}.{name} cannot be checkpointed; "
        "give get_state plain data, or mark the class with @state_type"
    )


def _fields(x: Any) -> dict[str, Any]:
    if isinstance(x, BaseModel):
        return {k: getattr(x, k) for k in type(x).model_fields}
    return {f.name: getattr(x, f.name) for f in dataclasses.fields(x) if f.init}


def _is_sparse(x: Any) -> bool:
    # scipy is imported only if a state holds a sparse matrix.
    return type(x).__module__.startswith("scipy.sparse") and hasattr(x, "tocsr")


def _array(node: Any) -> np.ndarray:
    shape = node.get("shape")
    if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise StateError(f"an array with a bad shape {shape!r}")
    dtype = np.dtype(str(node.get("dtype")))
    if dtype.hasobject:
        raise StateError("an array of Python objects")
    data = node.get("v")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize * int(np.prod(shape)):
        raise StateError(f"an array whose bytes do not fit shape {shape} of {dtype}")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def _sparse(node: dict[str, Any]) -> Any:
    from scipy import sparse

    parts = [_value(node.get(p)) for p in ("data", "indices", "indptr")]
    if not all(isinstance(p, np.ndarray) for p in parts):
        raise StateError("a sparse matrix without its arrays")
    return sparse.csr_matrix(tuple(parts), shape=tuple(node.get("shape") or ()))


def _obj(node: dict[str, Any]) -> Any:
    cls = _TYPES.get(str(node.get("type")))
    if cls is None:
        raise StateError(f"unknown state type {node.get('type')!r}")
    fields = _value(node.get("v"))
    if not isinstance(fields, dict):
        raise StateError(f"{cls.__qualname__}: fields are not a map")
    if issubclass(cls, BaseModel):
        return cls.model_validate(fields)
    return cls(**fields)


def _np_scalar(node: dict[str, Any]) -> Any:
    dtype = np.dtype(str(node.get("dtype")))
    data = node.get("v")
    if dtype.hasobject or not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise StateError(f"a numpy scalar that does not fit {dtype}")
    return np.frombuffer(data, dtype=dtype)[0]


def _items(node: dict[str, Any]) -> list[Any]:
    values = node.get("v")
    if not isinstance(values, list):
        raise StateError(f"a {node[TAG]} without its items")
    return [_value(v) for v in values]


def _pairs(node: dict[str, Any]) -> dict[Any, Any]:
    pairs = _items(node)
    if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
        raise StateError("a map whose items are not pairs")
    return {k: v for k, v in pairs}


_DECODERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "tuple": lambda n: tuple(_items(n)),
    "set": lambda n: set(_items(n)),
    "frozenset": lambda n: frozenset(_items(n)),
    "dict": _pairs,
    "int": lambda n: int(str(n.get("v"))),
    "np": _np_scalar,
    "nd": _array,
    "csr": _sparse,
    "obj": _obj,
}


def _value(node: Any) -> Any:
    if isinstance(node, list):
        return [_value(v) for v in node]
    if not isinstance(node, dict):
        return node
    if TAG not in node:
        return {k: _value(v) for k, v in node.items()}
    decoder = _DECODERS.get(node[TAG]) if isinstance(node[TAG], str) else None
    if decoder is None:
        raise StateError(f"unknown tag {node[TAG]!r}")
    return decoder(node)
