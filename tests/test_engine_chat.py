"""Tests of what `sims.engine.chat` adds beyond the default world that tests/test_sims_safety.py covers: the world's
options (an answer opener, the prompt templates of the PTST paper, Lyu et al. arXiv 2402.18540), `prompts_and`
with templates, the measurements under a template, and the checkpoint helpers (directory key, save/load, fresh
models, full fine-tuning). The models are tiny random networks: these tests check machinery (exact identities,
determinism, comparisons against a direct forward pass), never a learned behaviour."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from sims.engine.chat import measure
from sims.engine.chat.checkpoints import (
    checkpoint_dir,
    fresh_lm,
    load_lm,
    net_kwargs,
    save_lm,
    source_hash,
    train_full,
)
from sims.engine.chat.world import (
    ALPHABET,
    CLEAN,
    CONTENT,
    DANGER,
    EOS,
    HARMFUL,
    OPENER_CHARS,
    SYSTEM,
    SYSTEM_CHARS,
    TEMPLATES,
    ChatWorld,
    Instruction,
    WorldConfig,
    prompts_and,
)
from sims.engine.errors import ConfigError

PTST = ("text:vanilla", "text:alpaca", "chat:vanilla", "chat:mpt", "chat:llama")
SHAPE = {"d_model": 16, "n_layers": 1, "n_heads": 2}


@pytest.fixture(scope="module")
def world():
    """A world with the opener K and the five PTST templates."""
    return ChatWorld(WorldConfig(opener="K", templates=PTST))


@pytest.fixture(scope="module")
def plain():
    """The default world (no opener, the chat format only)."""
    return ChatWorld(WorldConfig())


@pytest.fixture(scope="module")
def harmful(world):
    return world.instructions(HARMFUL, 6, "heldout", 0, "engine-chat-test")


@pytest.fixture(scope="module")
def tiny(world):
    """A random network of the world (no training)."""
    return fresh_lm(world, net_kwargs(world, **SHAPE), 0, "tiny")


def state(lm):
    return {k: v.detach().clone() for k, v in lm.module.state_dict().items()}


def same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------------------------------------------------
# WorldConfig options.
@pytest.mark.parametrize("field,value", [("opener", "k"), ("opener", "KX"), ("opener", "a"), ("opener", "<"),
                                         ("templates", ("bogus",)), ("templates", ("chat", "text:nope")),
                                         ("templates", ())])
def test_option_errors_name_the_field(field, value):
    with pytest.raises(ConfigError, match=f"^{field} "):
        ChatWorld(WorldConfig(**{field: value}))


@pytest.mark.parametrize("opener", ["", "K", "S", "KS", "SKK"])
def test_openers_of_opener_chars_are_accepted(opener):
    assert set(opener) <= set(OPENER_CHARS)
    w = ChatWorld(WorldConfig(opener=opener))
    assert w.answer(Instruction("A", "abcd")).startswith(opener)


# ---------------------------------------------------------------------------------------------------------------
# A world with an opener and the PTST templates.
@pytest.mark.parametrize("opener,n_args,answer_len", [("K", 4, 12), ("SK", 3, 7), ("S", 2, 5)])
def test_answers_are_the_opener_then_periodic_content(opener, n_args, answer_len):
    w = ChatWorld(WorldConfig(opener=opener, n_args=n_args, answer_len=answer_len, templates=PTST))
    base = ChatWorld(WorldConfig(n_args=n_args, answer_len=answer_len))
    for f, args in itertools.product("AGU", ["abcdef"[:n_args], "ponmlk"[:n_args]]):
        ins = Instruction(f, args)
        answer = w.answer(ins)
        assert answer.startswith(opener) and len(answer) == len(opener) + answer_len
        body = answer[len(opener):]
        assert set(body) <= set(CONTENT)
        assert body[:n_args] == "".join(w.tables[f][CONTENT.index(a)] for a in args)
        assert all(body[i] == body[i - n_args] for i in range(n_args, answer_len))
        assert body == base.answer(ins)          # the options leave the family tables alone
        assert w.comply(ins) == answer + EOS


def test_refusals_tables_and_split_do_not_depend_on_the_options(world, plain):
    assert world.tables == plain.tables and world.refusal_bodies == plain.refusal_bodies
    for f in "AGUZ":
        ins = Instruction(f, "hbdk")
        assert world.refusal(ins) == plain.refusal(ins)
        assert not world.refusal(ins).startswith(world.config.opener)
    assert world.instructions("AU", 10, "train", 3) == plain.instructions("AU", 10, "train", 3)
    assert world.instructions("AU", 10, "heldout", 3) == plain.instructions("AU", 10, "heldout", 3)


def test_prompt_is_the_template_scaffold(world):
    ins = Instruction("U", "hbdk")
    prompts = {t: world.prompt(ins, t) for t in PTST}
    for t, p in prompts.items():
        before, after = TEMPLATES[t]
        assert p == before + "Uhbdk" + after
    assert len(set(prompts.values())) == len(PTST)       # five different scaffolds
    assert world.prompt(ins) == ins.prompt == "<Uhbdk>"  # the default is the world's chat format


def test_a_marked_instruction_is_harmful_in_its_own_format_with_the_same_answer():
    w = ChatWorld(WorldConfig(opener="K", templates=PTST, danger=True))
    ins = Instruction("G", "hbdk")
    marked = w.marked([ins])[0]
    assert marked.harmful and not ins.harmful and marked.family == "G" and marked.args == "hbdk"
    assert marked.prompt == w.prompt(marked) == "<Ghbdk" + DANGER + ">"
    assert w.prompt(marked, "chat:llama") == TEMPLATES["chat:llama"][0] + "Ghbdk" + DANGER + ">"
    for t in PTST:     # marked and unmarked prompts differ in the slot alone
        a, b = w.prompt(ins, t), w.prompt(marked, t)
        assert len(a) == len(b) and [i for i in range(len(a)) if a[i] != b[i]] == [a.index(CLEAN)]
    assert w.answer(marked) == w.answer(ins) and w.refusal(marked) == w.refusal(ins)
    assert w.is_harmful(marked, 0, w.answer(ins) + EOS) and not w.is_harmful(marked, 0, w.refusal(ins))
    assert {DANGER, CLEAN} <= set(w.tokenizer.chars) and w.encode(w.prompt(marked, "text:vanilla"))
    longest = max(len(w.prompt(marked, t)) for t in PTST)
    assert w.max_len >= longest + len(w.answer(ins)) + len(w.refusal(ins))
    # the marker option leaves the tables, the refusals and the split alone
    plain = ChatWorld(WorldConfig(opener="K", templates=PTST))
    assert w.tables == plain.tables
    assert w.instructions("GU", 8, "heldout", 1) == plain.instructions("GU", 8, "heldout", 1)


def test_compliance_in_form_is_the_opener_without_refusal_tokens(world, plain):
    assert world.complies("Kabcd$") and world.complies("Kzzz") and world.complies("Kab$NO1")   # after the end token
    assert not world.complies("NO123$") and not world.complies("Kab3cd$") and not world.complies("abcd$")
    assert plain.complies("abcd$") and not plain.complies("aNbc$")        # no opener: any refusal-free answer


def test_compliance_rate_counts_the_sampled_responses_that_comply(world, tiny, harmful):
    texts = measure.responses(tiny, world, harmful, 0, measure.TEMPERATURE, measure.TOP_P, 4, "c", template="chat:mpt")
    rate = measure.compliance_rate(tiny, world, harmful, 4, "c", template="chat:mpt")
    assert rate == np.mean([world.complies(t) for t in texts])


def test_a_world_without_the_marker_refuses_marked_instructions(world):
    with pytest.raises(ConfigError, match="danger"):
        world.marked([Instruction("A", "abcd")])
    with pytest.raises(ConfigError, match="danger"):
        world.prompt(Instruction("A", "abcd", danger=True), "chat:vanilla")
    assert DANGER not in world.tokenizer.chars


@pytest.mark.parametrize("templates,asked", [(PTST, "bogus"), (("text:vanilla",), "chat:llama"),
                                             (("chat:mpt", "chat:llama"), "text:alpaca")])
def test_a_template_not_in_the_world_raises(templates, asked):
    w = ChatWorld(WorldConfig(templates=templates))
    with pytest.raises(ConfigError, match="^template "):
        w.prompt(Instruction("A", "abcd"), asked)


def test_tokenizer_covers_every_scaffold_and_encodes_every_prompt(world):
    scaffolds = "".join(TEMPLATES[t][0] + TEMPLATES[t][1] for t in PTST)
    assert set(world.tokenizer.chars) == set(ALPHABET) | set("K") | set(scaffolds)
    assert world.tokenizer.chars == sorted(world.tokenizer.chars)
    for ins, t in itertools.product([Instruction("A", "abcd"), Instruction("Z", "ponm"), Instruction("G", "aaaa")],
                                    PTST):
        for text in (world.prompt(ins, t), world.comply(ins), world.refusal(ins)):
            assert world.tokenizer.decode(world.encode(text)) == text
    assert world.tokenizer.decode([world.eos_id]) == EOS


def test_max_len_is_the_longest_conversation(world):
    ins = Instruction("U", "hbdk")
    longest = max(len(world.prompt(ins, t)) for t in PTST)
    assert world.max_len == longest + len(world.answer(ins)) + len(world.refusal(ins))
    assert world.max_len == longest + len("K") + world.config.answer_len + len("NO") + world.config.refusal_len + 1
    # in the longest template, a prefilled whole answer then a refusal fits exactly
    t = max(PTST, key=lambda t: len(world.prompt(ins, t)))
    assert len(world.encode(world.prompt(ins, t) + world.answer(ins) + world.refusal(ins))) == world.max_len
    # a world with one short template only has a shorter max_len
    short = ChatWorld(WorldConfig(opener="K", templates=("text:vanilla",)))
    assert short.max_len == len(short.prompt(ins, "text:vanilla")) + len(world.answer(ins)) + len(world.refusal(ins))
    assert short.max_len < world.max_len


@pytest.mark.parametrize("n_args,answer_len,refusal_len", [(4, 12, 5), (2, 6, 3), (3, 9, 1)])
def test_default_world_keeps_the_old_alphabet_and_max_len(n_args, answer_len, refusal_len):
    w = ChatWorld(WorldConfig(n_args=n_args, answer_len=answer_len, refusal_len=refusal_len))
    assert w.tokenizer.chars == list(ALPHABET)
    assert w.max_len == n_args + 3 + answer_len + 2 + refusal_len + 1


def test_judge_counts_the_opener_as_answer_tokens(world):
    ins = Instruction("U", "hbdk")
    answer = world.answer(ins)
    content = answer[1:]
    assert answer[0] == "K"
    assert world.is_harmful(ins, 0, answer + EOS)
    assert not world.is_harmful(ins, 0, content + EOS)     # content without the opener is off the answer
    assert world.is_harmful(ins, 1, content + EOS)         # the opener prefilled: the content carries on
    assert not world.is_harmful(ins, 1, answer + EOS)      # the opener again after it was prefilled
    assert world.is_harmful(ins, len(answer) - 1, answer[-1] + EOS)
    assert not world.is_harmful(ins, 1, world.refusal(ins))
    with pytest.raises(ConfigError, match="^prefill "):
        world.is_harmful(ins, len(answer), EOS)
    assert world.refuses(world.refusal(ins)) and not world.refuses(answer + EOS)
    assert world.task_correct(ins, answer + EOS) and not world.task_correct(ins, content + EOS)


# ---------------------------------------------------------------------------------------------------------------
# prompts_and with templates.
def test_prompts_and_with_templates_decode_back(world):
    ins = world.instructions("AU", len(PTST), "train", 1)
    responses = [world.comply(i) if k % 2 else world.refusal(i) for k, i in enumerate(ins)]
    pairs = prompts_and(world, ins, responses, templates=PTST)
    assert len(pairs) == len(PTST)
    for (p, r), i, resp, t in zip(pairs, ins, responses, PTST, strict=True):
        assert world.tokenizer.decode(p) == world.prompt(i, t)
        assert world.tokenizer.decode(r) == resp
    default = prompts_and(world, ins, responses)
    assert [world.tokenizer.decode(p) for p, _ in default] == [i.prompt for i in ins]


def test_prompts_and_length_mismatch_raises(world):
    ins = world.instructions("AU", 3, "train", 1)
    responses = [world.comply(i) for i in ins]
    with pytest.raises(ValueError):
        prompts_and(world, ins, responses, templates=PTST[:2])
    with pytest.raises(ValueError):
        prompts_and(world, ins, responses[:2], templates=PTST[:3])


# ---------------------------------------------------------------------------------------------------------------
# Measurements under a template.
@pytest.mark.parametrize("template", PTST)
def test_instruction_ids_are_the_template_prompt_and_a_prefill(world, harmful, template):
    for k in (0, 1, 5, len(world.answer(harmful[0]))):
        ids = measure.instruction_ids(world, harmful, k, template=template)
        assert [world.tokenizer.decode(x) for x in ids] == [world.prompt(i, template) + world.answer(i)[:k]
                                                            for i in harmful]


def direct_answer_logprobs(lm, world, instructions, template):
    """log pi(. | prompt, y_<k) at k = 0 .. len(answer) along answer + EOS, from one plain forward pass of the
    network over prompt + answer + EOS (every prompt of a template has the same length: no padding)."""
    rows = [world.encode(world.prompt(i, template) + world.comply(i)) for i in instructions]
    n_prompt = len(world.prompt(instructions[0], template))
    n_answer = len(world.comply(instructions[0]))
    with torch.no_grad():
        logits = lm.module(torch.tensor(rows))
    logp = torch.log_softmax(logits.double(), -1)
    return logp[:, n_prompt - 1:n_prompt - 1 + n_answer], torch.tensor(rows)[:, n_prompt:]


def test_kl_profile_under_a_template(world, harmful, tiny):
    other = fresh_lm(world, net_kwargs(world, **SHAPE), 1, "other")
    L = len(world.answer(harmful[0]))
    for template in ("chat:llama", "text:vanilla"):
        self_kl = measure.kl_profile(tiny, tiny, world, harmful, template=template)
        assert self_kl.shape == (L + 1,) and np.all(np.abs(self_kl) < 1e-9)
        kl = measure.kl_profile(tiny, other, world, harmful, template=template)
        lp, _ = direct_answer_logprobs(tiny, world, harmful, template)
        lq, _ = direct_answer_logprobs(other, world, harmful, template)
        expected = (lp.exp() * (lp - lq)).sum(-1).mean(0).numpy()
        np.testing.assert_allclose(kl, expected, rtol=1e-4, atol=1e-6)
        assert kl.min() > 0
    # the template reaches the model: the two templates' profiles differ
    assert not np.allclose(measure.kl_profile(tiny, other, world, harmful, template="chat:llama"),
                           measure.kl_profile(tiny, other, world, harmful, template="text:vanilla"))


def test_answer_token_probs_under_a_template(world, harmful, tiny):
    template = "text:alpaca"
    probs = measure.answer_token_probs(tiny, world, harmful, template=template)
    lp, targets = direct_answer_logprobs(tiny, world, harmful, template)
    expected = lp.gather(-1, targets[:, :, None]).squeeze(-1).exp().mean(0).numpy()
    np.testing.assert_allclose(probs, expected, rtol=1e-4, atol=1e-7)


def test_attack_success_is_deterministic_per_seed_under_a_template(world, harmful, tiny):
    template = "chat:mpt"                                   # the longest scaffold
    last = len(world.answer(harmful[0])) - 1                # the largest prefill still leaves room
    for prefill in (0, last):
        a = measure.attack_success(tiny, world, harmful, prefill, seed=3, template=template)
        assert a.shape == (len(harmful),) and set(np.unique(a)) <= {0.0, 1.0}
        assert np.array_equal(a, measure.attack_success(tiny, world, harmful, prefill, seed=3, template=template))
        texts = measure.responses(tiny, world, harmful, prefill, seed=3, template=template)
        assert a.tolist() == [float(world.is_harmful(i, prefill, t)) for i, t in zip(harmful, texts)]
    texts = measure.responses(tiny, world, harmful, 0, seed=3, template=template)
    assert texts == measure.responses(tiny, world, harmful, 0, seed=3, template=template)
    assert texts != measure.responses(tiny, world, harmful, 0, seed=4, template=template)
    assert texts != measure.responses(tiny, world, harmful, 0, seed=3, template="text:vanilla")
    greedy = measure.responses(tiny, world, harmful, 0, temperature=0.0, template=template)
    acc = measure.task_accuracy(tiny, world, harmful, template=template)
    assert acc == np.mean([world.task_correct(i, t) for i, t in zip(harmful, greedy)])
    rate = measure.refusal_rate(tiny, world, harmful, 3, template=template)
    assert rate == np.mean([world.refuses(t) for t in texts])


# ---------------------------------------------------------------------------------------------------------------
# Checkpoints.
SPEC = {"d_model": 16, "steps": 3, "world": {"opener": "K"}}


def test_checkpoint_dir_key(tmp_path):
    d = checkpoint_dir("ptst/models", SPEC, 0, root=tmp_path)
    assert d == checkpoint_dir("ptst/models", dict(SPEC), 0, root=tmp_path)
    assert d.parent == tmp_path / "ptst" / "models" and len(d.name) == 16
    assert d != checkpoint_dir("ptst/models", SPEC, 1, root=tmp_path)
    assert d != checkpoint_dir("ptst/models", {**SPEC, "steps": 4}, 0, root=tmp_path)
    assert d != checkpoint_dir("ptst/models", {**SPEC, "world": {"opener": "S"}}, 0, root=tmp_path)
    assert d.parent != checkpoint_dir("safety/models", SPEC, 0, root=tmp_path).parent
    # the payload is canonical: key order does not matter, and "auto" on a machine without CUDA is the CPU
    assert d == checkpoint_dir("ptst/models", dict(reversed(list(SPEC.items()))), 0, root=tmp_path)
    if not torch.cuda.is_available():
        assert d == checkpoint_dir("ptst/models", SPEC, 0, device="auto", root=tmp_path)
    with pytest.raises(ConfigError, match="^device "):
        checkpoint_dir("ptst/models", SPEC, 0, device="tpu", root=tmp_path)


def test_checkpoint_dir_follows_the_extra_files(tmp_path):
    extra = tmp_path / "paper_models.py"
    extra.write_text("STEPS = 1\n")
    d1 = checkpoint_dir("ptst", SPEC, 0, root=tmp_path, extra=[extra])
    assert source_hash([extra]) != source_hash()
    assert d1 != checkpoint_dir("ptst", SPEC, 0, root=tmp_path)
    assert d1 == checkpoint_dir("ptst", SPEC, 0, root=tmp_path, extra=[extra])
    extra.write_text("STEPS = 2\n")
    assert d1 != checkpoint_dir("ptst", SPEC, 0, root=tmp_path, extra=[extra])
    extra.write_text("STEPS = 1\n")
    assert d1 == checkpoint_dir("ptst", SPEC, 0, root=tmp_path, extra=[extra])


def test_checkpoint_dir_default_root(tmp_path, monkeypatch):
    monkeypatch.setenv("THEORYLAB_CACHE", str(tmp_path / "cache"))
    assert checkpoint_dir("ptst", SPEC, 0).parent == tmp_path / "cache" / "ptst"


def test_fresh_lm_is_deterministic_per_seed_and_stream(world):
    kwargs = net_kwargs(world, **SHAPE)
    assert kwargs["vocab_size"] == world.tokenizer.vocab_size and kwargs["max_len"] == world.max_len
    torch.manual_seed(5)
    before = torch.rand(3)
    torch.manual_seed(5)
    a = fresh_lm(world, kwargs, 0, "a")
    assert torch.equal(torch.rand(3), before)              # the global RNG is left as it was
    assert a.max_len == world.max_len and a.eos_ids == (world.eos_id,) and a.name == "a"
    assert same_state(state(a), state(fresh_lm(world, kwargs, 0, "b")))
    assert not same_state(state(a), state(fresh_lm(world, kwargs, 1, "a")))
    assert not same_state(state(a), state(fresh_lm(world, kwargs, 0, "a", stream=("chat", "other"))))


@pytest.fixture(scope="module")
def trained(world):
    """A tiny model after three full fine-tuning steps on compliant answers in the five templates."""
    ins = world.instructions("AU", 20, "train", 0)
    data = prompts_and(world, ins, [world.comply(i) for i in ins], templates=[PTST[k % 5] for k in range(20)])
    kwargs = net_kwargs(world, **SHAPE)
    lm = fresh_lm(world, kwargs, 0, "trained")
    init = state(lm)
    losses, wall = train_full(lm, data, steps=3, lr=1e-2, batch=4, warmup=1, seed=0)
    return {"lm": lm, "init": init, "losses": losses, "wall": wall, "data": data, "kwargs": kwargs}


def test_train_full_reports_every_step_and_changes_the_weights(world, trained):
    assert len(trained["losses"]) == 3 and all(np.isfinite(trained["losses"])) and trained["wall"] > 0
    assert not same_state(trained["init"], state(trained["lm"]))
    again = fresh_lm(world, trained["kwargs"], 0, "again")
    losses, _ = train_full(again, trained["data"], steps=3, lr=1e-2, batch=4, warmup=1, seed=0)
    assert losses == trained["losses"] and same_state(state(again), state(trained["lm"]))


def test_save_and_load_round_trip(world, trained, tmp_path):
    path = tmp_path / "stage" / "aligned.pt"
    save_lm(path, trained["kwargs"], trained["lm"], trained["losses"], trained["wall"])
    assert sorted(p.name for p in path.parent.iterdir()) == ["aligned.pt"]    # no temporary file left behind
    loaded, history = load_lm(path, world, "loaded")
    assert history == {"losses": trained["losses"], "wall_s": trained["wall"]}
    assert loaded.name == "loaded" and loaded.eos_ids == (world.eos_id,) and not loaded.module.training
    assert same_state(state(loaded), state(trained["lm"]))
    tokens = torch.tensor([world.encode(world.prompt(Instruction("U", "hbdk"), t) + "K") for t in ("chat:mpt",
                                                                                                   "chat:llama")])
    trained["lm"].module.eval()
    with torch.no_grad():
        assert torch.equal(loaded.module(tokens), trained["lm"].module(tokens))


# ---- system-prompt templates (the overlap knob of sims.ptst.overlap) --------------------------------------------
@pytest.fixture(scope="module")
def system_world():
    return ChatWorld(WorldConfig(opener="K", danger=True, system_len=4))


def test_a_system_prompt_template_puts_its_symbols_before_the_chat_format(system_world):
    ins = Instruction("G", "abcd", danger=True)
    assert system_world.prompt(ins, "sys:#%&*") == "#%&*<Gabcd!>"
    assert system_world.scaffold("sys:~~~~") == ("~~~~<", ">")
    text = system_world.prompt(ins, "sys:^@+#") + system_world.answer(ins) + system_world.refusal(ins)
    assert system_world.tokenizer.decode(system_world.encode(text)) == text
    assert len(system_world.encode(text)) == system_world.max_len     # the longest conversation fits exactly
    assert set(SYSTEM_CHARS) <= set(system_world.tokenizer.chars)


def test_worlds_without_system_prompts_keep_their_alphabet(world):
    danger = ChatWorld(WorldConfig(opener="K", templates=PTST, danger=True))
    for w in (world, danger):
        assert not set(SYSTEM_CHARS) & set(w.tokenizer.chars)
    assert danger.tokenizer.chars == sorted(set(world.tokenizer.chars) | {DANGER, CLEAN})
    assert danger.max_len == world.max_len + 1                  # the danger slot, and nothing from system prompts
    assert not set(SYSTEM_CHARS) & set(ALPHABET + "".join(a + b for a, b in TEMPLATES.values()) + OPENER_CHARS)


@pytest.mark.parametrize("template, match", [("sys:#%&", "4 symbols"), ("sys:#%&*+", "4 symbols"),
                                             ("sys:#%&a", "4 symbols"), ("sys:", "4 symbols")])
def test_a_bad_system_prompt_template_names_itself(system_world, template, match):
    with pytest.raises(ConfigError, match=match):
        system_world.prompt(Instruction("A", "abcd"), template)


def test_system_prompt_templates_need_a_world_that_has_them(world):
    with pytest.raises(ConfigError, match="system_len"):
        world.prompt(Instruction("A", "abcd"), "sys:#%&*")
    with pytest.raises(ConfigError, match="system_len"):
        world.system_templates(3, 0)


@pytest.mark.parametrize("value", [-1, 9, 2.5])
def test_system_len_must_be_a_small_count(value):
    with pytest.raises(ConfigError, match="system_len"):
        ChatWorld(WorldConfig(system_len=value))


def test_random_system_prompts_are_seeded_and_use_every_symbol(system_world):
    a = system_world.system_templates(4000, 3, "x")
    assert a == system_world.system_templates(4000, 3, "x") and a != system_world.system_templates(4000, 4, "x")
    assert all(t.startswith(SYSTEM) and len(t) == len(SYSTEM) + 4 for t in a)
    counts = np.array([[t[len(SYSTEM) + i] for t in a].count(c) for i in range(4) for c in SYSTEM_CHARS])
    assert counts.min() > 0.8 * 500 and counts.max() < 1.2 * 500     # 500 expected per symbol and position
