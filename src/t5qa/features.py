"""Model inputs and targets: the prompt template, the unanswerable target, batched tokenization."""

from __future__ import annotations

import string
from typing import Any

import numpy as np
from huggingface_hub.errors import StrictDataclassError
from safetensors import SafetensorError
from transformers import AutoTokenizer

from t5qa.cli import first_line
from t5qa.errors import InputError
from t5qa.settings import TokenizeSettings
from t5qa.text import split_answers

TEMPLATE_FIELDS = {"question", "context"}
# Characters T5's sentencepiece vocabulary cannot represent: a template using them silently loses them.
T5_LOST_CHARACTERS = {"\n": "newline (becomes a plain space)", "{": "'{'", "}": "'}'", "<": "'<'"}
# What from_pretrained raises for a folder that is not a model or tokenizer (missing or garbled config, weights or
# vocabulary), or for a hub id that is malformed or not in the cache when offline.
PRETRAINED_ERRORS = (OSError, ValueError, RuntimeError, SafetensorError, StrictDataclassError)


def check_template(template: str) -> list[str]:
    """Raise on unknown fields or a malformed template; return warnings for text T5 cannot see."""
    where = f"--settings: template {template!r}"
    try:
        parsed = list(string.Formatter().parse(template))
        fields = {name for _, name, _, _ in parsed if name is not None}
        unknown = fields - TEMPLATE_FIELDS
        if unknown:
            raise InputError(f"{where}: unknown fields {sorted(unknown)}; use {{question}}, {{context}}")
        if "question" not in fields:
            raise InputError(f"{where} must contain {{question}}")
        # A format spec or conversion can still fail on text (e.g. {question:d}): find out now, not mid-dataset.
        render_input(template, "question", "context")
    except (ValueError, KeyError, IndexError, AttributeError) as err:
        raise InputError(f"{where} is not a valid template ({err})") from err
    literal = "".join(text for text, *_ in parsed)
    return [
        f"input template contains a {what}: T5's vocabulary cannot represent it"
        for char, what in T5_LOST_CHARACTERS.items()
        if char in literal
    ]


def render_input(template: str, question: str, context: str) -> str:
    return template.format(question=question, context=context)


def target_text(answer_cell: str, unanswerable: str) -> str:
    """Train on the first gold answer; an unanswerable question learns the configured word."""
    golds = split_answers(answer_cell)
    return golds[0] if golds else unanswerable


def prediction_to_answer(prediction: str, unanswerable: str) -> str:
    """Map the unanswerable target back to "" before scoring."""
    return "" if prediction.strip() == unanswerable else prediction.strip()


def make_tokenize_fn(tokenizer, settings: TokenizeSettings):
    """A batched `datasets.map` function: no padding here (the collator pads per batch)."""
    template, unanswerable = settings.template, settings.unanswerable_target
    max_source_length, max_target_length = settings.max_source_length, settings.max_target_length
    q_col, c_col = (
        ("question", "context") if settings.text_columns == "raw" else ("question_processed", "context_processed")
    )

    def tokenize(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        inputs = [render_input(template, q, c) for q, c in zip(batch[q_col], batch[c_col])]
        targets = [target_text(a, unanswerable) for a in batch["answer"]]
        encoded = tokenizer(inputs, truncation=False, return_offsets_mapping=True)
        labels = tokenizer(text_target=targets, truncation=False)["input_ids"]
        out = {
            "input_ids": [],
            "attention_mask": [],
            "labels": [],
            "length": [],
            "source_length": [],
            "target_length": [],
            "input_truncated": [],
            "target_truncated": [],
            "answer_truncated": [],
        }
        for text, target, ids, offsets, label_ids in zip(
            inputs, targets, encoded["input_ids"], encoded["offset_mapping"], labels
        ):
            kept = ids[: max_source_length - 1] + [tokenizer.eos_token_id] if len(ids) > max_source_length else ids
            kept_labels = (
                label_ids[: max_target_length - 1] + [tokenizer.eos_token_id]
                if len(label_ids) > max_target_length
                else label_ids
            )
            out["input_ids"].append(kept)
            out["attention_mask"].append([1] * len(kept))
            out["labels"].append(mask_padding(kept_labels, tokenizer.pad_token_id))
            out["length"].append(len(kept) + len(kept_labels))
            out["source_length"].append(len(ids))
            out["target_length"].append(len(label_ids))
            out["input_truncated"].append(len(ids) > max_source_length)
            out["target_truncated"].append(len(label_ids) > max_target_length)
            out["answer_truncated"].append(_answer_cut_off(text, target, offsets, len(kept) - 1, unanswerable))
        return out

    return tokenize


def _answer_cut_off(text: str, target: str, offsets, n_kept_tokens: int, unanswerable: str) -> bool:
    """True when the answer span lies (partly) beyond the truncated input: the model cannot see it."""
    if target == unanswerable or n_kept_tokens >= len(offsets) - 1:
        return False
    start = text.rfind(target)
    if start < 0:
        return False  # abstractive answer: nothing to cut off
    visible_chars = offsets[n_kept_tokens - 1][1] if n_kept_tokens > 0 else 0
    return start + len(target) > visible_chars


def mask_padding(label_ids: list[int], pad_token_id: int) -> list[int]:
    """The loss ignores label positions equal to -100."""
    return [-100 if t == pad_token_id else t for t in label_ids]


def length_stats(values) -> dict[str, float]:
    values = np.asarray(values)
    if values.size == 0:
        return {}
    pct = np.percentile(values, [50, 90, 95, 99])
    return {
        "mean": round(float(values.mean()), 2),
        "p50": float(pct[0]),
        "p90": float(pct[1]),
        "p95": float(pct[2]),
        "p99": float(pct[3]),
        "max": int(values.max()),
    }


def load_tokenizer(name: str):
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
    except PRETRAINED_ERRORS as err:
        raise InputError(f"{name}: not a tokenizer folder or a cached hub tokenizer ({first_line(err)})") from err
    if tokenizer.eos_token_id is None:
        raise InputError(f"{name}: the tokenizer has no end-of-sequence token, which T5 targets end with")
    return tokenizer
