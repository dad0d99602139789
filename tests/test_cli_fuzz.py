"""No traceback reaches a user: every command line, fuzzed.

A hypothesis property builds argument lists for every experiment of every paper from its config fields (valid
values, numbers out of range, wrong types, empty and malformed comma lists, unknown flags and experiments, odd
and unwritable output folders, seeds at the edges) and runs the command line through parsing, validation and
the output-folder checks only (`execute=False`: no simulation), so it stays fast. Every argument list must end
in exit 0 or in exit 2 with one sentence on stderr, never an exception. The entry points that cannot stop
before running (`paper_checks`, `figures`) are driven with bad arguments only, and the issue's three examples
are run as real subprocesses.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib
import io
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import paper_checks
from sims.engine.cli import _flag, guarded, main

PAPERS = paper_checks.available()
MODULES = {p: importlib.import_module(f"sims.{p}") for p in PAPERS}
EXPERIMENTS = [(p, e) for p in PAPERS for e in MODULES[p].EXPERIMENTS]
SCRATCH = Path(tempfile.mkdtemp(prefix="theorylab-fuzz-"))
A_FILE = SCRATCH / "a_file"
A_FILE.write_text("not a folder\n")

NUMBERS = st.one_of(st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, 1, -1, 2**31, 2**63 - 1, 2**63, 10**400]))
TEXTS = st.one_of(NUMBERS.map(str), st.sampled_from(["", ",", ",,", "1,,2", "a,b", "1,a", " ", "nan", "-inf", "1e999",
                                                     "true", "no", "quick", "cuda", "cpu", "0x10", "1_000", "½"]),
                  st.text(max_size=8))
SEEDS = st.one_of(st.sampled_from(["0", "1", "-1", "-3", str(2**63 - 1), str(2**63), "2.5", "x", ""]),
                  st.integers(-2**70, 2**70).map(str))
OUTS = st.sampled_from([str(SCRATCH / "out"), str(SCRATCH / "with space" / "ü"), "/proc/x", str(A_FILE),
                        str(A_FILE / "below"), "", "."])


def _shown(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


@st.composite
def argv_for(draw, paper_and_exp):
    """An argument list for one experiment. Most lists are well formed around the config values (the experiment
    named, options that exist), so the values' own checks are what is exercised; the rest also break the frame:
    no or a wrong experiment name, unknown flags, a bad preset, seed or output folder."""
    paper, exp = paper_and_exp
    quick = exp.presets["quick"]
    fields = [f.name for f in dataclasses.fields(quick) if f.name not in ("seed", "device")]
    frame = draw(st.integers(0, 3)) == 0
    argv = []
    head = draw(st.sampled_from(["name", "name", "none", "unknown"])) if frame else "name"
    if head == "name":
        argv.append(exp.name)
    elif head == "unknown":
        argv.append(draw(st.sampled_from(["nosuch", "Sparse", exp.name + "x"])))
    options = []
    for name in draw(st.lists(st.sampled_from(fields), min_size=1, max_size=3, unique=True)) if fields else []:
        valid = _shown(getattr(quick, name))
        options.append([_flag(name), draw(st.one_of(st.just(valid), TEXTS))])
    if draw(st.booleans()):
        options.append(["--seed", draw(SEEDS)])
    if frame and draw(st.booleans()):
        options.append(["--preset", draw(st.sampled_from(["quick", "paper", "fast", ""]))])
    if frame and draw(st.booleans()):
        options.append(["--out", draw(OUTS)])
    if frame and draw(st.booleans()):
        options.append([draw(st.sampled_from(["--nosuch", "--seed", "-x", "--lr-typo"]))])
    if any(f.name == "device" for f in dataclasses.fields(quick)) and draw(st.booleans()):
        options.append(["--device", draw(st.sampled_from(["cpu", "auto", "gpu", "", "cuda:99"]))])
    for opt in draw(st.permutations(options)):
        argv += opt
    return paper, argv


@contextlib.contextmanager
def _in(folder: Path):
    old = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)


def run_cli(paper: str, argv: list[str]) -> tuple[int, str]:
    """Exit code and stderr of `python -m sims.<paper> argv` up to the run (in-process, no simulation)."""
    mod = MODULES[paper]
    err = io.StringIO()
    with _in(SCRATCH), contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(paper, mod.EXPERIMENTS, mod.DEFAULT, mod.__doc__, argv + ["--cache", str(SCRATCH / "c")],
                        execute=False)
        except SystemExit as stop:  # argparse: usage line and one sentence, exit 2 (or --help, exit 0)
            code = stop.code
    return code, err.getvalue()


def _one_sentence(stderr: str) -> bool:
    """One error sentence (after argparse's usage line, if any) and no traceback. Not split into lines: a value
    the fuzzer drew may itself hold a line break."""
    return len(re.findall(r"\berror:", stderr)) == 1 and "Traceback" not in stderr


@settings(max_examples=600)
@given(st.sampled_from(EXPERIMENTS).flatmap(argv_for))
def test_every_experiment_command_line_ends_in_success_or_one_sentence(case):
    paper, argv = case
    code, stderr = run_cli(paper, argv)
    assert code in (0, 2), (paper, argv, code, stderr)
    if code == 2:
        assert _one_sentence(stderr), (paper, argv, stderr)
    else:
        assert stderr == "", (paper, argv, stderr)


@pytest.mark.parametrize("paper, exp", EXPERIMENTS, ids=[e.id for _, e in EXPERIMENTS])
def test_each_experiment_accepts_its_own_presets(paper, exp):
    for preset in ("quick", "paper"):
        assert run_cli(paper, [exp.name, "--preset", preset, "--out", str(SCRATCH / "o")]) == (0, "")


@pytest.mark.parametrize("argv, says", [
    (["--seed", "-1"], "seed must be an integer from 0 to 2**63 - 1; got -1"),
    (["--seed", str(2**63)], "seed must be an integer from 0 to 2**63 - 1"),
    (["--out", "/proc/x"], "--out folder '/proc/x' cannot be created or written"),
    (["nosuch"], "unknown experiment 'nosuch'; experiments: sparse, misgrok, matrix, modular"),
])
def test_the_reported_cases_answer_with_a_sentence(argv, says):
    code, stderr = run_cli("grokking", argv)
    assert code == 2 and says in stderr and "Traceback" not in stderr


@pytest.mark.parametrize("module, argv", [
    ("sims.grokking", ["--seed", "-1"]),
    ("sims.grokking", ["--out", "/proc/x"]),
    ("sims.momentum", ["nosuch"]),
    ("sims.retrieval", ["recall", "--seed", "-3"]),
    ("paper_checks", ["nosuch"]),
    ("paper_checks", ["--seeds", "1"]),
    ("paper_checks", ["--seeds", "1,1"]),
    ("paper_checks", ["--seeds=-1,2"]),
    ("paper_checks", ["--seeds", "a,b"]),
    ("paper_checks", ["--only", "nosuch"]),
    ("paper_checks", ["--out", "/proc/x", "--only", "delay_log_linear"]),
    ("paper_checks", ["--preset", "huge"]),
    ("paper_checks", ["--workers", "0"]),
    ("paper_checks", ["--workers", "two"]),
    ("figures", ["nosuch"]),
    ("figures", ["--seed", "-1"]),
    ("figures", ["--out", str(A_FILE)]),
    ("sims.local_sgd.distributed", []),
    ("sims.local_sgd.distributed", ["--seed", "-2"]),
    ("sims.local_sgd.distributed", ["--eta", "0"]),
    ("sims.lm", ["nosuch"]),
    ("sims.lm", ["--seed", "-1"]),
    ("sims.lm", ["--lr", "1,,"]),
    ("sims.lm", ["tiny", "--top-p", "0"]),
    ("sims.lm", ["tiny", "--cache", "/proc/x"]),
    ("sims.lm", ["chat", "--cache", "/proc/x", "--prompt", "hi"]),
    ("sims.lm", ["chat", "--dtype", "float64", "--prompt", "hi"]),
    ("sims.lm", ["bench", "--model", "tiny", "--tokens", "0"]),
    ("sims.grokking", ["sparse", "--d", str(2**63 - 1), "--no-figure", "--out", str(SCRATCH / "o"),
                       "--cache", str(SCRATCH / "c")]),                  # accepted, but no memory holds it
    ("benchmarks/sde_ou.py", ["--repeats", "0"]),
    ("benchmarks/sde_ou.py", ["--out", "/proc/x/r.json"]),
    ("benchmarks/knapsack_sweep.py", ["--webs", "bogus"]),
    ("benchmarks/knapsack_sweep.py", ["--workers", "0"]),
    ("benchmarks/knapsack_sweep.py", ["--designs", "random"]),
    ("benchmarks/knapsack_sweep.py", ["--webs", "none", "--profile-steps", "0", "--out", "/proc/x/r.json"]),
])
def test_entry_points_answer_bad_input_with_one_sentence_and_exit_2(module, argv):
    command = [module] if module.endswith(".py") else ["-m", module]
    proc = subprocess.run([sys.executable, *command, *argv], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1], env={**os.environ, "THEORYLAB_PROGRESS": "0"})
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and _one_sentence(proc.stderr), proc.stderr


def test_an_interrupted_command_exits_130_with_a_sentence(capsys):
    def body() -> int:
        raise KeyboardInterrupt

    assert guarded(body) == 130
    assert "interrupted" in capsys.readouterr().err
