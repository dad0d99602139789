"""A world of single skills and the questions that compose them, for the `trained` experiment [ours].

A skill is a lookup table: skill i maps each of P values to another (a random permutation, drawn from the seed),
so knowing a skill means having memorised its P facts. A one-skill question names a skill and a value, e.g.
`Bc=` with answer `h.`. A question that needs k skills names k different skills and a value, `BDc=`: apply B to
c, then D to the result. With written steps (`cot`, the default, as the paper's models answer MATH^2 with a chain
of thought) the answer restates each later step as a one-skill question, `h,Dh=m.`, so every step is the same
lookup as a one-skill question; without them (`cot=False`) the answer is the last value alone, `m.`.

Ordered pairs of distinct skills are split: a fraction `train_pairs` is seen composed in training, the rest are
held out and form the two-skill test (the MATH^2 analogue: new combinations of known skills). Three-skill
chains are split the same way. One character is one token; `#` pads and `.` ends an answer.

A model's knowledge is set by `coverage`: the fraction of each skill's facts that training shows (the same number
for every skill, which ones drawn from the seed, a larger coverage showing a superset of a smaller one's); composed
training questions use only chains whose every step is a shown fact, so a fact left out is never seen in any form.
The tests ask about every fact. So that a model that knows few facts still sees as many composed answers (the format
of composing is practised equally at every coverage), `n_practice` further skills are always fully shown and every
pair and triple of them is trained composed; they are never tested.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sims.engine import validate
from sims.engine.lm.model import TinyLM
from sims.engine.lm.tokenizer import CharTokenizer
from sims.engine.nets import CausalTransformer
from sims.engine.seeding import rng
from sims.engine.torch_layer import seeded

VALUES = "abcdefghijklmnopqrstuvwxyz"
SKILLS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
PAD, END = "#", "."

Question = tuple[tuple[int, ...], int]  # (the chain of skills, applied left to right; the input value)


@dataclass(frozen=True)
class WorldSpec:
    """n_values P (at most 26); n_skills K, the tested skills; n_practice: skills that are always fully shown and
    only practise composing (K + n_practice at most 36); train_pairs: fraction of the ordered pairs of distinct
    skills seen composed in training; n_triples: ordered triples of distinct skills drawn, half seen composed in
    training and half held out; cot: answers write every step (else only the final value); coverage: fraction of
    each skill's facts shown in training (at least one); seed: the tables, the splits and the order in which each
    skill's facts are shown as coverage grows (the tables and splits do not depend on coverage)."""

    n_values: int = 16
    n_skills: int = 24
    n_practice: int = 4
    train_pairs: float = 0.5
    n_triples: int = 200
    cot: bool = True
    coverage: float = 1.0
    seed: int = 0

    def validate(self) -> None:
        validate.positive_int("n_values", self.n_values, 2)
        if self.n_values > len(VALUES):
            raise validate.ConfigError(f"n_values must be at most {len(VALUES)}; got {self.n_values}.")
        validate.positive_int("n_skills", self.n_skills, 3)
        validate.positive_int("n_practice", self.n_practice, 0)
        if self.n_skills + self.n_practice > len(SKILLS):
            raise validate.ConfigError(f"n_skills + n_practice must be at most {len(SKILLS)}; got "
                                       f"{self.n_skills} + {self.n_practice}.")
        validate.probability("train_pairs", self.train_pairs, open_low=True, open_high=True)
        validate.positive_int("n_triples", self.n_triples, 2)
        k = self.n_skills
        if self.n_triples > k * (k - 1) * (k - 2):
            raise validate.ConfigError(f"n_triples must be at most the {k * (k - 1) * (k - 2)} ordered triples of "
                                       f"{k} skills; got {self.n_triples}.")
        validate.probability("coverage", self.coverage, open_low=True)
        validate.seed("seed", self.seed)


class SkillWorld:
    """The tables, the splits and the text of every question (see the module docstring)."""

    def __init__(self, spec: WorldSpec):
        spec.validate()
        self.spec = spec
        p, k = spec.n_values, spec.n_skills
        self.values, self.skills = VALUES[:p], SKILLS[:k + spec.n_practice]
        self.tokenizer = CharTokenizer(sorted(set(PAD + END + "=," + self.values + self.skills)))
        gen = rng(spec.seed, "skills", "world")
        self.table = np.stack([gen.permutation(p) for _ in range(k)])
        extra = rng(spec.seed, "skills", "practice")  # its own stream: the tested world does not depend on it
        practice_tables = [extra.permutation(p) for _ in range(spec.n_practice)]
        self.table = np.concatenate([self.table, np.array(practice_tables, dtype=self.table.dtype).reshape(-1, p)])
        practice = range(k, k + spec.n_practice)
        self.practice_chains = ([(i, j) for i in practice for j in practice if i != j]
                                + [(i, j, m) for i in practice for j in practice for m in practice
                                   if len({i, j, m}) == 3])
        pairs = [(i, j) for i in range(k) for j in range(k) if i != j]
        order = gen.permutation(len(pairs))
        cut = int(round(spec.train_pairs * len(pairs)))
        self.train_pairs = [pairs[i] for i in order[:cut]]
        self.test_pairs = [pairs[i] for i in order[cut:]]
        if not self.train_pairs or not self.test_pairs:
            raise validate.ConfigError(f"train_pairs={spec.train_pairs} leaves no pair on one side of the split "
                                       f"of {len(pairs)} pairs.")
        triples: list[tuple[int, ...]] = []
        seen: set[tuple[int, ...]] = set()
        while len(triples) < spec.n_triples:
            t = tuple(int(v) for v in gen.choice(k, 3, replace=False))
            if t not in seen:
                seen.add(t)
                triples.append(t)
        half = spec.n_triples // 2
        self.train_triples, self.test_triples = triples[:half], triples[half:]
        shown = max(1, int(round(spec.coverage * p)))
        pick = rng(spec.seed, "skills", "shown")  # one order per skill: a larger coverage shows a superset
        self.shown = np.ones((k + spec.n_practice, p), dtype=bool)
        for i in range(k):
            self.shown[i] = False
            self.shown[i, pick.permutation(p)[:shown]] = True

    @property
    def pad_id(self) -> int:
        return self.tokenizer.encode(PAD)[0]

    @property
    def end_id(self) -> int:
        return self.tokenizer.encode(END)[0]

    def steps(self, question: Question) -> list[int]:
        """The value after each skill of the chain."""
        chain, x = question
        out = []
        for i in chain:
            x = int(self.table[i, x])
            out.append(x)
        return out

    def prompt(self, question: Question) -> str:
        chain, x = question
        return "".join(self.skills[i] for i in chain) + self.values[x] + "="

    def answer(self, question: Question) -> str:
        """The answer without the end mark: every step restated (cot) or the last value alone."""
        chain, _ = question
        vals = self.steps(question)
        if not self.spec.cot:
            return self.values[vals[-1]]
        parts = [self.values[vals[0]]]
        for n in range(1, len(chain)):
            parts.append(self.skills[chain[n]] + self.values[vals[n - 1]] + "=" + self.values[vals[n]])
        return ",".join(parts)

    def example(self, question: Question) -> tuple[list[int], list[int]]:
        """(prompt ids, answer ids with the end mark): one training pair."""
        return self.tokenizer.encode(self.prompt(question)), self.tokenizer.encode(self.answer(question) + END)

    def known(self, question: Question) -> bool:
        """Whether training shows every step of the question."""
        chain, x = question
        inputs = [x] + self.steps(question)[:-1]
        return all(self.shown[i, v] for i, v in zip(chain, inputs))

    def singles(self) -> list[Question]:
        """Every one-skill question of the tested skills: all K x P facts, skill-major."""
        return [((i,), x) for i in range(self.spec.n_skills) for x in range(self.spec.n_values)]

    def composed(self, chains: list[tuple[int, ...]]) -> list[Question]:
        """Every input value for every chain."""
        return [(c, x) for c in chains for x in range(self.spec.n_values)]

    def sample(self, questions: list[Question], n: int, stream: str) -> list[Question]:
        """At most n of the questions, drawn without replacement from (seed, stream), in a fixed order."""
        if len(questions) <= n:
            return list(questions)
        idx = np.sort(rng(self.spec.seed, "skills", "sample", stream).choice(len(questions), n, replace=False))
        return [questions[i] for i in idx]

    def training_set(self) -> list[tuple[list[int], list[int]]]:
        """The shown one-skill facts (practice skills included) repeated until they are at least as many as the
        composed questions (those of the training pairs and triples whose every step is shown, and every practice
        chain), so facts and composition get about equal weight; then those composed questions."""
        composed = [q for q in self.composed(self.train_pairs) + self.composed(self.train_triples) if self.known(q)]
        composed += self.composed(self.practice_chains)
        k, p = self.spec.n_skills, self.spec.n_values
        practice = [((i,), x) for i in range(k, k + self.spec.n_practice) for x in range(p)]
        singles = [q for q in self.singles() if self.known(q)] + practice
        repeat = max(1, -(-len(composed) // len(singles)))
        return [self.example(q) for q in singles * repeat + composed]

    def max_len(self) -> int:
        """Positions a three-skill question and its answer need."""
        longest = ((0, 1, 2), 0)
        return len(self.prompt(longest)) + len(self.answer(longest)) + 2

    def new_model(self, d_model: int, n_layers: int, n_heads: int, seed: int, tag: str) -> TinyLM:
        """A freshly initialised tiny Transformer for this world, seeded by (seed, tag)."""
        with seeded(seed, "skills", "init", tag):
            net = CausalTransformer(self.tokenizer.vocab_size, d_model, n_layers, n_heads, self.max_len())
        lm = TinyLM(net, self.tokenizer, name=f"skills-{tag}")
        lm.eos_ids = (self.end_id,)
        lm.pad_id = self.pad_id
        return lm
