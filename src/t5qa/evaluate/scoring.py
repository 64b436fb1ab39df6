"""EM/F1 exactly as the official SQuAD v2.0 evaluation script computes them, its tuned no-answer thresholds, and
ROUGE-L as the `rouge-score` package computes it.

EM/F1, the official rules: lower-case, strip punctuation and the articles a/an/the, collapse spaces; golds that
normalise to nothing are dropped and an unanswerable question has the single gold ""; the score is the max over
golds; an empty prediction against an empty gold scores 1.

ROUGE-L (`rougeL_*`): per pair, what `rouge_score.rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)` gives,
so the numbers sit beside papers that use that package: its tokenizer (lower-case, every run of characters other
than a-z and 0-9 is a separator, no stemming; articles and punctuation are *not* dropped the official way, e.g.
"don't" is the two tokens "don t"), LCS precision = LCS / prediction tokens, recall = LCS / gold tokens, F =
their harmonic mean. Over several golds, the gold with the highest F wins, the first one on a tie (its
`score_multi`, which uses np.argmax). The golds are the question's own (not the official ones: a gold the official
rules drop, such as "the", still counts), or the single gold "" when it has none. Where we still differ:
- both sides without a token (an empty prediction for an unanswerable question): rouge-score gives P = R = F = 0;
  we give 1, as the official EM/F1 do, because an empty answer is the right answer there; scoring it 0 would make
  a perfect model score about the answerable share of the data. Every other pair equals rouge-score's.
- non-ASCII text is not ours to fix: rouge-score's tokenizer drops every letter outside a-z (after lower-case), so
  "café" is the token "caf", "日本" no token at all. We do the same, so a non-ASCII-only prediction and gold have
  no tokens and, by the rule above, score 1 here (0 in rouge-score).
The Webis-CausalQA-22 paper's variant (rouge-score on officially normalised text, empty vs empty = 0) is in
t5qa.evaluate.causalqa_measures.
"""

from __future__ import annotations

import collections
import re
import string

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)
_ROUGE_TOKEN = re.compile(r"[a-z0-9]+")  # rouge_score.tokenize: [^a-z0-9]+ -> " ", split, keep ^[a-z0-9]+$


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


def rouge_tokens(text: str) -> list[str]:
    """rouge-score's default tokenizer without stemming."""
    return _ROUGE_TOKEN.findall(text.lower())


def lcs_length(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l_tokens(
    gold_tokens: list[str], pred_tokens: list[str], both_empty: float = 1.0
) -> tuple[float, float, float]:
    """ROUGE-L precision, recall, F over tokens, in rouge-score's arithmetic; `both_empty` when neither has one."""
    if not gold_tokens or not pred_tokens:
        value = both_empty if gold_tokens == pred_tokens else 0.0
        return value, value, value
    lcs = lcs_length(gold_tokens, pred_tokens)
    precision, recall = lcs / len(pred_tokens), lcs / len(gold_tokens)
    f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f


def rouge_l(gold: str, prediction: str) -> tuple[float, float, float]:
    """ROUGE-L precision, recall, F as rouge-score computes them, except empty vs empty = 1 (module docstring)."""
    return rouge_l_tokens(rouge_tokens(gold), rouge_tokens(prediction))


def score_one(answers: list[str], prediction: str) -> dict[str, float]:
    golds = official_golds(answers)
    rouge = max((rouge_l(g, prediction) for g in answers or [""]), key=lambda prf: prf[2])  # first max, as np.argmax
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


def best_thresholds(
    scores: list[dict[str, float]], has_answer: list[bool], predictions: list[str], na_probs: list[float]
) -> dict[str, float]:
    """The official script's best_exact, best_exact_thresh, best_f1, best_f1_thresh (its find_all_best_thresh).

    `scores` are score_one's raw per-question scores (before any threshold), `predictions` the raw prediction
    texts (the official script tests `if preds[qid]`, so " " counts as an answer), all in reference order.
    """
    best_exact, exact_thresh = _best_thresh([s["exact"] for s in scores], has_answer, predictions, na_probs)
    best_f1, f1_thresh = _best_thresh([s["f1"] for s in scores], has_answer, predictions, na_probs)
    return {
        "best_exact": best_exact,
        "best_exact_thresh": exact_thresh,
        "best_f1": best_f1,
        "best_f1_thresh": f1_thresh,
    }


def _best_thresh(
    raw: list[float], has_answer: list[bool], predictions: list[str], na_probs: list[float]
) -> tuple[float, float]:
    """The official find_best_thresh: answering every question whose na_prob is at most the threshold, the best
    score over thresholds taken from the na_probs (0.0 when none beats answering nothing).

    Tie rule: the official script walks `sorted(na_probs, key=lambda k: na_probs[k])`, a stable sort over the
    qids in its na-prob file's order, so questions with equal na_prob are walked in that file's order. We walk them
    in reference-table order (a stable sort of the reference rows), which is the official result whenever the
    na-prob file lists the questions in reference order. Only inside a tie can the order change the result: the walk
    may peak part-way through a run of equal na_probs, a cut that no threshold can make, and the official script
    reports it all the same (so do we).
    """
    if not raw:
        return 0.0, 0.0
    current = best = sum(1 for h in has_answer if not h)
    threshold = 0.0
    for i in sorted(range(len(raw)), key=lambda i: na_probs[i]):
        # answerable: its raw score; unanswerable: -1 for a (raw, non-empty) answer, 0 for none
        current += raw[i] if has_answer[i] else (-1 if predictions[i] else 0)
        if current > best:
            best, threshold = current, na_probs[i]
    return 100.0 * best / len(raw), threshold
