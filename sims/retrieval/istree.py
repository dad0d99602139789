"""R2 and R5: IsTree under a memory budget, and the scripted in-context RAG controller (Thm 4.7 and Sec. 5 of
arXiv 2402.18510).

R2 (`istree_budget`): the budgeted streaming decider on the INDEX gadget (edges of Alice's stars first, the
gadget edges last), for a sweep of map sizes k, against the Fano ceiling for (n-3) hub bits and against its own
exact formula; union-find decides every family exactly with n ceil(log2 n) bits. The negative control checks
union-find's accuracy against the smallest budget's bit count: an under-counted state must trip the check.

R5 (`controller`): the controller with O(log n) bits of registers writes the official retrieval chain of
thought and decides IsTree exactly on random graphs; with retrieval disabled it must fail.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sims.engine import Experiment, Result, Summary, rng, validate
from sims.engine.cache import config_dict
from sims.engine.progress import bar
from theory.retrieval import (controller_state_bits, istree_budget_bits, istree_budget_success,
                              istree_success_upper_bound, memory_lower_bound, union_find_bits)

from .agents import budget_istree, rag_controller, union_find_istree
from .tasks import FAMILIES, graphs


@dataclass(frozen=True)
class BudgetConfig:
    """n: nodes; ks: sizes of the hub-side map (state = istree_budget_bits(n, k)); n_graphs: INDEX-gadget
    instances per k; uf_families: families on which union-find is run; uf_graphs: instances per family."""

    n: int = 128
    ks: tuple[int, ...] = (0, 16, 32, 64, 96, 128)
    n_graphs: int = 600
    uf_families: tuple[str, ...] = ("two_star", "tree_or_rewired", "index_gadget")
    uf_graphs: int = 200
    seed: int = 0

    def validate(self) -> None:
        validate.positive_int("n", self.n, 5)
        validate.each(validate.positive_int, "ks", self.ks, 0)
        validate.positive_int("n_graphs", self.n_graphs, 1)
        validate.each(lambda name, v: validate.one_of(name, v, tuple(FAMILIES)), "uf_families", self.uf_families)
        validate.positive_int("uf_graphs", self.uf_graphs, 1)


BUDGET_QUICK = BudgetConfig()
BUDGET_PAPER = BudgetConfig(n=512, ks=(0, 64, 128, 256, 384, 512), n_graphs=20000, uf_graphs=2000)


@dataclass(frozen=True)
class UnionFindIsTree(Summary):
    """The exact union-find decider of R2, the retrieval-free baseline.

    bits: its state, n ceil(log2 n) bits; acc: its accuracy on each family of the config's uf_families (keyed by
    family name; 1 when exact); gadget_acc: its accuracy on the INDEX-gadget graphs of the budget sweep;
    excess_at_smallest_budget: gadget_acc minus the Fano ceiling for the smallest budget's state bits (the
    control: an exact decider counted with too few bits must exceed that ceiling)."""

    bits: int
    acc: dict[str, float]
    gadget_acc: float
    excess_at_smallest_budget: float


@dataclass(frozen=True)
class BudgetSummary(Summary):
    """R2: IsTree on the INDEX gadget under a memory budget, one point per map size k of the config.

    max_excess_over_bound: max over k of the budgeted decider's accuracy minus the Fano ceiling for its state
    bits (<= 0 up to sampling noise); max_formula_gap: max over k of |accuracy - the decider's exact formula|;
    tree_fraction: fraction of the gadget graphs that are trees; lower_bound_bits: the bits any exact
    retrieval-free decider needs (Thm 4.7, INDEX gadget: n - 3); union_find: the exact decider
    (UnionFindIsTree)."""

    max_excess_over_bound: float
    max_formula_gap: float
    tree_fraction: float
    lower_bound_bits: float
    union_find: UnionFindIsTree


def _union_find(cfg: BudgetConfig, gadget: list, smallest_bound: float) -> UnionFindIsTree:
    """Union-find on every family of cfg.uf_families and on the budget sweep's gadget graphs."""
    acc = {}
    for fam in cfg.uf_families:
        fam_graphs = graphs(fam, cfg.n, cfg.uf_graphs, rng(cfg.seed, "uf", fam))
        acc[fam] = float(np.mean([union_find_istree(g)[0] == g.label for g in fam_graphs]))
    gadget_acc = float(np.mean([union_find_istree(g)[0] == g.label for g in gadget]))
    return UnionFindIsTree(bits=union_find_bits(cfg.n), acc=acc, gadget_acc=gadget_acc,
                           excess_at_smallest_budget=gadget_acc - smallest_bound)


def run_budget(cfg: BudgetConfig) -> Result:
    gs = graphs("index_gadget", cfg.n, cfg.n_graphs, rng(cfg.seed, "gadget"))
    labels = np.array([g.label for g in gs])
    acc, bits = [], []
    for k in cfg.ks:
        coin = rng(cfg.seed, "coin", k)
        answers = np.array([budget_istree(g, k, coin)[0] for g in gs])
        acc.append(float((answers == labels).mean()))
        bits.append(istree_budget_bits(cfg.n, min(k, cfg.n)))
    bits_arr = np.array(bits, dtype=float)
    bound = np.atleast_1d(istree_success_upper_bound(bits_arr, cfg.n))
    acc_arr = np.array(acc)
    summary = BudgetSummary(
        max_excess_over_bound=float(np.max(acc_arr - bound)),
        max_formula_gap=float(np.max(np.abs(acc_arr - istree_budget_success(bits_arr, cfg.n)))),
        tree_fraction=float(labels.mean()), lower_bound_bits=memory_lower_bound("istree", cfg.n),
        union_find=_union_find(cfg, gs, float(bound[0])))
    arrays = {"k": np.array(cfg.ks, dtype=float), "bits": bits_arr, "acc": acc_arr, "bound": bound,
              "formula": np.atleast_1d(istree_budget_success(bits_arr, cfg.n))}
    return Result("retrieval.istree_budget", config_dict(cfg), summary, arrays)


def summarize_budget(res: Result) -> str:
    a, s, cfg = res.arrays, res.summary, res.config
    uf = s.union_find
    lines = [f"R2 IsTree under a memory budget: INDEX gadget, n={cfg['n']}, {cfg['n_graphs']} graphs "
             f"(trees: {s.tree_fraction:.2f})",
             f"{'map bits k':>10} {'state bits':>10} {'accuracy':>9} {'formula':>8} {'Fano bound':>10}"]
    for i in range(a["k"].size):
        lines.append(f"{int(a['k'][i]):>10d} {int(a['bits'][i]):>10d} {a['acc'][i]:>9.3f} {a['formula'][i]:>8.3f} "
                     f"{a['bound'][i]:>10.3f}")
    lines += ["", f"max accuracy - bound: {s.max_excess_over_bound:+.4f}; "
              f"max |accuracy - formula|: {s.max_formula_gap:.4f}",
              f"union-find ({uf.bits} bits) accuracy on {', '.join(cfg['uf_families'])}: "
              + ", ".join(f"{uf.acc[fam]:.3f}" for fam in cfg["uf_families"]),
              f"exact decision needs >= {s.lower_bound_bits:.0f} bits (Thm 4.7, INDEX gadget)"]
    return "\n".join(lines)


BUDGET = Experiment(paper="retrieval", name="istree_budget",
                    description="R2: IsTree on the INDEX gadget with a memory budget, against the Fano bound; "
                                "union-find exact",
                    config_cls=BudgetConfig, presets={"quick": BUDGET_QUICK, "paper": BUDGET_PAPER},
                    run=run_budget, summarize=summarize_budget, summary=BudgetSummary)


@dataclass(frozen=True)
class ControllerConfig:
    """ns: graph sizes; families: graph families; n_graphs: instances per (family, n)."""

    ns: tuple[int, ...] = (16, 64, 128)
    families: tuple[str, ...] = ("two_star", "tree_or_rewired")
    n_graphs: int = 150
    seed: int = 0

    def validate(self) -> None:
        validate.each(validate.positive_int, "ns", self.ns, 5)
        validate.each(lambda name, v: validate.one_of(name, v, tuple(FAMILIES)), "families", self.families)
        validate.positive_int("n_graphs", self.n_graphs, 1)


CONTROLLER_QUICK = ControllerConfig()
CONTROLLER_PAPER = ControllerConfig(ns=(16, 32, 64, 128, 256), families=("two_star", "tree_or_rewired",
                                                                          "index_gadget"), n_graphs=10_000)


@dataclass(frozen=True)
class ControllerSize(Summary):
    """The controller's memory at one graph size.

    n: nodes; state_bits: the controller's measured state, the most bits its registers held on any graph of
    that size; declared_bits: the O(log n) register budget it declares (controller_state_bits(n));
    lower_bound_bits: the bits any retrieval-free decider needs at n (Thm 4.7, INDEX gadget: n - 3)."""

    n: int
    state_bits: int
    declared_bits: int
    lower_bound_bits: float


@dataclass(frozen=True)
class ControllerSummary(Summary):
    """R5: the scripted in-context RAG controller on IsTree, over the config's families and sizes n.

    min_acc: its lowest accuracy over families and n (1 when exact); max_acc_no_retrieval: its highest accuracy
    with every search answered [FAILED] (near chance when retrieval is what makes it work); sizes: one
    ControllerSize per n of the config, in its order; bits_over_lower_bound_at_largest_n: state bits over the
    retrieval-free lower bound at the largest n (below 1: fewer bits than any decider without retrieval);
    union_find_over_lower_bound_at_largest_n: union-find's n ceil(log2 n) bits over the same lower bound (the
    control)."""

    min_acc: float
    max_acc_no_retrieval: float
    sizes: tuple[ControllerSize, ...]
    bits_over_lower_bound_at_largest_n: float
    union_find_over_lower_bound_at_largest_n: float


def run_controller(cfg: ControllerConfig) -> Result:
    F, N = len(cfg.families), len(cfg.ns)
    acc, acc_off = np.zeros((F, N)), np.zeros((F, N))
    bits, cot_len = np.zeros(N), np.zeros((F, N))
    with bar(F * N * cfg.n_graphs, "controller", unit="graph") as pbar:
        for i, fam in enumerate(cfg.families):
            for j, n in enumerate(cfg.ns):
                ok, off, lens = [], [], []
                for g in graphs(fam, n, cfg.n_graphs, rng(cfg.seed, "graphs", fam, n)):
                    run = rag_controller(g)
                    ok.append(run.label == g.label)
                    off.append(rag_controller(g, retrieval=False).label == g.label)
                    bits[j] = max(bits[j], run.state_bits)
                    lens.append(len(run.cot))
                    pbar.update(1)
                acc[i, j], acc_off[i, j], cot_len[i, j] = np.mean(ok), np.mean(off), np.mean(lens)
    lower = np.array([memory_lower_bound("istree", n) for n in cfg.ns])
    sizes = tuple(ControllerSize(n=n, state_bits=int(b), declared_bits=controller_state_bits(n),
                                 lower_bound_bits=float(lb)) for n, b, lb in zip(cfg.ns, bits, lower))
    summary = ControllerSummary(min_acc=float(acc.min()), max_acc_no_retrieval=float(acc_off.max()), sizes=sizes,
                                bits_over_lower_bound_at_largest_n=float(bits[-1] / lower[-1]),
                                union_find_over_lower_bound_at_largest_n=float(union_find_bits(cfg.ns[-1])
                                                                               / lower[-1]))
    arrays = {"n": np.array(cfg.ns, dtype=float), "acc": acc, "acc_no_retrieval": acc_off, "state_bits": bits,
              "cot_len": cot_len, "lower_bound_bits": lower}
    return Result("retrieval.controller", config_dict(cfg), summary, arrays)


def summarize_controller(res: Result) -> str:
    a, s, cfg = res.arrays, res.summary, res.config
    lines = [f"R5 scripted in-context RAG controller on IsTree, {cfg['n_graphs']} graphs per point",
             f"{'family':>16} {'n':>5} {'accuracy':>9} {'no retrieval':>12} {'mean CoT len':>12}"]
    for i, fam in enumerate(cfg["families"]):
        for j, n in enumerate(cfg["ns"]):
            lines.append(f"{fam:>16} {n:>5d} {a['acc'][i, j]:>9.4f} {a['acc_no_retrieval'][i, j]:>12.3f} "
                         f"{a['cot_len'][i, j]:>12.1f}")
    lines += ["", f"{'n':>5} {'controller bits':>15} {'declared':>9} {'lower bound (no retrieval)':>27}"]
    for size in s.sizes:
        lines.append(f"{size.n:>5d} {size.state_bits:>15d} {size.declared_bits:>9d} {size.lower_bound_bits:>27.0f}")
    return "\n".join(lines)


CONTROLLER = Experiment(paper="retrieval", name="controller",
                        description="R5: an O(log n)-bit controller with a non-learned retriever decides IsTree "
                                    "exactly; without retrieval it fails",
                        config_cls=ControllerConfig, presets={"quick": CONTROLLER_QUICK, "paper": CONTROLLER_PAPER},
                        run=run_controller, summarize=summarize_controller,
                        summary=ControllerSummary)
