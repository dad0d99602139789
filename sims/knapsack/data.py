"""Synthetic training data for the mixing experiment: biographies and a power-law "web" stream.

Paper (Gu, Lyu, Li, Zhang, arXiv 2505.18091), Sec. 2 (SynBio) and Sec. 4 (the two-domain model). Our CPU-scale
stand-ins keep what the theory needs and nothing else:

* **Web** (domain 2, power-law structure): `n_keys` facts "key -> value", a key being a pair of tokens from a
  small alphabet, its value uniform over `n_values` value tokens. Each web sequence holds `facts_per_web` facts
  whose keys are drawn with Zipf probabilities q_k ∝ k^(-zipf). A learner that stores the most frequent keys
  first has web loss sum_{k > n} q_k log(n_values) ~ n^(1 - zipf): a power law in capacity with exponent
  alpha = zipf - 1 [ours]. `zipf = 0` gives uniform keys: every stored bit of the web is then worth the same,
  so the web loss falls linearly in the capacity given to it, until the whole web is stored (against the
  parameter count N it need not: a small network's capacity need not grow in proportion to N). `random_web`
  (a diagnostic) re-draws every web value at every training exposure: the web has nothing to learn and its
  loss is ln(n_values) at every size.
* **Biographies** (domain 1, uniform exposure frequency): `n_people` individuals, each named by a pair of tokens
  of the same alphabet (pairs no web key uses), with `n_attrs` attributes. An attribute's value is a string of
  `value_tokens` value tokens (the same tokens web values use), so it takes one of n_values**value_tokens
  values, and recall is exact match of the whole string, as the paper scores multi-token attributes (a
  birth city, a date). A biography renders all attributes in a fresh random order, each introduced by one of
  `n_templates` template tokens of that attribute, re-sampled on every exposure (the paper's SynBio re-samples
  sentence templates and their order the same way). Every person carries
  `n_attrs * value_tokens * log2(n_values)` bits.

Why names and values share the web's tokens: the knapsack model (Sec. 4) assumes one capacity shared by both
domains. With private name tokens, each person's embedding is a parameter only biographies train, a store the web
never competes for, and a small model then memorises biographies at any mixing ratio if trained long enough (we
measured this before the change: chance-corrected recall 0.2 -> 0.47 from 3000 to 6000 steps far below the
threshold). Sharing the alphabet and the value tokens leaves no parameter private to a domain except the few
template and marker tokens. Why two-token values: with one-token values a fact the model half-knows is often
right by argmax, and memorisation below the threshold crept up with longer training (chance-corrected 0.05 ->
0.17 at twice the steps, 8x below the threshold); exact match of two tokens counts a fact only when it is stored
(chance-corrected -0.05 / -0.03 / -0.03 at twice the steps, seeds 0 / 1 / 2, same setting).

Training loss is taken at the value positions only (the names and keys are random draws whose loss is the same for
every model), so "loss" below means the loss on fact values, in nats.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PAD, BIO, WEB = 0, 1, 2


@dataclass(frozen=True)
class World:
    """A fixed draw of the synthetic world: who the people are and what the web facts say.

    Token layout: [PAD, BIO, WEB | templates (attr-major) | alphabet | values]. People's names and web keys are
    distinct pairs of alphabet tokens; attribute values and web values are the same value tokens.
    """

    n_attrs: int
    n_templates: int
    n_alphabet: int
    n_values: int
    value_tokens: int
    facts_per_web: int
    names: np.ndarray        # (n_people, 2) alphabet indices
    attrs: np.ndarray        # (n_people, n_attrs) values in [0, n_values**value_tokens)
    keys: np.ndarray         # (n_keys, 2) alphabet indices, in order of decreasing frequency
    key_values: np.ndarray   # (n_keys,) value indices
    key_probs: np.ndarray    # (n_keys,) Zipf probabilities, decreasing
    random_values: bool = False  # control: biographies carry fresh random values on every exposure
    random_web: bool = False     # diagnostic: web facts carry fresh random values on every training exposure

    # token offsets
    @property
    def o_tmpl(self) -> int:
        return 3

    @property
    def o_alpha(self) -> int:
        return self.o_tmpl + self.n_attrs * self.n_templates

    @property
    def o_value(self) -> int:
        return self.o_alpha + self.n_alphabet

    @property
    def vocab_size(self) -> int:
        return self.o_value + self.n_values

    @property
    def n_people(self) -> int:
        return int(self.names.shape[0])

    @property
    def n_keys(self) -> int:
        return int(self.keys.shape[0])

    @property
    def bio_len(self) -> int:
        return 3 + (1 + self.value_tokens) * self.n_attrs

    @property
    def web_len(self) -> int:
        return 1 + 3 * self.facts_per_web

    @property
    def seq_len(self) -> int:
        return max(self.bio_len, self.web_len)

    @property
    def bits_per_person(self) -> float:
        return self.n_attrs * self.value_tokens * float(np.log2(self.n_values))

    @property
    def n_attr_values(self) -> int:
        return self.n_values ** self.value_tokens

    @property
    def chance(self) -> float:
        """Recall of the best guess that ignores the person: the most common value of each attribute."""
        counts = [np.bincount(self.attrs[:, a]).max() for a in range(self.n_attrs)]
        return float(np.mean(counts)) / self.n_people


def zipf_probs(n: int, exponent: float) -> np.ndarray:
    """q_k ∝ k^(-exponent), k = 1..n (exponent 0: uniform)."""
    w = np.arange(1, n + 1, dtype=float) ** (-float(exponent))
    return w / w.sum()


def make_world(rng: np.random.Generator, n_people: int, n_attrs: int, n_templates: int, n_values: int,
               n_keys: int, n_alphabet: int, zipf: float, facts_per_web: int, random_values: bool = False,
               value_tokens: int = 1, random_web: bool = False) -> World:
    """Draw the web keys and the people's names (distinct pairs of one alphabet), attributes and key values."""
    if n_people + n_keys > n_alphabet ** 2:
        raise ValueError(f"n_people + n_keys must be at most n_alphabet**2 = {n_alphabet ** 2}; "
                         f"got {n_people + n_keys}.")
    flat = rng.choice(n_alphabet ** 2, size=n_keys + n_people, replace=False)
    pairs = np.stack([flat // n_alphabet, flat % n_alphabet], axis=1)
    keys, names = pairs[:n_keys], pairs[n_keys:]
    # balanced attributes: every value is held by (nearly) the same number of people, so guessing a value
    # without knowing the person is right with probability ~max(1/n_values**value_tokens, 1/n_people)
    # (World.chance): distinct values while there are enough strings, else every string equally often
    n_attr_values = n_values ** value_tokens
    if n_people <= n_attr_values:
        attrs = np.stack([rng.choice(n_attr_values, n_people, replace=False) for _ in range(n_attrs)], axis=1)
    else:
        base = np.arange(n_people) % n_attr_values
        attrs = np.stack([rng.permutation(base) for _ in range(n_attrs)], axis=1)
    key_values = rng.integers(0, n_values, size=n_keys)
    return World(n_attrs, n_templates, n_alphabet, n_values, value_tokens, facts_per_web, names, attrs, keys,
                 key_values, zipf_probs(n_keys, zipf), random_values, random_web)


def bio_sequences(w: World, people: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Render biographies of `people` (indices) with a fresh attribute order and templates each.

    Layout [BIO, first, last, (template, value token 1..L) per attribute]. Returns tokens (B, seq_len) and a
    boolean mask (B, seq_len) of positions whose *next* token is a value token (L per attribute).
    """
    b = people.size
    order = np.argsort(rng.random((b, w.n_attrs)), axis=1)
    tmpl = rng.integers(0, w.n_templates, size=(b, w.n_attrs))
    tokens = np.full((b, w.seq_len), PAD, dtype=np.int64)
    target = np.zeros((b, w.seq_len), dtype=bool)
    tokens[:, 0] = BIO
    tokens[:, 1] = w.o_alpha + w.names[people, 0]
    tokens[:, 2] = w.o_alpha + w.names[people, 1]
    vals = np.take_along_axis(w.attrs[people], order, axis=1)
    if w.random_values:
        vals = rng.integers(0, w.n_attr_values, size=vals.shape)
    step, L = 1 + w.value_tokens, w.value_tokens
    tokens[:, 3:w.bio_len:step] = w.o_tmpl + order * w.n_templates + tmpl
    for j in range(L):  # value token j: digit j (most significant first) of the value in base n_values
        digit = (vals // w.n_values ** (L - 1 - j)) % w.n_values
        tokens[:, 4 + j:w.bio_len:step] = w.o_value + digit
        target[:, 3 + j:w.bio_len:step] = True
    return tokens, target


def web_sequences(w: World, keys: np.ndarray, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Web sequences holding the given keys (B, facts_per_web): [WEB, a1, b1, v1, a2, b2, v2, ...].

    With `rng` and `w.random_web` (a diagnostic), every fact's value is a fresh uniform draw: the web then has
    nothing to learn beyond the value tokens' uniform distribution, whatever the model's size."""
    b = keys.shape[0]
    tokens = np.full((b, w.seq_len), PAD, dtype=np.int64)
    target = np.zeros((b, w.seq_len), dtype=bool)
    tokens[:, 0] = WEB
    tokens[:, 1:w.web_len:3] = w.o_alpha + w.keys[keys, 0]
    tokens[:, 2:w.web_len:3] = w.o_alpha + w.keys[keys, 1]
    values = w.key_values[keys]
    if rng is not None and w.random_web:
        values = rng.integers(0, w.n_values, size=values.shape)
    tokens[:, 3:w.web_len:3] = w.o_value + values
    target[:, 2:w.web_len:3] = True
    return tokens, target


def sample_keys(w: World, shape, rng: np.random.Generator) -> np.ndarray:
    """Web keys drawn from the Zipf probabilities."""
    cdf = np.cumsum(w.key_probs)
    return np.minimum(np.searchsorted(cdf, rng.random(shape) * cdf[-1], side="right"), w.n_keys - 1)


def mixed_batch(w: World, ratio: float, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One training batch: each sequence is a biography with probability `ratio` (the mixing ratio r, as a
    fraction of sequences), else a web sequence. People are uniform, so each person has frequency r / n_people."""
    is_bio = rng.random(batch) < ratio
    n_bio = int(is_bio.sum())
    tokens = np.empty((batch, w.seq_len), dtype=np.int64)
    target = np.empty((batch, w.seq_len), dtype=bool)
    if n_bio:
        tokens[is_bio], target[is_bio] = bio_sequences(w, rng.integers(0, w.n_people, n_bio), rng)
    if n_bio < batch:
        tokens[~is_bio], target[~is_bio] = web_sequences(
            w, sample_keys(w, (batch - n_bio, w.facts_per_web), rng), rng)
    return tokens, target


def eval_bio(w: World, renders: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every person rendered `renders` times (fresh order and templates): tokens, target mask, person index."""
    people = np.repeat(np.arange(w.n_people), renders)
    tokens, target = bio_sequences(w, people, rng)
    return tokens, target, people


def eval_web(w: World, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every web key exactly once (keys shuffled into sequences): tokens, target mask, and the key held at
    each target position in reading order (so the loss can be weighted by q_k exactly)."""
    n = w.n_keys
    per = w.facts_per_web
    pad = (-n) % per
    keys = np.concatenate([rng.permutation(n), rng.integers(0, n, pad)]).reshape(-1, per)
    tokens, target = web_sequences(w, keys)
    weight_keys = keys.copy()
    if pad:
        weight_keys.reshape(-1)[n:] = -1  # filler facts carry no weight
    return tokens, target, weight_keys
