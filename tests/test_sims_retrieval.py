"""Retrieval simulations: task generators (against networkx and brute force), the streaming agents, the
retriever and the scripted controller (against the official trace format), the quantised models, configs."""
from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sims.engine import ConfigError, rng
from sims.engine.cli import main as cli_main
from sims.engine.summary import undocumented_fields
from sims.retrieval import BUDGET, CONTROLLER, EXPERIMENTS, ISTREE_TRAIN, RECALL, STREAMING
from sims.retrieval.agents import (Retriever, budget_istree, full_context_recall, naive_retrieve,
                                   prefix_store_recall, rag_controller, union_find_istree)
from sims.retrieval.models import LinearRNN, QuantisedGRU, quantise
from sims.retrieval.tasks import (FAMILIES, Vocab, associative_recall, cgram_task, counting_task, encode_istree,
                                  euler_tour, graphs, index_task, recall_tokens, relabel, retrieval_tour)
from theory.retrieval import ar_prefix_store_success, controller_state_bits

FAST = settings(max_examples=25, deadline=None)
family = st.sampled_from(sorted(FAMILIES))


def nx_graph(g):
    h = nx.Graph()
    h.add_nodes_from(range(g.n))
    h.add_edges_from(map(tuple, g.edges))
    return h


# ---- generators -------------------------------------------------------------------------------------------
@FAST
@given(fam=family, n=st.integers(5, 40), seed=st.integers(0, 10**6))
def test_istree_instances_have_n_minus_1_edges_and_networkx_labels(fam, n, seed):
    for g in graphs(fam, n, 5, rng(seed, "t")):
        assert g.edges.shape == (n - 1, 2)
        assert np.all(g.edges[:, 0] > g.edges[:, 1])           # larger id first, no self-loops
        assert len({tuple(e) for e in g.edges}) == n - 1        # no duplicate edges
        assert g.label == nx.is_tree(nx_graph(g)) == union_find_istree(g)[0]


@FAST
@given(fam=family, n=st.integers(5, 30), seed=st.integers(0, 10**6))
def test_relabelling_nodes_keeps_the_label(fam, n, seed):
    r = rng(seed, "relabel")
    g = graphs(fam, n, 1, r)[0]
    assert relabel(g, r.permutation(n)).label == g.label


@FAST
@given(fam=family, n=st.integers(5, 30), seed=st.integers(0, 10**6))
def test_euler_tour_of_a_tree_has_2n_minus_1_tokens_and_visits_every_node(fam, n, seed):
    for g in graphs(fam, n, 4, rng(seed, "euler")):
        tour = euler_tour(n, g.edges)
        if g.label:
            assert len(tour) == 2 * n - 1 and set(tour) == set(range(n))
            assert all(nx_graph(g).has_edge(a, b) for a, b in zip(tour, tour[1:]))
        else:
            assert len(tour) < 2 * n - 1


def test_families_are_balanced_and_two_star_label_rule():
    for fam in FAMILIES:
        labels = [g.label for g in graphs(fam, 16, 600, rng(0, fam))]
        assert 0.42 < np.mean(labels) < 0.58, fam
    for g in graphs("index_gadget", 12, 50, rng(1, "gadget")):
        hz, z = g.edges[-2]
        a, b = g.edges[-1]
        assert z in (a, b) or hz in (a, b)


def test_associative_recall_keys_distinct_and_answers_follow_queries():
    b = associative_recall(rng(0, "ar"), 200, 10, 16, 8, n_queries=3)
    assert all(len(set(row)) == 10 for row in b.keys)
    toks, pos = recall_tokens(b, 16)
    assert toks.shape == (200, 26) and list(pos) == [20, 22, 24]
    for i in range(200):
        pairs = dict(zip(toks[i, :20:2], toks[i, 1:20:2]))
        for p in pos:
            assert pairs[toks[i, p]] == toks[i, p + 1]
    with pytest.raises(ValueError, match="m must"):
        associative_recall(rng(0, "x"), 2, 20, 16, 8)


def test_index_cgram_counting_answers_by_brute_force():
    seq, q, ans = index_task(rng(0, "i"), 100, 20, 5)
    assert np.array_equal(ans, seq[np.arange(100), q])
    seq, query, ans = cgram_task(rng(0, "c"), 100, 30, 4, 3)
    for s, qq, a in zip(seq, query, ans):
        first = next(i for i in range(len(s) - 2) if list(s[i:i + 2]) == list(qq))
        assert a == s[first + 2]
    seq, q, thr, lab = counting_task(rng(0, "n"), 100, 30, 6)
    assert np.array_equal(lab, ((seq == q[:, None]).sum(1) > thr).astype(int))


# ---- agents -----------------------------------------------------------------------------------------------
def test_prefix_store_agent_stays_within_its_bits_and_matches_its_formula():
    b = associative_recall(rng(0, "agent"), 20000, 32, 64, 16)
    for s in (0, 50, 100, 400):
        ok, bits = prefix_store_recall(b, s, 64, 16, rng(0, "g", s))
        assert bits <= s
        assert ok.mean() == pytest.approx(ar_prefix_store_success(s, 32, 16, key_bits=6), abs=0.015)
    assert full_context_recall(b)[0].all()


def test_budget_agent_is_exact_with_a_full_map_and_at_chance_with_none():
    gs = graphs("index_gadget", 24, 400, rng(0, "b"))
    full = np.mean([budget_istree(g, 24, rng(0, "c"))[0] == g.label for g in gs])
    none = np.mean([budget_istree(g, 0, rng(0, "c"))[0] == g.label for g in gs])
    assert full == 1.0 and 0.4 < none < 0.6


@pytest.mark.parametrize("fam", sorted(FAMILIES))
def test_controller_writes_the_official_retrieval_trace_and_is_exact(fam):
    for g in graphs(fam, 12, 60, rng(3, fam)):
        toks, first = encode_istree(g, "retrieval")
        run = rag_controller(g)
        assert run.cot == list(toks[first:-2])                     # the official `euler_tour_with_retrieval`
        assert run.label == g.label
        assert run.state_bits <= controller_state_bits(g.n)


def test_indexed_retriever_equals_a_full_scan():
    vocab = Vocab(10)
    for g in graphs("tree_or_rewired", 10, 20, rng(5, "r")):
        toks, first = encode_istree(g, "retrieval", vocab)
        ret = Retriever(vocab)
        ss, es = vocab["[STARTSEARCH]"], vocab["[ENDSEARCH]"]
        checked = 0
        for i, tok in enumerate(toks[:-1]):
            ret.append(int(tok))
            if tok == es:
                start = max(j for j in range(i) if toks[j] == ss)
                query = [int(x) for x in toks[start + 1:i]]
                want = int(toks[i + 1])
                assert ret.answer(query) == naive_retrieve([int(x) for x in toks[:i + 1]], query, vocab) == want
                checked += 1
        assert checked > 0


def test_controller_without_retrieval_fails():
    gs = graphs("two_star", 16, 200, rng(0, "off"))
    acc = np.mean([rag_controller(g, retrieval=False).label == g.label for g in gs])
    assert acc < 0.65


def test_encodings_have_the_official_layout():
    g = graphs("two_star", 8, 1, rng(0, "enc"))[0]
    v = Vocab(8)
    for fmt in ("no_cot", "cot", "retrieval"):
        toks, first = encode_istree(g, fmt, v)
        assert toks[0] == v["[BOS]"] and toks[first - 1] == v["[EOS]"] and first == 3 * 7 + 2
        assert toks[-1] == (v["[TRUE]"] if g.label else v["[FALSE]"])
    assert len(encode_istree(g, "no_cot", v)[0]) == first + 1
    assert list(retrieval_tour(8, g.edges, v)[:2]) == [0, v["[STARTSEARCH]"]]


# ---- models ------------------------------------------------------------------------------------------------
def test_quantise_takes_at_most_2_to_the_bits_values_and_passes_gradients():
    h = torch.linspace(-1.2, 1.2, 1001, requires_grad=True)
    for bits in (1, 2, 3):
        q = quantise(h, bits)
        assert torch.unique(q.detach()).numel() <= 2**bits
        q.sum().backward()
        assert torch.allclose(h.grad, torch.ones_like(h))
        h.grad = None


@pytest.mark.parametrize("cls,kwargs", [(LinearRNN, dict(d_key=1, d_value=2, bits=1)),
                                        (QuantisedGRU, dict(hidden=2, bits=1))])
def test_rnn_outputs_after_the_boundary_depend_only_on_the_quantised_state(cls, kwargs):
    torch.manual_seed(0)
    model = cls(vocab_size=20, **kwargs)
    base = torch.randint(0, 20, (1, 10))
    outs = []
    for seed in range(300):               # many prefixes; same suffix
        g = torch.Generator().manual_seed(seed)
        toks = torch.cat([torch.randint(0, 20, (1, 6), generator=g), base[:, 6:]], dim=1)
        outs.append(model(toks, 6)[0, 6:].detach().reshape(-1))
    distinct = torch.unique(torch.stack(outs).round(decimals=5), dim=0).shape[0]
    assert 1 < distinct <= 2 ** model.state_bits <= 4
    free = torch.unique(torch.stack([model(torch.cat([torch.randint(0, 20, (1, 6)), base[:, 6:]], 1))[0, 6:]
                                     .detach().reshape(-1) for _ in range(50)]).round(decimals=5), dim=0)
    assert free.shape[0] > 2 ** model.state_bits          # without the quantised boundary: many more


TINY_RECALL = dict(n_keys=6, m_eval=(1, 2, 6), state_sizes=(2, 3), rnn_steps=6, attn_steps=4, n_eval=50, batch=8,
                   n_queries=2, d_model=16, n_heads=2)


def test_recall_tiny_run_is_deterministic_and_shaped():
    cfg = RECALL.config("quick", **TINY_RECALL)
    a, b = RECALL.run(cfg), RECALL.run(cfg)
    assert a.arrays["acc"].shape == (4, 3) and np.array_equal(a.arrays["acc"], b.arrays["acc"])
    assert a.summary.models == ["rnn2", "rnn3", "transformer", "hybrid"]
    assert [r.state_bits for r in a.summary.rnns] == [2 * 8 * 2, 3 * 8 * 2]
    assert a.summary == b.summary
    assert np.all(a.arrays["bound"] >= 1.0 / 16) and np.all(a.arrays["bound"] <= 1.0)


# ---- typed summaries ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("exp", EXPERIMENTS, ids=lambda e: e.name)
def test_every_experiment_declares_a_summary_with_every_field_documented(exp):
    assert exp.summary is not None and undocumented_fields(exp.summary) == []


@pytest.mark.parametrize("exp,overrides", [
    (STREAMING, dict(n_eval=300, m_eval=(2, 8, 32))),
    (BUDGET, dict(n=16, ks=(0, 16), n_graphs=30, uf_graphs=10)),
    (CONTROLLER, dict(ns=(8, 12), n_graphs=5)),
    (RECALL, TINY_RECALL),
], ids=["streaming", "istree_budget", "controller", "recall"])
def test_a_cached_result_reads_back_as_the_same_typed_summary(tmp_path, exp, overrides):
    cfg = exp.config("quick", **overrides)
    fresh = exp.cached(cfg, root=tmp_path)
    back = exp.cached(cfg, root=tmp_path)
    assert back.meta["from_cache"] and type(back.summary) is exp.summary and back.summary == fresh.summary


# ---- configs and command line ------------------------------------------------------------------------------
@pytest.mark.parametrize("exp,field,value", [
    (RECALL, "bits", 0), (RECALL, "rnn", "lstm"), (RECALL, "m_eval", (1, 100)), (RECALL, "threshold", 1.0),
    (RECALL, "n_heads", 5), (STREAMING, "cheat_factor", 1), (STREAMING, "m_eval", (200,)),
    (BUDGET, "n", 3), (BUDGET, "uf_families", ("grid",)), (CONTROLLER, "ns", (2,)), (RECALL, "device", "tpu"),
    (RECALL, "m_eval", ()), (RECALL, "m_eval", (0, 2)), (STREAMING, "s_bits", (-1,)), (BUDGET, "ks", (-1,)),
    (CONTROLLER, "n_graphs", 0), (ISTREE_TRAIN, "ns", (4,)), (ISTREE_TRAIN, "formats", ("scratchpad",)),
    (ISTREE_TRAIN, "steps", 0), (ISTREE_TRAIN, "n_eval", 0), (ISTREE_TRAIN, "n_heads", 3), (ISTREE_TRAIN, "lr", -1e-3),
])
def test_bad_parameters_name_the_parameter(exp, field, value):
    with pytest.raises(ConfigError, match=field):
        exp.config("quick", **{field: value})


def test_command_line_runs_and_reports(tmp_path, capsys):
    code = cli_main("retrieval", [STREAMING], "streaming", "doc",
                    ["streaming", "--n-eval", "500", "--m-eval", "2,8,32", "--out", str(tmp_path / "o"),
                     "--cache", str(tmp_path / "c")])
    out = capsys.readouterr().out
    assert code == 0 and "Fano bound" in out and (tmp_path / "o" / "streaming" / "r1_streaming.png").exists()
    assert cli_main("retrieval", [STREAMING], "streaming", "doc", ["streaming", "--cheat-factor", "0"]) == 2


def test_streaming_small_run_keeps_the_bound():
    res = STREAMING.run(STREAMING.config("quick", n_eval=3000, m_eval=(4, 16, 64)))
    assert res.summary.max_excess_over_bound <= 0.02 and res.summary.cheat_max_excess_over_bound > 0.05
    assert math.isclose(res.summary.full_context_min_acc, 1.0)


# ---- R4 (trained IsTree) plumbing ---------------------------------------------------------------------------
def test_istree_loss_mask_skips_retriever_answers_and_covers_the_label():
    from sims.retrieval.istree_train import batch_tensors

    v = Vocab(8)
    gs = graphs("two_star", 8, 6, rng(0, "mask"))
    toks, mask = batch_tensors(gs, "retrieval", v)
    for i, g in enumerate(gs):
        t = toks[i].numpy()
        length = int((t != v["[PAD]"]).sum())
        target = t[1:]
        assert mask[i, length - 2]                                  # the [TRUE]/[FALSE] label is supervised
        assert target[length - 2] == (v["[TRUE]"] if g.label else v["[FALSE]"])
        after_es = np.nonzero(t[:-1] == v["[ENDSEARCH]"])[0]      # targets right after [ENDSEARCH]
        assert after_es.size > 0 and not mask[i, after_es].any()
        assert not mask[i, length - 1:].any()                        # no loss on padding
        first_eos = int(np.nonzero(t == v["[EOS]"])[0][0])
        assert not mask[i, :first_eos].any() and mask[i, first_eos]


def test_istree_training_tiny_run_is_deterministic_and_reports_free_generation():
    from sims.retrieval.istree_train import ISTREE_TRAIN

    cfg = ISTREE_TRAIN.config("quick", ns=(5,), formats=("no_cot", "cot"), models=("rnn", "transformer"),
                              steps=3, n_eval=20, batch=4, hidden=8, d_model=16, n_heads=2)
    a, b = ISTREE_TRAIN.run(cfg), ISTREE_TRAIN.run(cfg)
    assert a.arrays["acc"].shape == (2, 2, 1)
    for k in ("acc", "gen_exact", "tf_seq_acc"):
        assert np.array_equal(a.arrays[k], b.arrays[k]), k
    assert np.all(a.arrays["gen_exact"] <= a.arrays["acc"] + 1e-12)   # an exact continuation has the right answer
    assert np.allclose(a.arrays["tf_seq_acc"], a.arrays["gen_exact"], atol=0.1)   # equal up to argmax ties
    assert 0 < a.summary.tests[0].count <= 20 and a.summary == b.summary
    assert "free-running" in ISTREE_TRAIN.summarize(a)


class _Oracle(torch.nn.Module):
    """Predicts, at every position of a prefix of a reference encoding, the reference's next token (one-hot
    logits); after a position where the prefix leaves the reference it predicts [FALSE]."""

    def __init__(self, refs, vocab, corrupt_retrieval=False):
        super().__init__()
        self.refs, self.vocab, self.corrupt = refs, vocab, corrupt_retrieval

    def forward(self, tokens):
        out = torch.zeros(*tokens.shape, self.vocab.size)
        for r, row in enumerate(tokens.tolist()):
            prompt = [t[:t.index(self.vocab["[EOS]"]) + 1] for t in self.refs]
            if len(row) < len(prompt[0]):                  # still reading the prompt: the logits are ignored
                continue
            ref = self.refs[prompt.index(row[:len(prompt[0])])]
            for p in range(len(row)):
                ok = p + 1 < len(ref) and row[:p + 1] == ref[:p + 1]
                out[r, p, ref[p + 1] if ok else self.vocab["[FALSE]"]] = 1.0
        return out


@pytest.mark.parametrize("fmt", ["no_cot", "cot", "retrieval"])
def test_free_generation_of_a_reference_oracle_is_exact_and_a_broken_oracle_is_not(fmt):
    from sims.retrieval.istree_train import generate

    v = Vocab(6)
    gs = graphs("two_star", 6, 5, rng(3, "oracle"))
    refs = [encode_istree(g, fmt, v)[0].tolist() for g in gs]
    right, exact = generate(_Oracle(refs, v), gs, fmt, v, max_len=400)
    assert right.all() and exact.all()                     # the retriever's inserted answers match the reference
    # an oracle that predicts the final label wrongly must score exactly the non-tree fraction
    flipped = [r[:-1] + [v["[TRUE]"] if r[-1] == v["[FALSE]"] else v["[FALSE]"]] for r in refs]
    right, exact = generate(_Oracle(flipped, v), gs, fmt, v, max_len=400)
    assert not right.any() and not exact.any()


def test_free_generation_stops_runaway_chains_and_scores_them_wrong():
    from sims.retrieval.istree_train import generate

    class Babbler(torch.nn.Module):                        # never closes its chain of thought
        def forward(self, tokens):
            out = torch.zeros(*tokens.shape, v.size)
            out[..., 0] = 1.0
            return out

    v = Vocab(6)
    gs = graphs("two_star", 6, 4, rng(0, "babble"))
    right, exact = generate(Babbler(), gs, "cot", v, max_len=400)
    assert not right.any() and not exact.any()


def test_retriever_reproduces_every_reference_answer_and_fails_on_junk():
    from sims.retrieval.tasks import retrieve

    for fam in ("two_star", "tree_or_rewired"):
        v = Vocab(9)
        for g in graphs(fam, 9, 20, rng(1, "retr", fam)):
            t, _ = encode_istree(g, "retrieval", v)
            positions = np.nonzero(t == v["[ENDSEARCH]"])[0]
            assert positions.size > 0
            for p in positions:
                assert retrieve(t[:p + 1], v) == t[p + 1]
    t, _ = encode_istree(graphs("two_star", 9, 1, rng(0, "j"))[0], "retrieval", v)
    eos = int(np.nonzero(t == v["[EOS]"])[0][0])
    junk = list(t[:eos + 1]) + [v["[STARTSEARCH]"], v["[TRUE]"], v["[ENDSEARCH]"]]
    assert retrieve(junk, v) == v["[FAILED]"]
    with pytest.raises(ValueError):
        retrieve(list(t[:eos + 1]), v)


@pytest.mark.parametrize("kind", ["transformer", "rnn", "hybrid"])
def test_cached_stepper_matches_the_full_forward(kind):
    from sims.retrieval.istree_train import ISTREE_TRAIN, Stepper, build

    cfg = ISTREE_TRAIN.config("quick", hidden=8, d_model=16, n_heads=2)
    model = build(cfg, kind, "cot", 20, 40).eval()
    toks = torch.from_numpy(rng(0, "stepper").integers(0, 20, (3, 25)))
    full = model(toks)
    stepper = Stepper(model)
    steps = torch.stack([stepper.step(toks[:, t]) for t in range(toks.shape[1])], dim=1)
    assert torch.allclose(steps, full, atol=1e-5), float((steps - full).abs().max())


def test_stream_retriever_agrees_with_retrieve_on_references_and_on_random_junk():
    from sims.retrieval.tasks import StreamRetriever, retrieve

    v = Vocab(7)
    gen = rng(5, "junk")
    SS, ES = v["[STARTSEARCH]"], v["[ENDSEARCH]"]
    checked = 0
    for g in graphs("tree_or_rewired", 7, 10, rng(2, "stream")):
        t, first = encode_istree(g, "retrieval", v)
        junk = list(t[:first]) + [int(x) for x in gen.choice([0, 1, 2, 3, v["~"], v["-"], SS, ES, v["[FAILED]"]],
                                                                size=300)]
        for seq in (list(t), junk):
            r = StreamRetriever(seq[:first], v)
            for p in range(first, len(seq)):
                r.push(seq[p])
                if seq[p] == ES:
                    assert r.answer() == retrieve(seq[:p + 1], v)
                    checked += 1
    assert checked > 100


def test_figures_never_start_the_paper_scale_istree_training(tmp_path, capsys):
    from figures.retrieval import make_all

    assert make_all("paper", tmp_path / "cache", tmp_path / "out", names=("istree_train",)) == []
    assert "skipping istree_train" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.npz"))
