"""Text cleaning for the `*_processed` columns (the Webis-CausalQA-22 convention)."""

from __future__ import annotations

import html
import re

from t5qa import ANSWER_SEPARATOR

# An HTML tag: '<' then a tag name (or '/', '!' for a closing tag, comment or doctype), up to the next '>'. Only what
# is shaped like a tag goes: "x < y and z > w" and citation markers such as "<1>" are text and stay (issue 21: a
# bare "<[^>]*>" deleted them; the Webis-CausalQA-22 processed columns keep them).
_TAG = re.compile(r"<(?:[A-Za-z][A-Za-z0-9:-]*|/[A-Za-z][A-Za-z0-9:-]*|!)[^<>]*>")
# Every Unicode whitespace, a non-breaking space included, becomes one plain space (docs/causalqa.md: the release
# keeps U+00A0; T5's tokenizer and both scorers read it as a space anyway, so this changes no token and no score).
_SPACE = re.compile(r"\s+")


def process_text(text: str) -> str:
    """Lower-case, strip HTML tags (only tag-shaped spans) and entities, collapse whitespace."""
    text = _TAG.sub(" ", text)
    text = html.unescape(text)
    return _SPACE.sub(" ", text).strip().lower()


def clean_answer(text: str) -> str:
    """A single gold answer: tabs are our answer separator, so none may survive inside one answer."""
    return text.replace(ANSWER_SEPARATOR, " ").strip()


def join_answers(answers: list[str]) -> str:
    """Several golds in one cell, order kept, duplicates and empties dropped."""
    seen: dict[str, None] = {}
    for answer in answers:
        answer = clean_answer(answer)
        if answer:
            seen.setdefault(answer, None)
    return ANSWER_SEPARATOR.join(seen)


def split_answers(cell: str) -> list[str]:
    return [a for a in cell.split(ANSWER_SEPARATOR) if a.strip()]


def process_answers(cell: str) -> str:
    """Each gold processed; a gold that is nothing but markup ("<br>") leaves no empty gold behind."""
    processed = (process_text(a) for a in split_answers(cell))
    return ANSWER_SEPARATOR.join(p for p in processed if p)


def gold_answers(answer: str, answer_processed: str) -> list[str]:
    """The golds a question is scored against: the raw ones; a release whose processed column lists more golds
    (CausalQA) contributes those."""
    raw, processed = split_answers(answer), split_answers(answer_processed)
    return raw if len(raw) >= len(processed) else processed
