"""Tokenizers for the tiny language models: one token per character, or one per UTF-8 byte.

Both map text to a list of integer ids and back, and serialise to a plain dict so that a checkpoint carries its
tokenizer. The character tokenizer's vocabulary is the sorted set of characters of the text it was built from;
the byte tokenizer has a fixed vocabulary of 256 ids and accepts any text.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError


class CharTokenizer:
    """One id per distinct character, ids in sorted character order (so the same text gives the same ids)."""

    kind = "char"

    def __init__(self, chars: Sequence[str]):
        chars = list(chars)
        if not chars:
            raise ConfigError("chars must hold at least one character.")
        if any(len(c) != 1 for c in chars) or len(set(chars)) != len(chars):
            raise ConfigError("chars must be distinct single characters.")
        self.chars = chars
        self._index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """The tokenizer whose vocabulary is every character that occurs in `text`."""
        if not text:
            raise ConfigError("text must not be empty.")
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        """Number of ids."""
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """Ids of the characters of `text`; a character outside the vocabulary is a ConfigError."""
        try:
            return [self._index[c] for c in text]
        except KeyError as err:
            raise ConfigError(f"text holds the character {err.args[0]!r}, which is not in the tokenizer's "
                              f"vocabulary of {self.vocab_size} characters.") from None

    def decode(self, ids: Sequence[int]) -> str:
        """The text of a list of ids."""
        n = self.vocab_size
        bad = [i for i in ids if not 0 <= int(i) < n]
        if bad:
            raise ConfigError(f"ids must lie in [0, {n}); got {bad[0]}.")
        return "".join(self.chars[int(i)] for i in ids)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description (see `tokenizer_from_dict`)."""
        return {"kind": self.kind, "chars": "".join(self.chars)}


class ByteTokenizer:
    """One id per UTF-8 byte (256 ids); decoding replaces an incomplete multi-byte sequence by U+FFFD."""

    kind = "byte"
    vocab_size = 256

    def encode(self, text: str) -> list[int]:
        """The UTF-8 bytes of `text`."""
        return list(text.encode("utf-8"))

    def decode(self, ids: Sequence[int]) -> str:
        """The text of a list of byte ids."""
        bad = [i for i in ids if not 0 <= int(i) < 256]
        if bad:
            raise ConfigError(f"ids must lie in [0, 256); got {bad[0]}.")
        return bytes(int(i) for i in ids).decode("utf-8", errors="replace")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description (see `tokenizer_from_dict`)."""
        return {"kind": self.kind}


Tokenizer = CharTokenizer | ByteTokenizer
KINDS = ("char", "byte")


def build_tokenizer(kind: str, text: str) -> Tokenizer:
    """A tokenizer of the given kind ("char": built from `text`; "byte": fixed)."""
    if kind == "char":
        return CharTokenizer.from_text(text)
    if kind == "byte":
        return ByteTokenizer()
    raise ConfigError(f"tokenizer must be one of {', '.join(KINDS)}; got {kind!r}.")


def tokenizer_from_dict(data: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from `to_dict()` output."""
    kind = data.get("kind")
    if kind == "char":
        return CharTokenizer(list(data["chars"]))
    if kind == "byte":
        return ByteTokenizer()
    raise ConfigError(f"tokenizer must be one of {', '.join(KINDS)}; got {kind!r}.")
