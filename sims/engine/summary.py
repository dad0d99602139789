"""Typed result summaries: what one run measured, as a documented dataclass read by attribute.

Every experiment declares a `Summary` subclass (a frozen dataclass) for the numbers its run returns. A claim,
a figure or a test reads `result.summary.label.algorithms["mifa"].slope` instead of a chain of string keys, so
a misspelt name fails where it is written, and the class docstring says what each number is.

On disk the summary stays readable JSON (`to_json`); `from_json` rebuilds the typed object from it, guided by
the field annotations: nested summaries, `dict[str, X]`, `list[X]`, `tuple[X, ...]`, `X | None`, and the
scalars float, int, bool and str. JSON has no NaN or infinity, so a float NaN is stored as null and an
infinity as the string "inf" / "-inf"; `from_json` turns them back into floats.

Convention for the docstring: a line "name: meaning" for every field, so `undocumented_fields` (and the test
that calls it on every experiment) can tell when a field was added without saying what it is.
"""
from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from typing import Any, Mapping

__all__ = ["Summary", "SummaryError", "encode", "undocumented_fields"]

_T = typing.TypeVar("_T", bound="Summary")


class SummaryError(TypeError):
    """A stored summary does not have the shape its class declares (a field missing, unknown or mistyped)."""


class Summary:
    """Base of every experiment's typed summary. Subclasses are `@dataclass(frozen=True)`."""

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON-able data (NaN as None, infinities as "inf"/"-inf")."""
        return encode(self)

    @classmethod
    def from_json(cls: type[_T], data: Mapping[str, Any]) -> _T:
        """Rebuild the summary from `to_json`'s output (or the "summary" object of a result file)."""
        return _decode(cls, data, cls.__name__)


def encode(value: Any) -> Any:
    """`value` as JSON-able data: dataclasses and mappings as objects, sequences and numpy arrays as lists, NaN as
    None and infinities as "inf"/"-inf" (JSON has neither)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return encode(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(tp: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            raise SummaryError(f"{where}: only `X | None` unions are supported in a summary; got {tp}.")
        return _decode(rest[0], value, where)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise SummaryError(f"{where}: expected an object for {tp.__name__}; got {type(value).__name__}.")
        hints = _hints(tp)
        names = [f.name for f in dataclasses.fields(tp)]
        missing = [n for n in names if n not in value]
        unknown = sorted(set(value) - set(names))
        if missing or unknown:
            raise SummaryError(f"{where}: stored fields do not match {tp.__name__} (missing: {missing or 'none'}; "
                               f"unknown: {unknown or 'none'}).")
        return tp(**{n: _decode(hints[n], value[n], f"{where}.{n}") for n in names})
    if origin is dict:
        key_t, val_t = args
        if not isinstance(value, Mapping):
            raise SummaryError(f"{where}: expected an object; got {type(value).__name__}.")
        return {_key(key_t, k, where): _decode(val_t, v, f"{where}[{k!r}]") for k, v in value.items()}
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise SummaryError(f"{where}: expected a list; got {type(value).__name__}.")
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(args) != len(value):
                raise SummaryError(f"{where}: expected {len(args)} items; got {len(value)}.")
            return tuple(_decode(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        items = [_decode(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is float:
        if value is None:
            return math.nan
        if value in ("inf", "-inf"):
            return float(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise SummaryError(f"{where}: expected a number; got {value!r}.")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise SummaryError(f"{where}: expected an integer; got {value!r}.")
    if tp is bool or tp is str:
        if isinstance(value, tp):
            return value
        raise SummaryError(f"{where}: expected {tp.__name__}; got {value!r}.")
    raise SummaryError(f"{where}: type {tp} is not supported in a summary (use float, int, bool, str, a Summary, "
                       f"dict[str, X], list[X], tuple[X, ...] or X | None).")


def _key(tp: Any, key: str, where: str) -> Any:
    if tp is str:
        return key
    if tp is int:
        return int(key)
    if tp is float:
        return float(key)
    raise SummaryError(f"{where}: dictionary keys must be str, int or float; got {tp}.")


def _nested(tp: Any) -> list[type]:
    """The dataclass types reachable from annotation `tp` (through dict, list, tuple and X | None)."""
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return [tp]
    return [c for a in typing.get_args(tp) for c in _nested(a)]


def undocumented_fields(cls: type) -> list[str]:
    """Fields of `cls` and of every summary nested in it whose name does not start a "name:" entry in its class
    docstring, as "Class.field"."""
    out, seen, todo = [], set(), [cls]
    while todo:
        c = todo.pop()
        if c in seen:
            continue
        seen.add(c)
        doc = c.__doc__ or ""
        if doc.startswith(f"{c.__name__}("):  # the signature dataclass writes when a class has no docstring
            doc = ""
        hints = _hints(c)
        for f in dataclasses.fields(c):
            if not re.search(rf"(?<![\w.]){re.escape(f.name)}:", doc):
                out.append(f"{c.__name__}.{f.name}")
            todo.extend(_nested(hints[f.name]))
    return out
