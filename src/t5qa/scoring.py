"""EM/F1 exactly as the official SQuAD v2.0 evaluation script computes them, plus ROUGE-L.

The official rules: lower-case, strip punctuation and the articles a/an/the, collapse spaces; golds
that normalise to nothing are dropped and an unanswerable question has the single gold "";
the score is the max over golds; an empty prediction against an empty gold scores 1.
"""

from __future__ import annotations

import collections
import re
import string

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def get_tokens(text: str) -> list[str]:
    return normalize_answer(text).split() if text else []


def compute_exact(gold: str, prediction: str) -> int:
    return int(normalize_answer(gold) == normalize_answer(prediction))


def compute_f1(gold: str, prediction: str) -> float:
    gold_tokens, pred_tokens = get_tokens(gold), get_tokens(prediction)
    if not gold_tokens or not pred_tokens:
        return float(gold_tokens == pred_tokens)  # empty vs empty = 1, else 0
    common = collections.Counter(gold_tokens) & collections.Counter(pred_tokens)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(pred_tokens), overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def official_golds(answers: list[str]) -> list[str]:
    golds = [a for a in answers if normalize_answer(a)]
    return golds or [""]


def rouge_l(gold: str, prediction: str) -> tuple[float, float, float]:
    """ROUGE-L precision, recall, F1 over the official normalised tokens (empty vs empty = 1)."""
    gold_tokens, pred_tokens = get_tokens(gold), get_tokens(prediction)
    if not gold_tokens or not pred_tokens:
        same = float(gold_tokens == pred_tokens)
        return same, same, same
    previous = [0] * (len(pred_tokens) + 1)
    for g in gold_tokens:
        current = [0]
        for j, p in enumerate(pred_tokens):
            current.append(previous[j] + 1 if g == p else max(previous[j + 1], current[j]))
        previous = current
    lcs = previous[-1]
    if lcs == 0:
        return 0.0, 0.0, 0.0
    precision, recall = lcs / len(pred_tokens), lcs / len(gold_tokens)
    return precision, recall, 2 * precision * recall / (precision + recall)


def score_one(answers: list[str], prediction: str) -> dict[str, float]:
    golds = official_golds(answers)
    rouge = max((rouge_l(g, prediction) for g in golds), key=lambda prf: prf[2])
    return {
        "exact": max(compute_exact(g, prediction) for g in golds),
        "f1": max(compute_f1(g, prediction) for g in golds),
        "rougeL_precision": rouge[0],
        "rougeL_recall": rouge[1],
        "rougeL_f1": rouge[2],
    }


def aggregate(scores: list[dict[str, float]], has_answer: list[bool]) -> dict[str, float]:
    """The official script's keys and 0-100 scale, plus ROUGE-L."""

    def block(prefix: str, rows: list[dict[str, float]]) -> dict[str, float]:
        total = len(rows)
        out = {
            f"{prefix}exact": 100.0 * sum(r["exact"] for r in rows) / total,
            f"{prefix}f1": 100.0 * sum(r["f1"] for r in rows) / total,
            f"{prefix}total": total,
        }
        return out

    result = block("", scores) if scores else {"exact": 0.0, "f1": 0.0, "total": 0}
    has = [s for s, h in zip(scores, has_answer) if h]
    no = [s for s, h in zip(scores, has_answer) if not h]
    if has:
        result.update(block("HasAns_", has))
    if no:
        result.update(block("NoAns_", no))
    for key in ("rougeL_precision", "rougeL_recall", "rougeL_f1"):
        result[key] = 100.0 * sum(s[key] for s in scores) / len(scores) if scores else 0.0
    return result
