"""The published numbers of "Keeping LLMs Aligned After Fine-tuning: The Crucial Role of Prompt Templates" as data.

Lyu, Zhao, Gu, Yu, Goyal, Arora, arXiv 2402.18540 (NeurIPS 2024). The paper fine-tunes Llama-2-7B-chat on GSM8K
under one prompt template and tests it under another (its Table 1: 5 fine-tuning x 5 test templates, GSM8K accuracy
and attack success rates). `data/llama2_gsm8k.csv` holds the cells of that grid that could be reached, one published
number per line, each with its source and its status:

* READ: transcribed from the paper's own text (a stored copy of the paper, its table or sentence named);
* SECONDARY: known only through a secondary text (a summary or a quotation of the paper), named in the source.

Numbers a source marks as unverified are not data: the loader refuses the status. At present every line is
SECONDARY (no stored copy of Table 1 could be read; the file's header says what was searched).

File format: lines starting with '#' describe the file; then a header and one line per number: key, fine-tuning
template (`BEFORE` = "none" for the model before fine-tuning), test template, metric, value (percent), std (empty
where no spread was reached), status, source. The loader changes no number: it checks every field (known templates
and metrics, a percentage in [0, 100], a status of READ or SECONDARY, a source naming arXiv 2402.18540, no key and no
(fine-tuning, test, metric) cell twice) and raises `PublishedDataError` naming the file, the line's key and the
column otherwise. What it returns is read-only.
"""
from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType

from sims.engine import validate

DATA = Path(__file__).parent / "data"
FILE = "llama2_gsm8k.csv"
ARXIV = "2402.18540"

# The paper's prompt templates (names as in its code, vfleaking/PTST prompt_utils.py; described in the research
# summary shared/papers/llm_papers.md Sec. 3.2). Table 1 uses the first five.
TEMPLATES = ("text:vanilla", "text:alpaca", "chat:vanilla", "chat:alpaca", "chat:llama", "chat:llama-short",
             "chat:mpt")
BEFORE = "none"                      # fine-tuning template of the model before any fine-tuning
PTST = ("chat:vanilla", "chat:llama")  # Pure Tuning, Safe Testing: fine-tune without, test with the safety prompt
GSM8K = "gsm8k_em"                   # GSM8K exact-match accuracy (%)
ASR_DIRECTHARM4 = "asr_directharm4"  # % of DirectHarm4 answers the GPT-4 judge scores 5
METRICS = (GSM8K, ASR_DIRECTHARM4, "asr_advbench", "asr_gsm_danger")
READ = "read"
SECONDARY = "secondary"
STATUSES = (READ, SECONDARY)
COLUMNS = ("key", "train_template", "test_template", "metric", "value", "std", "status", "source")


class PublishedDataError(ValueError):
    """The published-number file does not hold what its format declares; the message names the file, the line's key
    and the column."""


@dataclass(frozen=True)
class Cell:
    """One published number: the fine-tuning template (BEFORE for none), the test template, the metric, the value
    (percent), its std (None where no spread was reached), its status (READ or SECONDARY) and its source."""

    key: str
    train_template: str
    test_template: str
    metric: str
    value: float
    std: float | None
    status: str
    source: str


@dataclass(frozen=True)
class Published:
    """The published cells of one file, read-only: `cells` {key: Cell} in file order."""

    file: str
    cells: Mapping[str, Cell]

    def cell(self, train_template: str, test_template: str, metric: str) -> Cell:
        """The cell fine-tuned with `train_template` (BEFORE: no fine-tuning), tested with `test_template`, for
        `metric`; ConfigError for an unknown template or metric, KeyError naming what exists for a cell not
        published here."""
        validate.one_of("train_template", train_template, (BEFORE,) + TEMPLATES)
        validate.one_of("test_template", test_template, TEMPLATES)
        validate.one_of("metric", metric, METRICS)
        for c in self.cells.values():
            if (c.train_template, c.test_template, c.metric) == (train_template, test_template, metric):
                return c
        have = ", ".join(f"({c.train_template}, {c.test_template}, {c.metric})" for c in self.cells.values())
        raise KeyError(f"{self.file} has no cell ({train_template}, {test_template}, {metric}); it has {have}.")

    def value(self, train_template: str, test_template: str, metric: str) -> float:
        """The published value (percent) of one cell (see `cell`)."""
        return self.cell(train_template, test_template, metric).value

    def statuses(self, *keys: str) -> tuple[str, ...]:
        """The statuses of the cells named by `keys` (all cells when none is named), in that order."""
        return tuple(self.cells[k].status for k in (keys or self.cells))


def _field(fields: dict[str, str], column: str, choices: tuple[str, ...], where: str) -> str:
    """One text field that must be one of `choices`; PublishedDataError naming `where` and the column otherwise."""
    text = fields[column].strip()
    if text not in choices:
        raise PublishedDataError(f"{where}, column {column!r}: {text!r} is not one of {', '.join(choices)}.")
    return text


def _number(text: str, column: str, where: str, percent: bool) -> float | None:
    """A finite number (in [0, 100] when `percent`, >= 0 otherwise; None for an empty std)."""
    text = text.strip()
    if not text and not percent:
        return None
    try:
        number = float(text)
    except ValueError:
        raise PublishedDataError(f"{where}, column {column!r}: {text!r} is not a number.") from None
    if percent and not (math.isfinite(number) and 0.0 <= number <= 100.0):
        raise PublishedDataError(f"{where}, column {column!r}: {number!r} is not a percentage in [0, 100].")
    if not percent and not (math.isfinite(number) and number >= 0.0):
        raise PublishedDataError(f"{where}, column {column!r}: std {number!r} must be finite and non-negative.")
    return number


def _status(fields: dict[str, str], where: str) -> str:
    """The line's status, READ or SECONDARY; a number marked unverified is refused with its own message."""
    text = fields["status"].strip().lower()
    if text == "unverified":
        raise PublishedDataError(f"{where}, column 'status': an unverified number is not published data; leave it "
                                 f"out until a source is read.")
    return _field({"status": text}, "status", STATUSES, where)


def _cell(fields: dict[str, str], where: str) -> Cell:
    """One checked line."""
    source = fields["source"].strip()
    if ARXIV not in source:
        raise PublishedDataError(f"{where}, column 'source': {source!r} does not name arXiv {ARXIV}.")
    return Cell(key=fields["key"].strip(),
                train_template=_field(fields, "train_template", (BEFORE,) + TEMPLATES, where),
                test_template=_field(fields, "test_template", TEMPLATES, where),
                metric=_field(fields, "metric", METRICS, where),
                value=_number(fields["value"], "value", where, percent=True),
                std=_number(fields["std"], "std", where, percent=False),
                status=_status(fields, where), source=source)


def read_published(path: Path | str | None = None) -> Published:
    """Read and check a published-number file (default data/llama2_gsm8k.csv): the header is COLUMNS; every line has
    one field per column, a new key, and a (fine-tuning, test, metric) cell not seen before; every field passes its
    check (see the module docstring). Raises PublishedDataError naming the file, the key and the column."""
    path = Path(path) if path is not None else DATA / FILE
    with open(path, newline="") as fh:
        lines = list(csv.reader(line for line in fh if not line.startswith("#")))
    if not lines or tuple(lines[0]) != COLUMNS:
        raise PublishedDataError(f"{path.name}: header must be {','.join(COLUMNS)}, got "
                                 f"{','.join(lines[0]) if lines else 'nothing'}.")
    cells: dict[str, Cell] = {}
    seen: dict[tuple[str, str, str], str] = {}
    for number, fields in enumerate(lines[1:], start=2):
        key = fields[0].strip() if fields else ""
        where = f"{path.name}, line {number} (key {key!r})"
        if len(fields) != len(COLUMNS):
            raise PublishedDataError(f"{where}: {len(fields)} fields, expected {len(COLUMNS)} ({', '.join(COLUMNS)}).")
        if not key or key in cells:
            raise PublishedDataError(f"{where}: the key is {'empty' if not key else 'used twice'}.")
        cell = _cell(dict(zip(COLUMNS, fields)), where)
        place = (cell.train_template, cell.test_template, cell.metric)
        if place in seen:
            raise PublishedDataError(f"{where}: cell {place} is already given by key {seen[place]!r}.")
        cells[key], seen[place] = cell, key
    if not cells:
        raise PublishedDataError(f"{path.name}: no published number.")
    return Published(path.name, MappingProxyType(cells))


@cache
def load() -> Published:
    """The shipped published numbers, read and checked once per process (read-only)."""
    return read_published()
