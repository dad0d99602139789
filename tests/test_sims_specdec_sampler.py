"""The batched speculative sampler (sims.specdec.sampler) on tiny untrained Transformers with sharpened output
layers (so next-token distributions are far from uniform), and on SmolLM2 (slow): greedy identity with the target's
own greedy decoding, exactness of the emitted law by chi-square (and its two negative controls), acceptance rate
against its prediction, determinism, left padding, masked holes, and bad parameters."""
import math

import numpy as np
import pytest
import torch

from sims.engine.errors import ConfigError
from sims.engine.lm import decode
from sims.engine.lm.model import CausalLM, TinyLM
from sims.engine.lm.tokenizer import CharTokenizer
from sims.engine.nets import CausalTransformer
from sims.engine.stats import chi_square
from sims.engine.torch_layer import generator, seeded
from sims.specdec import sampler
from sims.specdec.sampler import MODES, speculative_generate, verify_block
from theory import specdec as theory

V = 5
PROMPTS = [[0, 1, 2], [3], [4, 4, 1, 0, 2, 3], [2, 2]]


def tiny(seed: int, d_model: int, n_layers: int, max_len: int = 48, sharpen: float = 20.0) -> TinyLM:
    """An untrained tiny model over 5 characters whose output layer is scaled up by `sharpen`."""
    with seeded(seed, "specdec-sampler-test"):
        net = CausalTransformer(V, d_model, n_layers, 2, max_len)
    with torch.no_grad():
        net.head.weight.mul_(sharpen)
    net.eval()
    return TinyLM(net, CharTokenizer(list("abcde")))


def perturbed(lm: TinyLM, seed: int, noise: float) -> TinyLM:
    """A copy of lm with Gaussian noise of relative size `noise` on every weight: a draft close to its target."""
    net = CausalTransformer(V, lm.module.tok.embedding_dim, len(lm.module.blocks), 2, lm.max_len)
    net.load_state_dict(lm.module.state_dict())
    g = generator(seed, "perturb")
    with torch.no_grad():
        for w in net.parameters():
            w.add_(noise * w.abs().mean() * torch.randn(w.shape, generator=g))
    net.eval()
    return TinyLM(net, lm.tokenizer)


@pytest.fixture(scope="module")
def target():
    return tiny(0, 32, 2)


@pytest.fixture(scope="module")
def near_draft(target):
    return perturbed(target, 1, 0.5)


@pytest.fixture(scope="module")
def far_draft():
    return tiny(1, 16, 1)


def law(probs) -> np.ndarray:
    """A float64 copy of a probability table renormalised (float32 model outputs sum to 1 only to ~1e-7)."""
    probs = np.asarray(probs, dtype=float)
    return probs / probs.sum()


def test_a_masked_hole_is_invisible_to_the_tiny_model(target):
    """Switching off a middle column of the padding mask gives the logits of the sequence without that token,
    with and without a KV cache (the sampler's bookkeeping rests on this)."""
    seq = torch.tensor([[1, 2, 4, 3, 0]])
    holed = torch.tensor([[True, True, False, True, True]])
    plain, _ = target.logits(torch.tensor([[1, 2, 3, 0]]), torch.ones(1, 4, dtype=torch.bool))
    full, _ = target.logits(seq, holed)
    torch.testing.assert_close(full[:, [0, 1, 3, 4]], plain, rtol=1e-5, atol=1e-5)
    _, cache = target.logits(seq[:, :3], holed[:, :3])
    rest, _ = target.logits(seq[:, 3:], holed, cache)
    torch.testing.assert_close(rest, plain[:, 2:], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("compact_ratio", [1.0, math.inf])
@pytest.mark.parametrize("gamma", [1, 3, 5])
def test_greedy_is_the_targets_greedy_decoding(target, near_draft, gamma, compact_ratio, monkeypatch):
    """With caches compacted after every block that leaves holes (ratio 1) and never compacted (ratio inf)."""
    monkeypatch.setattr(sampler, "COMPACT_RATIO", compact_ratio)
    compactions = []
    original = sampler._Reader.compact_if_sparse
    monkeypatch.setattr(sampler._Reader, "compact_if_sparse", lambda self: compactions.append(original(self)))
    plain = decode.generate(target, PROMPTS, 20, temperature=0, stop_at_eos=False)
    run = speculative_generate(target, near_draft, PROMPTS, 20, gamma, temperature=0)
    assert any(compactions) == (compact_ratio == 1.0)
    assert run.tokens == plain.tokens
    assert 0 < run.acceptance_rate < 1  # both the accepted and the rejected paths are exercised
    assert run.new_tokens == 20 * len(PROMPTS) and all(len(r) == 20 for r in run.tokens)
    assert run.draft_calls == gamma * run.target_calls


def test_greedy_rows_of_a_left_padded_batch_decode_as_if_alone(target, far_draft):
    batch = speculative_generate(target, far_draft, PROMPTS, 15, 3, temperature=0)
    for prompt, row in zip(PROMPTS, batch.tokens):
        assert speculative_generate(target, far_draft, [prompt], 15, 3, temperature=0).tokens[0] == row


@pytest.mark.parametrize("gamma", [1, 4])
def test_a_draft_equal_to_the_target_is_always_accepted(target, gamma):
    run = speculative_generate(target, target, PROMPTS, 17, gamma, temperature=1.0,
                               generator=generator(0, "same", gamma))
    assert run.acceptance_rate == 1.0
    assert np.all(run.accepted == gamma) and run.block_efficiency == gamma + 1
    assert run.target_calls == math.ceil(17 / (gamma + 1))
    uncut = 17 // (gamma + 1)  # blocks that started with at least gamma + 1 tokens still to emit
    assert run.accepted.size == uncut * len(PROMPTS)


def _first_two_counts(target, draft, prompt, rows, batches, gamma, mode, seed, temperature=1.0, top_p=1.0):
    counts = np.zeros((V, V))
    g = generator(seed, "law", mode)
    for _ in range(batches):
        run = speculative_generate(target, draft, [prompt] * rows, 2, gamma, temperature=temperature, top_p=top_p,
                                   generator=g, mode=mode)
        np.add.at(counts, tuple(np.array(run.tokens).T), 1)
    return counts


def _exact_first_two_law(target, prompt, temperature=1.0, top_p=1.0):
    """P(a, b) = p(a | prompt) p(b | prompt, a) of the target's sampling distribution, from V + 1 full (uncached)
    forward passes."""
    logp, _ = decode.next_token_logprobs(target, [prompt] * (V + 1), [[]] + [[a] for a in range(V)])
    dist = decode.sampling_distribution(logp, temperature, top_p).double().numpy()
    return dist[0, 0][:, None] * dist[1:, 1]


@pytest.mark.parametrize("mode, gamma", [("exact", 1), ("exact", 3), ("no_correction", 1), ("draft_bonus", 1)])
def test_first_two_tokens_have_the_target_law_only_when_exact(target, far_draft, mode, gamma):
    """At gamma = 1 < k = 2 the bonus token falls inside the tested prefix, so "draft_bonus" is caught (notes T4.1).
    4,000 rows in two batches, fixed seed."""
    assert set(MODES) == {"exact", "no_correction", "draft_bonus"}
    prompt = [0, 3, 1]
    counts = _first_two_counts(target, far_draft, prompt, 2000, 2, gamma, mode, seed=0)
    pvalue = chi_square(counts, law(_exact_first_two_law(target, prompt))).p_value
    print(f"mode {mode}, gamma {gamma}: chi-square p = {pvalue:.3g}")
    if mode == "exact":
        assert pvalue > 1e-3
    else:
        assert pvalue < 1e-6


def test_first_two_tokens_have_the_target_law_with_temperature_and_top_p(target, far_draft):
    """Temperature 1.3, top_p 0.9: both models sample from truncated laws (zeros included: a count in a cell the
    target's nucleus excludes fails outright)."""
    prompt = [0, 3, 1]
    counts = _first_two_counts(target, far_draft, prompt, 2000, 2, 2, "exact", seed=1, temperature=1.3, top_p=0.9)
    exact = law(_exact_first_two_law(target, prompt, 1.3, 0.9))
    assert (exact == 0).any()
    assert chi_square(counts, exact).p_value > 1e-3


def test_lenient_first_token_follows_the_lossy_law(target, far_draft):
    """With lenience the first emitted token has the law min(q, f(p)) + (1 - sum min(q, f(p))) residual
    (theory.specdec.lossy_emitted_law), not p."""
    prompt = [2, 0]
    g = generator(0, "lenient")
    run = speculative_generate(target, far_draft, [prompt] * 3000, 1, 2, temperature=1.0, generator=g,
                               lenience="linear", epsilon=0.4)
    counts = np.bincount([r[0] for r in run.tokens], minlength=V)
    p = decode.next_token_logprobs(target, [prompt], [[]])[0][0, 0].exp().double().numpy()
    q = decode.next_token_logprobs(far_draft, [prompt], [[]])[0][0, 0].exp().double().numpy()
    lossy = theory.lossy_emitted_law(p, q, 0.4, "linear")
    assert chi_square(counts, law(lossy)).p_value > 1e-3
    assert chi_square(counts, law(p)).p_value < 1e-6
    assert run.acceptance_rate > float(theory.acceptance(p, q))  # lenience accepts more


def test_acceptance_rate_matches_its_prediction(target, far_draft):
    """accepts - predicted_accepts is a martingale with conditional variance sum beta (1 - beta) <=
    n beta_bar (1 - beta_bar) (concavity); |z| < 4 is a two-sided test at level about 6e-5."""
    run = speculative_generate(target, far_draft, PROMPTS * 50, 12, 3, temperature=1.0, generator=generator(0, "z"))
    mean = run.predicted_accepts / run.attempts
    z = (run.accepts - run.predicted_accepts) / math.sqrt(run.attempts * mean * (1 - mean))
    print(f"acceptance {run.acceptance_rate:.4f} predicted {mean:.4f} over {run.attempts} decisions, z = {z:.2f}")
    assert run.attempts > 1000 and 0.05 < mean < 0.95
    assert abs(z) < 4


def test_the_same_seed_gives_the_same_tokens(target, near_draft):
    def run(seed):
        return speculative_generate(target, near_draft, PROMPTS, 12, 3, temperature=0.8, top_p=0.9,
                                    generator=generator(seed, "repeat")).tokens

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_verify_block_greedy_semantics():
    """Greedy one-hot distributions: accept while the draft token is the target's argmax, then emit the target's
    argmax (residual of two different one-hots is the target's)."""
    p = torch.nn.functional.one_hot(torch.tensor([[1, 2, 0]]), 3).float()
    q = torch.nn.functional.one_hot(torch.tensor([[1, 1]]), 3).float()
    verdict = verify_block(p, q, torch.tensor([[1, 1]]), torch.zeros(1, 2))
    assert verdict.n.tolist() == [1] and verdict.final.argmax(-1).tolist() == [2]
    assert verdict.decided.tolist() == [[True, True]] and verdict.overlap.tolist() == [[1.0, 0.0]]


def test_lengths_are_checked_against_max_len():
    """The target reads at most prompt + max_new_tokens + gamma - 1 real tokens: that many fit exactly."""
    small_t, small_d = tiny(0, 16, 1, max_len=12), tiny(1, 16, 1, max_len=12)
    run = speculative_generate(small_t, small_d, [[1, 2, 3]], 7, 3, temperature=0)
    assert len(run.tokens[0]) == 7
    with pytest.raises(ConfigError, match="max_new_tokens=8 with gamma=3"):
        speculative_generate(small_t, small_d, [[1, 2, 3]], 8, 3, temperature=0)


@pytest.mark.parametrize("kwargs, name", [
    ({"gamma": 0}, "gamma"), ({"gamma": 2.0}, "gamma"), ({"max_new_tokens": 0}, "max_new_tokens"),
    ({"mode": "lossy"}, "mode"), ({"epsilon": 0.0}, "epsilon"), ({"epsilon": 1.5}, "epsilon"),
    ({"lenience": "cubic", "epsilon": 0.5}, "lenience"), ({"epsilon": 0.5}, "epsilon"),
    ({"temperature": -1.0}, "temperature"), ({"top_p": 0.0}, "top_p"),
    ({"generator": None}, "generator"), ({"prompts": [[]]}, "prompts"), ({"prompts": [[7]]}, "prompts"),
])
def test_bad_parameters_are_config_errors(target, far_draft, kwargs, name):
    args = {"prompts": [[1, 2]], "max_new_tokens": 4, "gamma": 2, "temperature": 1.0,
            "generator": generator(0, "bad")}
    args.update(kwargs)
    with pytest.raises(ConfigError, match=name):
        speculative_generate(target, far_draft, **args)


def test_a_draft_with_another_vocabulary_is_refused(target):
    with seeded(0, "other-vocab"):
        net = CausalTransformer(4, 16, 1, 2, 48)
    other = TinyLM(net, CharTokenizer(list("abcd")))
    with pytest.raises(ConfigError, match="draft has vocab_size 4"):
        speculative_generate(target, other, [[1]], 3, 2, temperature=0)


class _Biased(CausalLM):
    """A draft for tests: another model's logits plus a fixed bias per token id (so greedy choices sometimes
    differ and blocks get rejections), behind the decoding protocol with its own cache."""

    def __init__(self, base: CausalLM, bias: torch.Tensor):
        self.base, self.bias = base, bias
        self.module, self.vocab_size, self.max_len = base.module, base.vocab_size, base.max_len
        self.pad_id, self.eos_ids, self.name = base.pad_id, base.eos_ids, f"biased {base.name}"

    def logits(self, tokens, mask, cache=None, keep=None):
        logits, cache = self.base.logits(tokens, mask, cache, keep)
        return logits + self.bias.to(logits.device), cache


@pytest.mark.slow
def test_smollm2_speculative_greedy_is_its_plain_greedy(smollm2):
    """SmolLM2 as target, and as draft with a fixed random logit bias: the masked-hole bookkeeping on a real Hugging
    Face model, two chat prompts of different lengths in one batch, rejections leaving holes mid-mask."""
    lm = smollm2
    prompts = [lm.chat_ids("Name a fruit."), lm.chat_ids("What is the capital of France? Answer briefly.")]
    seq = torch.tensor([prompts[0][:6]])
    holed = torch.ones_like(seq, dtype=torch.bool)
    holed[0, 3] = False
    full, _ = lm.logits(seq, holed)
    plain_logits, _ = lm.logits(seq[:, holed[0]], torch.ones(1, 5, dtype=torch.bool))
    torch.testing.assert_close(full[:, holed[0]], plain_logits, rtol=1e-3, atol=1e-3)
    plain = decode.generate(lm, prompts, 16, temperature=0, stop_at_eos=False)
    draft = _Biased(lm, 3.0 * torch.randn(lm.vocab_size, generator=generator(0, "bias")))
    run = speculative_generate(lm, draft, prompts, 16, 3, temperature=0)
    print(f"SmolLM2 with a biased draft: acceptance {run.acceptance_rate:.3f}")
    assert run.tokens == plain.tokens
    assert 0 < run.acceptance_rate < 1
    with pytest.MonkeyPatch.context() as patch:  # compact the DynamicCache after every block with holes
        patch.setattr(sampler, "COMPACT_RATIO", 1.0)
        assert speculative_generate(lm, draft, prompts, 16, 3, temperature=0).tokens == plain.tokens
    same = speculative_generate(lm, lm, prompts, 16, 3, temperature=0)
    assert same.tokens == plain.tokens and same.acceptance_rate == 1.0
