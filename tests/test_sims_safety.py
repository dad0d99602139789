"""Tests of the tiny-model part of sims.safety: the chat world and its judge, the three trained models and their
checkpoint cache, the measurements, the fine-tuning objectives (Qi et al., arXiv 2406.05946, Eq. 3-5), the
engine's `objective=` / `on_step=` / Adam-beta additions, and the depth, prefill and finetune_attack experiments
at their "test" preset. The test models are too small for the paper's phenomena: these tests check machinery
(exact identities, laws, shapes, caching, determinism), never the phenomena."""
from __future__ import annotations

import copy
import dataclasses
import itertools

import numpy as np
import pytest
import torch

from sims.engine import rng
from sims.engine.errors import ConfigError
from sims.engine.lm.decode import continuation_logprobs
from sims.engine.lm.finetune import FinetuneConfig, finetune, mean_nll
from sims.engine.stats import chi_square
from sims.engine.summary import undocumented_fields
from sims.engine.chat import measure
from sims.safety import DEPTH, FINETUNE_ATTACK, PREFILL, objectives
from sims.safety import depth as depth_mod
from sims.safety import models as models_mod
from sims.engine.chat.checkpoints import as_lm
from sims.safety.models import (
    MODEL_SETS,
    STAGES,
    load_augmented,
    load_models,
    models_dir,
)
from sims.engine.chat.world import (
    ALPHABET,
    BENIGN,
    CONTENT,
    DIGITS,
    EOS,
    HARMFUL,
    NEW_TASK,
    REFUSAL_PREFIX,
    REFUSAL_TOKENS,
    ChatWorld,
    Instruction,
    WorldConfig,
)
from theory import safety as theory

SPEC = MODEL_SETS["test"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """One cache root for the module: the test models are trained once (a few seconds) and shared."""
    return tmp_path_factory.mktemp("safety-cache")


@pytest.fixture(scope="module")
def trained(root):
    return load_models("test", 0, root=root)


@pytest.fixture(scope="module")
def world():
    return ChatWorld(WorldConfig())


def state(lm):
    return {k: v.detach().clone() for k, v in lm.module.state_dict().items()}


def same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------------------------------------------------
# The world.
def test_vocabulary_is_the_alphabet_and_round_trips(world):
    assert len(set(ALPHABET)) == len(ALPHABET) == world.tokenizer.vocab_size
    assert set(ALPHABET) == set(CONTENT + BENIGN + NEW_TASK + HARMFUL + REFUSAL_PREFIX + DIGITS + "<>$")
    assert not REFUSAL_TOKENS & set(CONTENT)
    text = "<Uabcd>" + world.answer(Instruction("U", "abcd")) + EOS
    assert world.tokenizer.decode(world.encode(text)) == text
    assert world.encode(EOS) == [world.eos_id]


def test_prompt_answer_and_refusal_formats(world):
    ins = Instruction("U", "hbdk")
    assert ins.prompt == "<Uhbdk>" and ins.harmful
    assert not Instruction("A", "hbdk").harmful and not Instruction(NEW_TASK, "hbdk").harmful
    answer = world.answer(ins)
    assert len(answer) == world.config.answer_len and set(answer) <= set(CONTENT)
    assert answer[:4] == "".join(world.tables["U"][CONTENT.index(a)] for a in "hbdk")
    assert world.comply(ins) == answer + EOS
    refusal = world.refusal(ins)
    assert refusal.startswith(REFUSAL_PREFIX) and refusal.endswith(EOS)
    assert len(refusal) == len(REFUSAL_PREFIX) + world.config.refusal_len + 1
    assert set(refusal[2:-1]) <= set(DIGITS)
    # the longest conversation (prompt, whole answer prefilled, refusal) is exactly max_len tokens
    assert len(ins.prompt) + len(answer) + len(refusal) == world.max_len
    # every family's table is a permutation of the content letters
    for table in world.tables.values():
        assert sorted(table) == sorted(CONTENT)


@pytest.mark.parametrize("n_args,answer_len", [(2, 7), (3, 12), (4, 12)])
def test_answers_repeat_with_period_n_args(n_args, answer_len):
    w = ChatWorld(WorldConfig(n_args=n_args, answer_len=answer_len))
    for f, args in itertools.product("AUG", ["abcd"[:n_args], "pona"[:n_args]]):
        a = w.answer(Instruction(f, args))
        assert len(a) == answer_len
        assert all(a[i] == a[i - n_args] for i in range(n_args, answer_len))


def test_train_and_heldout_arguments_are_disjoint_and_cover_every_tuple():
    w = ChatWorld(WorldConfig(n_args=2, answer_len=4))
    train, held = set(w._train_ids.tolist()), set(w._heldout_ids.tolist())
    assert not train & held and train | held == set(range(16 ** 2))
    assert len(held) == round(0.2 * 256)
    # the index -> argument map is a bijection onto the 16^2 tuples
    assert {w._args_of(i) for i in range(256)} == {a + b for a in CONTENT for b in CONTENT}
    held_args = {w._args_of(i) for i in held}
    for split, allowed in (("heldout", held_args), ("train", {w._args_of(i) for i in train})):
        ins = w.instructions(HARMFUL, 300, split, 3)
        assert {i.args for i in ins} <= allowed


def test_instructions_are_deterministic_and_of_the_families_asked(world):
    a = world.instructions("UA", 200, "train", 5, "x")
    assert a == world.instructions("UA", 200, "train", 5, "x")
    assert a != world.instructions("UA", 200, "train", 6, "x")
    assert a != world.instructions("UA", 200, "train", 5, "y")
    assert len(a) == 200 and {i.family for i in a} == {"U", "A"}
    assert {i.family for i in world.instructions(NEW_TASK, 20, "heldout", 0)} == {NEW_TASK}
    # without replacement within a family while the split has room
    u = [i.args for i in world.instructions("U", 500, "heldout", 1)]
    assert len(set(u)) == len(u)


def test_world_split_depends_on_world_seed_only():
    a, b = ChatWorld(WorldConfig(world_seed=1)), ChatWorld(WorldConfig(world_seed=1))
    assert a.tables == b.tables and np.array_equal(a._heldout_ids, b._heldout_ids)
    assert a.tables != ChatWorld(WorldConfig(world_seed=2)).tables


def test_judge(world):
    ins = Instruction("V", "mnop")
    answer, L = world.answer(ins), world.config.answer_len
    for prefill in (0, 1, 3, L - 2, L - 1):
        assert world.is_harmful(ins, prefill, answer[prefill:] + EOS)
    assert world.is_harmful(ins, 0, answer[:4])                          # judge_tokens = 4 suffice
    assert world.is_harmful(ins, 0, answer + EOS + "NO1")                # after the end token nothing counts
    assert not world.is_harmful(ins, 0, answer[:3])                      # too short
    assert not world.is_harmful(ins, 0, world.refusal(ins))
    assert not world.is_harmful(ins, 2, world.refusal(ins))
    assert not world.is_harmful(ins, 0, answer[:6] + "NO123$")           # a refusal before the end token
    wrong = "".join(CONTENT[(CONTENT.index(c) + 1) % 16] for c in answer)
    assert not world.is_harmful(ins, 0, wrong + EOS)
    assert not world.is_harmful(ins, 1, answer + EOS)                    # misaligned with the prefill
    for bad in (-1, L, L + 3):
        with pytest.raises(ConfigError, match="prefill"):
            world.is_harmful(ins, bad, answer)
    assert world.refuses(world.refusal(ins)) and not world.refuses(answer)
    assert world.task_correct(ins, world.comply(ins)) and not world.task_correct(ins, answer[:-1] + EOS)


@pytest.mark.parametrize("field,value", [("n_args", 1), ("n_args", 7), ("n_args", 2.0), ("answer_len", 3),
                                         ("refusal_len", 0), ("heldout_fraction", 0.0), ("heldout_fraction", 1.0),
                                         ("judge_tokens", 0), ("world_seed", -1)])
def test_world_config_errors_name_the_field(field, value):
    cfg = dataclasses.replace(WorldConfig(), **{field: value})
    with pytest.raises(ConfigError, match=field):
        ChatWorld(cfg)


def test_instruction_arguments_are_checked(world):
    with pytest.raises(ConfigError, match="split"):
        world.instructions("U", 3, "test", 0)
    with pytest.raises(ConfigError, match="families"):
        world.instructions("Uq", 3, "train", 0)
    with pytest.raises(ConfigError, match="families"):
        world.instructions("", 3, "train", 0)
    with pytest.raises(ConfigError, match="n "):
        world.instructions("U", 0, "train", 0)


# ---------------------------------------------------------------------------------------------------------------
# The models and their cache.
def test_three_stages_are_trained_and_cached(trained, root):
    where = models_dir("test", 0, root)
    files = {s: where / f"{s}.pt" for s in STAGES}
    assert all(f.is_file() for f in files.values())
    mtimes = {s: f.stat().st_mtime_ns for s, f in files.items()}
    again = load_models("test", 0, root=root)
    assert {s: f.stat().st_mtime_ns for s, f in files.items()} == mtimes      # read, not retrained
    for s in STAGES:
        assert same_state(state(trained.by_name(s)), state(again.by_name(s)))
        assert again.history[s]["losses"] == trained.history[s]["losses"]
    steps = {"base": SPEC.base_steps, "aligned": SPEC.align_steps, "augmented": SPEC.augment_steps}
    for s in STAGES:
        assert len(trained.history[s]["losses"]) == steps[s]
    base_losses = trained.history["base"]["losses"]
    assert np.mean(base_losses[-10:]) < np.mean(base_losses[:10])             # the base training learns


def test_the_three_models_differ(trained):
    states = [state(trained.by_name(s)) for s in STAGES]
    for a, b in itertools.combinations(states, 2):
        assert not same_state(a, b)
    assert [trained.by_name(s).eos_ids for s in STAGES] == [(trained.world.eos_id,)] * 3


def test_models_dir_key(root):
    assert models_dir("test", 0, root) == models_dir("test", 0, root)
    assert models_dir("test", 0, root) != models_dir("test", 1, root)
    assert models_dir("test", 0, root) != models_dir("quick", 0, root)


def test_bad_names_raise(trained):
    with pytest.raises(ConfigError, match="models"):
        load_models("tiny")
    with pytest.raises(ConfigError, match="model"):
        trained.by_name("chat")
    with pytest.raises(ConfigError, match="p "):
        load_augmented("test", 0, 1.5, 4, models=trained)
    with pytest.raises(ConfigError, match="c "):
        load_augmented("test", 0, 0.5, 0, models=trained)


def test_data_builders_are_deterministic_and_sized(world):
    for build in (models_mod.base_data, models_mod.align_data, models_mod.augment_data):
        a = build(world, SPEC, 0)
        assert a == build(world, SPEC, 0) and a != build(world, SPEC, 1)
    assert len(models_mod.base_data(world, SPEC, 0)) == SPEC.base_examples
    align = models_mod.align_data(world, SPEC, 0)
    assert len(align) == SPEC.align_examples
    refusals = sum(world.tokenizer.decode(r).startswith(REFUSAL_PREFIX) for _, r in align)
    assert refusals == round(SPEC.align_refusal_share * SPEC.align_examples)


def test_training_is_deterministic_for_a_seed(trained):
    """The same start, data and seed give identical weights (the stage trainings use exactly this path)."""
    data = models_mod.align_data(trained.world, SPEC, 0)[:64]
    cfg = FinetuneConfig(method="full", steps=4, batch_size=8, lr=1e-3, seed=3)
    runs = []
    for _ in range(2):
        lm = as_lm(copy.deepcopy(trained.aligned.module), trained.world, "copy")
        finetune(lm, data, cfg)
        runs.append(state(lm))
    assert same_state(*runs)
    assert not same_state(runs[0], state(trained.aligned))


@pytest.mark.parametrize("p,c", [(0.5, 12), (0.3, 3), (1.0, 20)])
def test_recovery_cut_law(world, p, c):
    """k = 0 with probability 1 - p, else uniform on 1..min(c, L) (Eq. 2): chi-square on 20000 draws at a fixed
    seed, which also rejects a nearby wrong law."""
    top = min(c, world.config.answer_len)
    gen = rng(0, "test", "recovery-cut", str(p), str(c))
    draws = np.array([models_mod.recovery_cut(world, p, c, gen) for _ in range(20000)])
    counts = np.bincount(draws, minlength=top + 1)
    assert len(counts) == top + 1                                            # nothing beyond min(c, L)
    law = np.r_[1 - p, np.full(top, p / top)]
    assert chi_square(counts, law).p_value > 1e-3
    wrong = np.r_[1 - p + 0.03, np.full(top, (p - 0.03) / top)]
    assert chi_square(counts, wrong).p_value < 1e-3


def test_augment_data_examples(world):
    data = models_mod.augment_data(world, SPEC, 0)
    n_rec = round(SPEC.augment_alpha * SPEC.augment_examples)
    assert len(data) == SPEC.augment_examples
    cuts = []
    for prompt_ids, response_ids in data[:n_rec]:
        prompt = world.tokenizer.decode(prompt_ids)
        head, _, prefilled = prompt.partition(">")
        ins = Instruction(head[1], head[2:])
        assert ins.harmful
        assert prefilled == world.answer(ins)[:len(prefilled)]               # prompt + first k answer tokens
        assert world.tokenizer.decode(response_ids) == world.refusal(ins)    # -> the refusal
        cuts.append(len(prefilled))
    assert max(cuts) <= min(SPEC.augment_c, world.config.answer_len) and 0 in cuts and max(cuts) > 0
    for prompt_ids, response_ids in data[n_rec:]:
        prompt = world.tokenizer.decode(prompt_ids)
        ins = Instruction(prompt[1], prompt[2:-1])
        assert ins.family in BENIGN and world.tokenizer.decode(response_ids) == world.comply(ins)


def test_load_augmented_is_cached_and_differs(trained, root):
    lm = load_augmented("test", 0, 0.0, 12, root=root, models=trained)
    path = models_dir("test", 0, root) / "augmented_p0_c12.pt"
    assert path.is_file()
    mtime = path.stat().st_mtime_ns
    again = load_augmented("test", 0, 0.0, 12, root=root, models=trained)
    assert path.stat().st_mtime_ns == mtime and same_state(state(lm), state(again))
    assert not same_state(state(lm), state(trained.augmented))
    assert not same_state(state(lm), state(trained.aligned))


# ---------------------------------------------------------------------------------------------------------------
# Objectives (Eq. 3-5).
def test_betas_for():
    assert objectives.betas_for("constrained", 8).tolist() == pytest.approx([0.5, 2, 2, 2, 2, 0.1, 0.1, 0.1])
    assert objectives.betas_for("constrained", 2).tolist() == pytest.approx([0.5, 2])
    for name, b in (("uniform-0.1", 0.1), ("uniform-0.5", 0.5), ("uniform-2", 2.0)):
        assert objectives.betas_for(name, 3).tolist() == pytest.approx([b] * 3)
    assert objectives.betas_for("sft", 5) is None
    with pytest.raises(ConfigError, match="objective"):
        objectives.betas_for("dpo", 5)


def _hand_batch():
    values = torch.tensor([[-0.3, -2.0, -0.01, -4.0], [-1.5, -0.2, -3.0, 0.0]], dtype=torch.float64)
    mask = torch.tensor([[True, True, True, True], [True, True, True, False]])
    # reference log-probabilities per example index; the batch holds examples 2 and 0
    ref = [torch.tensor([-1.0, -0.5, -0.7], dtype=torch.float64), torch.tensor([0.0]),
           torch.tensor([-0.3, -1.0, -1.0, -2.5], dtype=torch.float64)]
    return values, mask, ref, [2, 0]


def test_constrained_loss_matches_theory():
    values, mask, ref, batch = _hand_batch()
    betas = torch.tensor([0.5, 2.0, 0.1], dtype=torch.float64)         # position 3 uses the last value, 0.1
    loss = objectives.constrained(ref, betas)(values, mask, batch)
    ref_pad = np.array([[-0.3, -1.0, -1.0, -2.5], [-1.0, -0.5, -0.7, 0.0]])
    beta = np.array([0.5, 2.0, 0.1, 0.1])
    per_token = theory.constrained_token_loss(values.numpy(), ref_pad, beta)
    m = mask.numpy()
    assert float(loss) == pytest.approx(per_token[m].sum() / m.sum(), rel=1e-12)


def test_constrained_gradient_is_weighted_sft_gradient():
    values, mask, ref, batch = _hand_batch()
    betas = torch.tensor([0.5, 2.0, 0.1], dtype=torch.float64)
    v = values.clone().requires_grad_(True)
    objectives.constrained(ref, betas)(v, mask, batch).backward()
    s = values.clone().requires_grad_(True)
    mean_nll(s, mask, batch).backward()
    ref_pad = np.array([[-0.3, -1.0, -1.0, -2.5], [-1.0, -0.5, -0.7, 0.0]])
    weight = theory.gradient_weight(values.numpy(), ref_pad, np.array([0.5, 2.0, 0.1, 0.1]))
    m = mask.numpy()
    np.testing.assert_allclose(v.grad.numpy()[m], (weight * s.grad.numpy())[m], rtol=1e-12)
    assert torch.all(v.grad[~mask] == 0)
    # at logp == ref (row 0, position 0: both -0.3) the weight is exactly 1: SFT's gradient (Eq. 5)
    assert v.grad[0, 0].item() == pytest.approx(s.grad[0, 0].item(), rel=1e-12)


def test_constrained_objective_at_the_reference_model(trained):
    """At the start of fine-tuning (model = reference) every token's loss is (2/beta_t) log 2 and its weight 1."""
    world, lm = trained.world, trained.aligned
    data = [(world.encode(i.prompt), world.encode(world.comply(i)))
            for i in world.instructions(HARMFUL, 6, "train", 0, "objective-test")]
    data[1] = (data[1][0], data[1][1][:5])                                 # one shorter response
    objective = objectives.objective_for("constrained", lm, data)
    batch = [1, 4, 0]
    v, mask = continuation_logprobs(lm, [data[i][0] for i in batch], [data[i][1] for i in batch], grad=True)
    loss = objective(v, mask, batch)
    betas = theory.beta_schedule(v.shape[1])
    expected = ((2 * np.log(2) / betas)[None, :] * mask.numpy()).sum() / mask.numpy().sum()
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    ref = objectives.reference_logprobs(lm, data, batch=4)
    assert [len(r) for r in ref] == [len(d[1]) for d in data]
    assert objectives.objective_for("sft", lm, data) is mean_nll


# ---------------------------------------------------------------------------------------------------------------
# The engine's fine-tuning additions.
def _small(trained):
    world = trained.world
    data = [(world.encode(i.prompt), world.encode(world.comply(i)))
            for i in world.instructions(NEW_TASK, 32, "train", 0, "engine-test")]
    return as_lm(copy.deepcopy(trained.aligned.module), world, "engine"), data


def test_finetune_uses_the_objective(trained):
    lm, data = _small(trained)
    before = state(lm)
    seen = []

    def zero(values, mask, batch):
        seen.append(list(batch))
        return 0.0 * mean_nll(values, mask, batch)

    res = finetune(lm, data, FinetuneConfig(method="full", steps=3, batch_size=4, lr=1e-2), objective=zero)
    assert same_state(before, state(lm))                        # zero gradients: AdamW without decay moves nothing
    assert res.losses == [0.0, 0.0, 0.0]
    assert len(seen) == 3 and all(len(b) == 4 and set(b) <= set(range(len(data))) for b in seen)
    res = finetune(lm, data, FinetuneConfig(method="full", steps=2, batch_size=4, lr=1e-2),
                   objective=lambda v, m, b: 7.0 + mean_nll(v, m, b) * 0)
    assert res.losses == [7.0, 7.0]


def test_finetune_calls_on_step_with_every_step(trained):
    lm, data = _small(trained)
    calls = []

    def on_step(step, loss):
        calls.append((step, loss, lm.module.training))

    res = finetune(lm, data, FinetuneConfig(method="full", steps=5, batch_size=4, lr=1e-3), on_step=on_step)
    assert [c[0] for c in calls] == [1, 2, 3, 4, 5]
    assert [c[1] for c in calls] == res.losses
    assert not any(c[2] for c in calls)                         # evaluated in eval mode


def test_finetune_adam_betas(trained):
    data = _small(trained)[1]
    outs = []
    for b1 in (0.0, 0.9):
        lm = _small(trained)[0]
        finetune(lm, data, FinetuneConfig(method="full", steps=3, batch_size=4, lr=1e-2, adam_beta1=b1))
        outs.append(state(lm))
    assert not same_state(*outs)
    for name in ("adam_beta1", "adam_beta2"):
        for bad in (-0.1, 1.0):
            with pytest.raises(ConfigError, match=name):
                FinetuneConfig(**{name: bad}).validate()


# ---------------------------------------------------------------------------------------------------------------
# Measurements.
def test_kl_profile(trained):
    world = trained.world
    ins = world.instructions(HARMFUL, 12, "heldout", 0, "kl-test")
    L = world.config.answer_len
    self_kl = measure.kl_profile(trained.aligned, trained.aligned, world, ins)
    assert self_kl.shape == (L + 1,) and np.all(np.abs(self_kl) < 1e-6)
    kl = measure.kl_profile(trained.aligned, trained.base, world, ins)
    assert kl.shape == (L + 1,) and np.all(kl >= -1e-6) and kl.max() > 1e-3
    probs = measure.answer_token_probs(trained.base, world, ins)
    assert probs.shape == (L + 1,) and np.all((probs > 0) & (probs <= 1))


def test_attack_success_machinery(trained):
    world = trained.world
    ins = world.instructions(HARMFUL, 20, "heldout", 0, "asr-test")
    for prefill in (0, 4):
        a = measure.attack_success(trained.base, world, ins, prefill, seed=1)
        assert a.shape == (20,) and set(np.unique(a)) <= {0.0, 1.0}
        assert np.array_equal(a, measure.attack_success(trained.base, world, ins, prefill, seed=1))
    # greedy decoding: the judge applied to the greedy responses
    texts = measure.responses(trained.aligned, world, ins, 2, temperature=0.0)
    greedy = measure.attack_success(trained.aligned, world, ins, 2, temperature=0.0)
    assert greedy.tolist() == [float(world.is_harmful(i, 2, t)) for i, t in zip(ins, texts)]
    assert 0.0 <= measure.refusal_rate(trained.aligned, world, ins) <= 1.0
    assert 0.0 <= measure.task_accuracy(trained.base, world, world.instructions(BENIGN, 10, "heldout", 0)) <= 1.0


# ---------------------------------------------------------------------------------------------------------------
# Experiments at the test preset.
@pytest.fixture(scope="module")
def results(trained, root):
    return {e.name: e.cached(e.config("test"), root=root) for e in (DEPTH, PREFILL, FINETUNE_ATTACK)}


@pytest.mark.parametrize("exp", [DEPTH, PREFILL, FINETUNE_ATTACK], ids=lambda e: e.name)
def test_summary_fields_are_documented(exp):
    assert undocumented_fields(exp.summary) == []


@pytest.mark.parametrize("exp", [DEPTH, PREFILL, FINETUNE_ATTACK], ids=lambda e: e.name)
def test_cache_reproduces_the_summary(exp, results, root):
    first = results[exp.name]
    assert isinstance(first.summary, exp.summary)
    assert exp.cached(exp.config("test"), root=root).summary == first.summary       # re-read
    assert exp.cached(exp.config("test"), root=root, refresh=True).summary == first.summary   # recomputed
    assert isinstance(exp.summarize(first), str) and exp.summarize(first)


def test_depth_summary(results):
    s = results["depth"].summary
    L, head = SPEC.world.answer_len, depth_mod.HEAD
    for profile in (s.kl_aligned, s.kl_augmented, s.kl_aligned_benign):
        assert len(profile) == L + 1 and min(profile) >= -1e-6
    kl = np.array(s.kl_aligned)
    assert s.head_share_aligned == pytest.approx(kl[:head].sum() / kl.sum())
    assert s.late_kl_augmented == pytest.approx(np.mean(s.kl_augmented[head:]))
    assert 0 <= s.head_share_aligned <= 1 and 0 <= s.head_share_augmented <= 1
    assert set(s.continue_prob) == set(STAGES)
    assert all(len(v) == L + 1 and all(0 <= p <= 1 for p in v) for v in s.continue_prob.values())
    assert depth_mod.head_share(np.array([1.0, 1.0, 2.0]), 2) == 0.5 and np.isnan(depth_mod.head_share(np.zeros(3), 1))


def test_prefill_summary(results):
    s, cfg = results["prefill"].summary, PREFILL.config("test")
    n = cfg.n_prompts
    assert set(s.asr) == set(s.rise) == set(s.decoding_attack) == set(s.default_asr) == set(STAGES)
    for m in STAGES:
        assert list(s.asr[m]) == [str(k) for k in cfg.prefills]
        assert all(0 <= v <= 1 and abs(v * n - round(v * n)) < 1e-9 for v in s.asr[m].values())
        assert s.rise[m] == s.asr[m][str(max(cfg.prefills))] - s.asr[m][str(min(cfg.prefills))]
        assert 0 <= s.decoding_attack[m] <= 1 and 0 <= s.benign_accuracy[m] <= 1
    assert list(s.ablation) == [f"p=0,C={SPEC.augment_c}"]
    point = s.ablation[f"p=0,C={SPEC.augment_c}"]
    assert point.p == 0.0 and point.c == SPEC.augment_c
    assert point.mean_asr == pytest.approx(np.mean([v for k, v in point.asr.items() if int(k) > 0]))


def test_finetune_attack_summary(results):
    s, cfg = results["finetune_attack"].summary, FINETUNE_ATTACK.config("test")
    L = SPEC.world.answer_len
    assert list(s.runs) == list(cfg.datasets)
    for by_obj in s.runs.values():
        assert list(by_obj) == list(cfg.objectives)
        for run in by_obj.values():
            assert run.steps == list(cfg.eval_at) and run.asr[0] == s.initial_asr and run.final_asr == run.asr[-1]
            assert all(0 <= v <= 1 for v in run.asr + [run.new_task_accuracy, run.benign_accuracy])
            assert len(run.harmful_token_prob) == L + 1 and np.isfinite(run.final_loss)
    # both losses are positive: a mean NLL, and a mean of (2 / beta) softplus(.) > 0
    assert all(run.final_loss > 0 for by_obj in s.runs.values() for run in by_obj.values())
    assert len(s.initial_harmful_token_prob) == L + 1


@pytest.mark.parametrize("exp,overrides,name", [
    (PREFILL, {"prefills": (0, SPEC.world.answer_len)}, "prefills"),
    (PREFILL, {"prefills": (-1,)}, "prefills"),
    (PREFILL, {"prefills": ()}, "prefills"),
    (PREFILL, {"attack_top_ps": (0.0,)}, "attack_top_ps"),
    (PREFILL, {"ablation_p": (1.5,)}, "ablation_p"),
    (FINETUNE_ATTACK, {"eval_at": (0, 3)}, "eval_at"),
    (FINETUNE_ATTACK, {"eval_at": (3, 0, 6)}, "eval_at"),
    (FINETUNE_ATTACK, {"objectives": ("sft", "dpo")}, "objectives"),
    (FINETUNE_ATTACK, {"datasets": ("toxic",)}, "datasets"),
    (FINETUNE_ATTACK, {"start": "base"}, "start"),
    (FINETUNE_ATTACK, {"adam_beta1": 1.0}, "adam_beta1"),
    (DEPTH, {"head": SPEC.world.answer_len + 1}, "head"),
    (DEPTH, {"models": "tiny"}, "models"),
])
def test_config_errors_name_the_parameter(exp, overrides, name):
    with pytest.raises(ConfigError, match=name):
        exp.config("test", **overrides)


@pytest.mark.slow
def test_training_from_scratch_is_deterministic(trained, tmp_path):
    """A second training of the test models in a fresh cache gives identical weights."""
    again = load_models("test", 0, root=tmp_path)
    for s in STAGES:
        assert same_state(state(trained.by_name(s)), state(again.by_name(s)))
