"""Result files: the summary and config as JSON, arrays as NPZ, both written atomically.

A result directory holds `arrays.npz` and `result.json`; `result.json` is written last, so its
presence marks a complete result. Each file is written to a temporary name in the same directory
and renamed into place, so an interrupted write never leaves a half file behind. An overwrite first
removes the old `result.json`, so a writer killed between the two files leaves an incomplete
directory (recomputed), never new arrays beside an old summary.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .summary import Summary, encode


@dataclass
class Result:
    """What one simulation run produced.

    experiment: dotted name, e.g. "grokking.sparse"; config: the run's parameters;
    summary: the numbers the run measured, as the experiment's typed `Summary` (read by attribute; its class
    docstring says what each is; `load` without the class gives the stored JSON as plain dicts); arrays: named numpy arrays (curves, weights); meta: wall time, versions,
    creation time.
    """

    experiment: str
    config: dict[str, Any]
    summary: Any = None
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def atomic_write(path: Path, write) -> None:
    """Call write(binary file handle) on a temporary file beside `path`, then rename it into place: a reader sees
    the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text(path: Path, text: str) -> None:
    """Write a text file atomically (UTF-8): a reader sees the old file or the whole new one, never a part."""
    atomic_write(Path(path), lambda fh: fh.write(text.encode()))


def write_json(path: Path, obj: Any, sort_keys: bool = True) -> None:
    """Write JSON atomically (keys sorted unless sort_keys=False)."""
    write_text(path, json.dumps(encode(obj), indent=2, sort_keys=sort_keys))


def _sync_dir(directory: Path) -> None:
    """Flush a directory's entries (a rename or unlink in it) to disk, where the platform allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save(result: Result, directory: Path) -> Path:
    """Write `result` into `directory` atomically (arrays first, JSON last). Overwriting a stored result first
    removes its `result.json` (the completeness mark), so that no moment of the write shows the new arrays beside
    the old summary as a complete result."""
    directory = Path(directory)
    arrays = {k: np.asarray(v) for k, v in result.arrays.items()}
    mark = directory / "result.json"
    if mark.exists():
        mark.unlink()
        _sync_dir(directory)
    atomic_write(directory / "arrays.npz", lambda fh: np.savez_compressed(fh, **arrays))
    write_json(directory / "result.json", {
        "experiment": result.experiment,
        "config": result.config,
        "summary": result.summary,
        "meta": result.meta,
        "arrays": sorted(arrays),
    }, sort_keys=False)  # a summary's dict keeps the order the run built it in, cached or fresh
    return directory


def is_complete(directory: Path) -> bool:
    """Whether `directory` holds a fully written result."""
    directory = Path(directory)
    return (directory / "result.json").is_file() and (directory / "arrays.npz").is_file()


def _restore(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _restore(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore(v) for v in value]
    if value == "inf":
        return float("inf")
    if value == "-inf":
        return float("-inf")
    return value


def number(value: Any) -> float:
    """A stored scalar as a float: NaN where the result file holds null (`save` writes NaN as null: JSON has no
    NaN)."""
    return float("nan") if value is None else float(value)


def load(directory: Path, summary: type[Summary] | None = None) -> Result:
    """Read a result written by `save`; with `summary`, the stored summary is rebuilt as that typed class."""
    directory = Path(directory)
    with open(directory / "result.json") as fh:
        head = json.load(fh)
    with np.load(directory / "arrays.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    stored = head["summary"]
    return Result(experiment=head["experiment"], config=_restore(head["config"]),
                  summary=summary.from_json(stored) if summary is not None else _restore(stored), arrays=arrays,
                  meta=head.get("meta", {}))
