"""Model inputs and targets: the prompt template, the unanswerable target, batched tokenization."""

from __future__ import annotations

import string
import sys
from typing import Any

import numpy as np
from huggingface_hub.errors import StrictDataclassError
from safetensors import SafetensorError
from transformers import AutoTokenizer

from t5qa.cli import first_line
from t5qa.data.windows import answer_past_cut, context_windows, train_on_window
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


def check_template_without_context(template: str | None) -> None:
    """`tokenize.template_without_context`: None, or a template with {question} and no {context}."""
    if template is None:
        return
    where = f"--settings: template_without_context {template!r}"
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
        render_input(template, "question", "")
    except (ValueError, KeyError, IndexError, AttributeError) as err:
        raise InputError(f"{where} is not a valid template ({err})") from err
    if fields != {"question"}:
        raise InputError(f"{where} must contain {{question}} and no other field (it is used when there is no context)")


def choose_template(template: str, template_without_context: str | None, context: str) -> str:
    """The template of one input: `template_without_context` when the context is empty (or blank) and one is set.
    The Webis-CausalQA-22 scripts feed the question alone when the context cell is empty (`'{question}'`)."""
    if template_without_context is not None and not context.strip():
        return template_without_context
    return template


def target_text(answer_cell: str, unanswerable: str, target: str = "first_gold") -> str:
    """What an answerable question learns: its first gold answer (`first_gold`), or the answer cell as stored
    (`answer_cell`: every gold, tab-separated, as the Webis-CausalQA-22 scripts train on their `answer` column).
    An unanswerable question learns the configured word either way.

    A tab in a target: T5's sentencepiece normaliser (nmt_nfkc) turns whitespace, a tab included, into the word
    boundary, so "a<TAB>b" trains on the same tokens as "a b" (the scratch tokenizer does the same:
    tests/test_features.py).
    """
    golds = split_answers(answer_cell)
    if not golds:
        return unanswerable
    if target == "answer_cell":
        return answer_cell.strip()
    return golds[0]


def prediction_to_answer(prediction: str, unanswerable: str) -> str:
    """Map the unanswerable target back to "" before scoring."""
    return "" if prediction.strip() == unanswerable else prediction.strip()


def render_with_context_span(template: str, question: str, context: str) -> tuple[str, int | None, int | None]:
    """The model input, and where the context lies in it (None, None when the template has no {context})."""
    formatter, pieces = string.Formatter(), []
    start = end = None
    for literal, field, spec, conversion in formatter.parse(template):
        pieces.append(literal)
        if field is None:
            continue
        value = formatter.convert_field(question if field == "question" else context, conversion)
        text = formatter.format_field(value, spec)
        if field == "context" and start is None:
            start = sum(map(len, pieces))
            end = start + len(text)
        pieces.append(text)
    return "".join(pieces), start, end


def make_tokenize_fn(tokenizer, settings: TokenizeSettings, all_windows: bool = True):
    """A batched `datasets.map` function: no padding here (the collator pads per batch).

    An input that fits `max_source_length` is one row, tokenized as it always was. A longer one is cut at the end
    (`long_inputs: truncate`), kept whole (`whole`: max_source_length is ignored) or becomes several rows
    (`windows`, see `context_windows`): every window holds the template and the whole question around an
    overlapping slice of the context. `all_windows` False (training): only the windows worth learning from are kept
    (see `train_on_window`).
    """
    template, unanswerable = settings.template, settings.unanswerable_target
    without_context = settings.template_without_context
    check_template_without_context(without_context)
    max_target_length = settings.max_target_length
    # whole: every input as it is, however long (the Webis-CausalQA-22 evaluation feeds its inputs so)
    max_source_length = sys.maxsize if settings.long_inputs == "whole" else settings.max_source_length
    windows = settings.long_inputs == "windows"
    q_col, c_col = (
        ("question", "context") if settings.text_columns == "raw" else ("question_processed", "context_processed")
    )

    def tokenize(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        n = len(batch[q_col])
        ids_in = batch.get("id") or [str(i) for i in range(n)]
        rendered = [
            render_with_context_span(choose_template(template, without_context, c), q, c)
            for q, c in zip(batch[q_col], batch[c_col])
        ]
        encoded = tokenizer(
            [text for text, _, _ in rendered],
            truncation=False,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
        )
        rows: list[dict[str, Any]] = []
        for i in range(n):
            text, ctx_start, ctx_end = rendered[i]
            ids, offsets = encoded["input_ids"][i], encoded["offset_mapping"][i]
            golds = split_answers(batch["answer"][i])
            question = {
                "source_length": len(ids),
                "input_truncated": len(ids) > max_source_length,
                "answer_past_cut": answer_past_cut(text, ctx_start, ctx_end, golds, offsets, max_source_length),
            }
            if len(ids) <= max_source_length or not windows:
                target = target_text(batch["answer"][i], unanswerable, settings.target)
                kept = ids[: max_source_length - 1] + [tokenizer.eos_token_id] if len(ids) > max_source_length else ids
                pieces = [(kept, target, True)]
                question["answer_truncated"] = question["answer_past_cut"]
            else:
                pieces, visible = context_windows(
                    ids,
                    offsets,
                    encoded["special_tokens_mask"][i],
                    text,
                    ctx_start,
                    ctx_end,
                    golds,
                    unanswerable,
                    max_source_length,
                    settings.overlap,
                    where=f"question {ids_in[i]!r}",
                )
                question["answer_truncated"] = bool(golds) and not visible
                if settings.target == "answer_cell":  # a window that learns an answer learns the whole cell
                    cell = target_text(batch["answer"][i], unanswerable, "answer_cell")
                    pieces = [(ids_, cell if t != unanswerable else t, p) for ids_, t, p in pieces]
            for window, (input_ids, target, primary) in enumerate(pieces):
                if (
                    not all_windows
                    and not primary
                    and not train_on_window(
                        ids_in[i],
                        window,
                        target != unanswerable,
                        question["answer_truncated"],
                        settings.unanswerable_window_share,
                    )
                ):
                    continue
                rows.append(
                    {
                        "index": i,
                        "input_ids": input_ids,
                        "target": target,
                        "window": window,
                        "primary": primary,
                        **question,
                    }
                )
        labels = tokenizer(text_target=[row["target"] for row in rows], truncation=False)["input_ids"]
        out: dict[str, list[Any]] = {key: [] for key in PASSED_THROUGH if key in batch}
        for key in ("input_ids", "attention_mask", "labels", "length", "window", *DIAGNOSTIC_COLUMNS):
            out[key] = []
        for row, label_ids in zip(rows, labels):
            kept_labels = (
                label_ids[: max_target_length - 1] + [tokenizer.eos_token_id]
                if len(label_ids) > max_target_length
                else label_ids
            )
            for key in PASSED_THROUGH:
                if key in batch:
                    out[key].append(batch[key][row["index"]])
            out["input_ids"].append(row["input_ids"])
            out["attention_mask"].append([1] * len(row["input_ids"]))
            out["labels"].append(mask_padding(kept_labels, tokenizer.pad_token_id))
            out["length"].append(len(row["input_ids"]) + len(kept_labels))
            out["target_length"].append(len(label_ids))
            out["target_truncated"].append(len(label_ids) > max_target_length)
            for key in ("window", "primary", "source_length", "input_truncated", "answer_truncated", "answer_past_cut"):
                out[key].append(row[key])
        return out

    return tokenize


# Columns that go with each row of a question into all of its windows.
PASSED_THROUGH = ("id", "source", "answers")
# What the tokenize stats count (per question: its primary row's values), beside what the model reads.
DIAGNOSTIC_COLUMNS = (
    "primary",
    "source_length",
    "target_length",
    "input_truncated",
    "target_truncated",
    "answer_truncated",
    "answer_past_cut",
)


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
