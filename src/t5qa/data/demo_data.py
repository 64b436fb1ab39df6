"""The embedded demo: deterministic causal "why" questions whose answers are spans of the context.

Each context holds a few events; some state their cause in one of several wordings, others are
distractors. A question asks why one event happened: the answer is the cause clause, copied from
the context, or "" when the context states no cause (the question names an event stated
without one, or a subject the context never mentions). Half the data is written as official
SQuAD 2.0 JSON, half as a Webis-CausalQA-22 CSV, so the demo exercises both readers in one dataset.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from dataclasses import dataclass

SUBJECTS = [
    "the river",
    "the bridge",
    "the old mill",
    "the village school",
    "the harbor",
    "the factory",
    "the orchestra",
    "the bakery",
    "the museum",
    "the night train",
    "the summer festival",
    "the council",
    "the library",
    "the dairy farm",
    "the hospital",
    "the stadium",
    "the airport",
    "the ferry",
    "the market",
    "the copper mine",
    "the theater",
    "the zoo",
    "the brewery",
    "the post office",
    "the football club",
    "the radio station",
    "the hotel",
    "the vineyard",
    "the shipyard",
    "the observatory",
]
# (past tense as stated in the context, base form as asked in the question)
EVENTS = [
    ("closed", "close"),
    ("flooded", "flood"),
    ("collapsed", "collapse"),
    ("moved", "move"),
    ("expanded", "expand"),
    ("failed", "fail"),
    ("reopened", "reopen"),
    ("grew", "grow"),
    ("stopped", "stop"),
    ("changed", "change"),
    ("lost money", "lose money"),
    ("went quiet", "go quiet"),
    ("hired more staff", "hire more staff"),
    ("raised its prices", "raise its prices"),
    ("cancelled the event", "cancel the event"),
    ("became famous", "become famous"),
]
# Causes are whole clauses, so the answer is always one clause of the context, copied verbatim.
CAUSES = [
    "heavy rain fell for a week",
    "the workers went on strike",
    "the budget was cut",
    "a storm damaged the roof",
    "the only road was blocked",
    "the rent doubled",
    "the owner retired",
    "a new law was passed",
    "the engine overheated",
    "prices rose sharply",
    "a fire broke out in the kitchen",
    "the river froze",
    "the manager resigned",
    "a famous singer praised it",
    "the bank refused a loan",
    "tourists stopped coming",
    "the harvest failed",
    "a rival opened next door",
    "the old pipes burst",
    "the council changed the rules",
    "the power went out",
    "a sponsor paid the debts",
    "the inspectors found a fault",
    "snow covered the hills",
    "the train line closed",
    "demand grew quickly",
    "the contract ended",
    "a flood reached the town",
    "the staff asked for higher wages",
    "a film was shot there",
    "the mayor visited",
    "the lease ran out",
    "wolves were seen nearby",
    "the water turned brown",
    "a festival came to town",
    "the website crashed",
]
FILLERS = [
    "{s} is older than most people think.",
    "Many visitors came to {s} last summer.",
    "{s} appears on the town's oldest map.",
    "People often talk about {s} at dinner.",
    "A new sign was painted outside {s}.",
    "The newspaper printed a photo of {s}.",
]
# How a cause is stated; the answer span is always the cause clause itself.
CAUSAL_PATTERNS = [
    "{S} {v} because {c}.",
    "Because {c}, {s} {v}.",
    "{C}, so {s} {v}.",
    "{S} {v} after {c}.",
    "{S} {v} since {c}.",
]
QUESTION_PATTERNS = [
    "Why did {s} {b}?",
    "What made {s} {b}?",
    "What caused {s} to {b}?",
    "For what reason did {s} {b}?",
]


@dataclass
class Example:
    id: str
    question: str
    context: str
    answers: list[str]  # empty: unanswerable
    answer_starts: list[int]


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


def _make_context(rng: random.Random, subjects_pool: list[str] = SUBJECTS):
    """Sentences plus, for each event, its (subject, event, cause or None).

    Most contexts state one or two causes among distractors (events without a cause, small talk);
    the rest state none, and every question about them is unanswerable.
    """
    n_causal = rng.choices([0, 1, 2], weights=[3, 5, 2])[0]
    n_plain = rng.randint(1, 2)
    subjects = rng.sample(subjects_pool, n_causal + n_plain + 1)
    facts, sentences = [], []
    for i, subject in enumerate(subjects[:-1]):
        event = rng.choice(EVENTS)
        if i < n_causal:
            cause = rng.choice(CAUSES)
            pattern = rng.choice(CAUSAL_PATTERNS)
            sentence = pattern.format(S=_cap(subject), s=subject, v=event[0], c=cause, C=_cap(cause))
        else:
            cause = None
            sentence = f"{_cap(subject)} {event[0]} last year."
        facts.append((subject, event, cause))
        sentences.append(sentence)
    sentences.append(_cap(rng.choice(FILLERS).format(s=subjects[-1])))
    rng.shuffle(sentences)
    return " ".join(sentences), facts


def _question(rng: random.Random, subject: str, event: tuple[str, str]) -> str:
    return _cap(rng.choice(QUESTION_PATTERNS).format(s=subject, b=event[1]))


def _questions_for(rng: random.Random, context: str, facts):
    """One or two (question, answer or None) pairs about one context."""
    causal = [f for f in facts if f[2] is not None]
    if causal:
        chosen = rng.sample(causal, min(len(causal), rng.randint(1, 2)))
        return [(_question(rng, subject, event), cause) for subject, event, cause in chosen]
    # No cause stated: ask about an event the context mentions, or a subject it never mentions.
    subject, event, _ = rng.choice(facts)
    if rng.random() < 0.5:
        subject = rng.choice([x for x in SUBJECTS if x not in context.lower()])
    return [(_question(rng, subject, event), None)]


def _spans(context: str, cause: str | None) -> tuple[list[str], list[int]]:
    if cause is None:
        return [], []
    for text in (cause, _cap(cause)):
        start = context.find(text)
        if start >= 0:
            return [context[start : start + len(text)]], [start]
    raise AssertionError(f"cause {cause!r} not in context")  # the generator is wrong, not the data


def generate(seed: int, n_examples: int, prefix: str) -> list[list[Example]]:
    """Paragraphs of examples (a paragraph shares one context), at least `n_examples` in all."""
    return _paragraphs(random.Random(seed), n_examples, prefix, _make_context)


def _paragraphs(rng: random.Random, n_examples: int, prefix: str, make_context) -> list[list[Example]]:
    """Questions about contexts from `make_context(rng)` -> (context, facts) until there are `n_examples`."""
    paragraphs, total = [], 0
    while total < n_examples:
        context, facts = make_context(rng)
        group = []
        for question, cause in _questions_for(rng, context, facts):
            answers, starts = _spans(context, cause)
            digest = hashlib.sha1(f"{prefix}:{total}".encode()).hexdigest()[:24]
            group.append(Example(digest, question, context, answers, starts))
            total += 1
        paragraphs.append(group)
    return paragraphs


def to_squad_json(paragraphs: list[list[Example]], title: str) -> str:
    data_paragraphs = []
    for group in paragraphs:
        qas = []
        for ex in group:
            qas.append(
                {
                    "question": ex.question,
                    "id": ex.id,
                    "answers": [{"text": t, "answer_start": s} for t, s in zip(ex.answers, ex.answer_starts)],
                    "is_impossible": not ex.answers,
                }
            )
        data_paragraphs.append({"context": group[0].context, "qas": qas})
    root = {"version": "v2.0", "data": [{"title": title, "paragraphs": data_paragraphs}]}
    return json.dumps(root, indent=1, ensure_ascii=False) + "\n"


def to_causalqa_csv(paragraphs: list[list[Example]]) -> str:
    from t5qa.text import process_answers, process_text

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["id", "question", "question_processed", "context", "context_processed", "answer", "answer_processed"]
    )
    for group in paragraphs:
        for ex in group:
            # Like the release, several golds are tab-separated: the clause, and the clause with its connective.
            golds = ex.answers + [f"because {a}" for a in ex.answers if f"because {a}" in ex.context]
            answer = "\t".join(golds)
            writer.writerow(
                [
                    ex.id,
                    ex.question,
                    process_text(ex.question),
                    ex.context,
                    process_text(ex.context),
                    answer,
                    process_answers(answer),
                ]
            )
    return buffer.getvalue()


# The long-context variant: one demo context (its events, causes and distractors) hidden at a random place among
# sentences about nothing the questions ask, so the answer can sit anywhere in a context several windows long while
# the question stays as easy to match as in the demo.
NEUTRAL = [
    "The weather was mild for most of the spring.",
    "Most shops in the high street open at nine.",
    "A narrow lane runs behind the church.",
    "The hills to the north are covered in heather.",
    "Children play in the square on Sunday afternoons.",
    "The bus to the coast leaves twice a day.",
    "An old stone wall marks the edge of the fields.",
    "The local paper comes out every Thursday.",
    "Fishing boats are painted in bright colours.",
    "The clock tower chimes on the hour.",
    "A cycle path follows the canal for several miles.",
    "The nearest city is an hour away by car.",
    "Gardens along the road are full of roses in June.",
    "The town hall has a large hall for concerts.",
    "Cows graze in the meadows by the lake.",
    "The valley is quiet in the early morning.",
    "A small bookshop sells maps of the area.",
    "Visitors often walk along the cliffs at sunset.",
    "The primary road was widened ten years ago.",
    "Most houses in the old quarter have slate roofs.",
    "A weekly quiz is held in the village pub.",
    "The forest path is muddy after the autumn storms.",
    "Swallows nest under the old arches every summer.",
]


def generate_long(seed: int, n_examples: int, prefix: str, fillers: tuple[int, int] = (18, 30)) -> list[list[Example]]:
    """Paragraphs of demo questions whose context is a demo context placed at random among `fillers` neutral
    sentences (answerable or not as in the demo)."""

    def padded_context(rng: random.Random):
        core, facts = _make_context(rng)
        sentences = rng.choices(NEUTRAL, k=rng.randint(*fillers))
        at = rng.randint(0, len(sentences))
        return " ".join([*sentences[:at], core, *sentences[at:]]), facts

    return _paragraphs(random.Random(seed), n_examples, prefix, padded_context)


DEMO_FILES = {
    # file name: (format, seed, examples)
    "squad_train.json": ("squad", 11, 1200),
    "squad_validation.json": ("squad", 12, 500),
    "causalqa_train.csv": ("causalqa", 21, 1200),
    "causalqa_validation.csv": ("causalqa", 22, 500),
}


LONG_DEMO_FILES = {
    # file name: (seed, examples)
    "squad_train.json": (31, 1200),
    "squad_validation.json": (32, 200),
}


def render_demo_files() -> dict[str, str]:
    files = {}
    for name, (kind, seed, n) in DEMO_FILES.items():
        paragraphs = generate(seed, n, prefix=name)
        files[name] = to_squad_json(paragraphs, "demo") if kind == "squad" else to_causalqa_csv(paragraphs)
    return files


def render_long_demo_files() -> dict[str, str]:
    return {
        name: to_squad_json(generate_long(seed, n, prefix=f"long:{name}"), "demo_long")
        for name, (seed, n) in LONG_DEMO_FILES.items()
    }
