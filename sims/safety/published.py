"""The published tables of "Safety Alignment Should Be Made More Than Just a Few Tokens Deep" as data.

Qi, Panda, Lyu, Ma, Roy, Beirami, Mittal, Henderson, arXiv 2406.05946 (ICLR 2025). The CSV files under `data/` hold
the paper's numbers exactly as transcribed in the research notes (shared/papers/llm_papers.md, Sec. 2.2-2.8): Table 1
(refusal prefixes), Table 2 (utility after augmentation), Table 3 (inference-time attacks), the ASR of Fig. 3 (harmful
fine-tuning steps), Table 4 (constrained fine-tuning), Table 8 (beta ablation), Table 9 (warm-up ablation) and
Table 10 (fine-tuning the augmented model). Every row names its source (arXiv id and table).

File format: one table per file, one line per table row: the row's key, one cell per column and the source. A cell
is `mean +- std` (the paper's mean and standard deviation over its runs), a single `mean` where the paper publishes
no spread, or `NA` where the paper prints no value. Lines starting with '#' describe the table. All numbers are
percentages (ASR, accuracy, win rate, ROUGE-1 x 100), so every mean lies in [0, 100].

The loader changes no number: it reads a file, checks it against the table's declared rows and columns and the
ranges above, and raises `PublishedDataError` naming the file and the row otherwise. The tables it returns are
read-only. `PublishedTable.replicate` draws one simulated run of a table from the paper's own spread [ours], the
way the paper checks turn a mean +- std into per-seed values.
"""
from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType

import numpy as np

from sims.engine import validate

DATA = Path(__file__).parent / "data"
ARXIV = "2406.05946"

_ROWS_T4 = ("harmful_asr", "identity_asr", "backdoor_no_trigger_asr", "backdoor_trigger_asr", "samsum_asr",
            "samsum_utility", "sql_asr", "sql_utility", "gsm8k_asr", "gsm8k_utility")
PREFIXES = ("I cannot", "I cannot fulfill", "I apologize", "I apologize, but I cannot", "I am unable")
PREFILL_COLUMNS = ("prefill_5", "prefill_10", "prefill_20", "prefill_40")
ATTACK_ROWS = _ROWS_T4[:4]
BENIGN_DATASETS = ("samsum", "sql", "gsm8k")


@dataclass(frozen=True)
class Layout:
    """What a table file must hold: its file name under data/, its row keys and its column keys, in order."""

    file: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]


LAYOUTS: Mapping[str, Layout] = MappingProxyType({
    "table1": Layout("table1_refusal_prefix.csv", ("llama2_aligned", "llama2_base", "gemma_aligned", "gemma_base"),
                     ("none",) + PREFIXES),
    "table2": Layout("table2_utility.csv", ("initial", "augmented"),
                     ("AlpacaEval", "MMLU", "BBH", "MATH", "GSM8K", "HumanEval")),
    "table3": Layout("table3_inference_attacks.csv", ("initial", "augmented"),
                     PREFILL_COLUMNS + ("gcg_hexphi", "gcg_advbench", "decoding_hexphi",
                                        "decoding_maliciousinstruct")),
    "fig3": Layout("fig3_finetuning_attack.csv", ("harmful_examples",), ("0", "2", "4", "6")),
    "table4": Layout("table4_constrained.csv", _ROWS_T4,
                     tuple(f"{m}_{t}" for m in ("llama", "gemma") for t in ("initial", "sft", "constrained"))),
    "table8": Layout("table8_beta_ablation.csv", _ROWS_T4,
                     ("initial", "sft", "biased_beta", "uniform_0.1", "uniform_0.5", "uniform_2.0")),
    "table9": Layout("table9_warmup_ablation.csv", _ROWS_T4,
                     ("initial", "sft", "sft_warmup", "constrained", "constrained_warmup")),
    "table10": Layout("table10_augmented_finetuning.csv", _ROWS_T4,
                      ("sft", "sft_warmup", "constrained", "constrained_warmup")),
})
TABLES = tuple(LAYOUTS)


class PublishedDataError(ValueError):
    """A published-table file does not hold what its layout declares (a row or column missing or extra, a cell that
    does not parse, a number out of range, a source that does not name the paper); the message names file and row."""


@dataclass(frozen=True)
class Cell:
    """One published number: mean (percent; NaN where the paper prints none) and std (None where the paper
    publishes no spread)."""

    mean: float
    std: float | None = None


@dataclass(frozen=True)
class PublishedTable:
    """One table of the paper, read-only. name: key in LAYOUTS; rows, columns: keys in file order; cells:
    {(row, column): Cell}; sources: {row: the row's source}."""

    name: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: Mapping[tuple[str, str], Cell]
    sources: Mapping[str, str]

    def mean(self, row: str, column: str) -> float:
        """The published mean of one cell (percent)."""
        return self._cell(row, column).mean

    def std(self, row: str, column: str) -> float | None:
        """The published std of one cell, None where the paper gives no spread."""
        return self._cell(row, column).std

    def row_means(self, row: str, columns: tuple[str, ...] | None = None) -> np.ndarray:
        """The means of one row over `columns` (all columns by default), as a read-only array."""
        out = np.array([self.mean(row, c) for c in (columns or self.columns)], dtype=float)
        out.flags.writeable = False
        return out

    def replicate(self, gen: np.random.Generator, runs: int = 1) -> PublishedTable:
        """[ours] A simulated repetition of the paper's measurement: each cell with a published std drawn from a
        normal law with the paper's mean and standard deviation std / sqrt(runs) (the spread of a mean over `runs`
        runs; runs = 3 repeats the paper's own 3-run average), clipped to [0, 100] (percentages); cells without a
        spread keep their mean. Cells are drawn in file order, so the same generator state gives the same table."""
        validate.positive_int("runs", runs)
        cells = {}
        for key, cell in self.cells.items():
            value = cell.mean
            if cell.std is not None and cell.std > 0 and math.isfinite(cell.mean):
                value = float(np.clip(gen.normal(cell.mean, cell.std / math.sqrt(runs)), 0.0, 100.0))
            cells[key] = Cell(value, cell.std)
        return PublishedTable(self.name, self.rows, self.columns, MappingProxyType(cells), self.sources)

    def _cell(self, row: str, column: str) -> Cell:
        try:
            return self.cells[(row, column)]
        except KeyError:
            raise KeyError(f"table {self.name} has no cell ({row!r}, {column!r}); rows {self.rows}, "
                           f"columns {self.columns}.") from None


def _parse_cell(text: str, where: str) -> Cell:
    """A cell `mean +- std`, `mean` or `NA`; PublishedDataError (naming `where`) if it does not parse or a number
    is out of range."""
    text = (text or "").strip()
    if text == "NA":
        return Cell(math.nan, None)
    parts = [p.strip() for p in text.split("+-")]
    try:
        if len(parts) > 2:
            raise ValueError
        mean = float(parts[0])
        std = float(parts[1]) if len(parts) == 2 else None
    except ValueError:
        raise PublishedDataError(f"{where}: cell {text!r} is not 'mean +- std', 'mean' or 'NA'.") from None
    if not (math.isfinite(mean) and 0.0 <= mean <= 100.0):
        raise PublishedDataError(f"{where}: mean {mean!r} is not a percentage in [0, 100].")
    if std is not None and not (math.isfinite(std) and std >= 0.0):
        raise PublishedDataError(f"{where}: std {std!r} must be finite and non-negative.")
    return Cell(mean, std)


def read_table(name: str, path: Path | str | None = None) -> PublishedTable:
    """Read table `name` (a key of LAYOUTS) from `path` (default data/<its file>) and check it against its layout:
    the header is 'row', the declared columns, 'source'; every declared row appears once and no other; every cell
    parses with its mean in [0, 100] and std >= 0; every source names arXiv 2406.05946. Raises
    PublishedDataError naming the file and the row."""
    if name not in LAYOUTS:
        raise PublishedDataError(f"unknown table {name!r}; known: {', '.join(TABLES)}.")
    layout = LAYOUTS[name]
    path = Path(path) if path is not None else DATA / layout.file
    with open(path, newline="") as fh:
        reader = csv.reader(line for line in fh if not line.startswith("#"))
        lines = list(reader)
    header = ["row", *layout.columns, "source"]
    if not lines or lines[0] != header:
        raise PublishedDataError(f"{path.name}: header must be {header}, got {lines[0] if lines else 'nothing'}.")
    cells, sources = {}, {}
    for fields in lines[1:]:
        row = fields[0].strip() if fields else ""
        where = f"{path.name}, row {row!r}"
        if len(fields) != len(header):
            raise PublishedDataError(f"{where}: {len(fields)} fields, expected {len(header)} ({', '.join(header)}).")
        if row not in layout.rows:
            raise PublishedDataError(f"{where}: not a row of {name} (expected one of {', '.join(layout.rows)}).")
        if row in sources:
            raise PublishedDataError(f"{where}: the row appears twice.")
        if ARXIV not in fields[-1]:
            raise PublishedDataError(f"{where}: source {fields[-1]!r} does not name arXiv {ARXIV}.")
        sources[row] = fields[-1].strip()
        for column, text in zip(layout.columns, fields[1:-1]):
            cells[(row, column)] = _parse_cell(text, f"{where}, column {column!r}")
    missing = [r for r in layout.rows if r not in sources]
    if missing:
        raise PublishedDataError(f"{path.name}: rows missing: {', '.join(missing)}.")
    return PublishedTable(name, layout.rows, layout.columns, MappingProxyType(cells), MappingProxyType(sources))


@cache
def load(name: str) -> PublishedTable:
    """Table `name` from the shipped data (read and checked once per process; the result is read-only)."""
    return read_table(name)


def load_all() -> dict[str, PublishedTable]:
    """Every table of TABLES, checked."""
    return {name: load(name) for name in TABLES}
