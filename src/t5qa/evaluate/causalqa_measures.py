"""EM, F1 and ROUGE-L as the Webis-CausalQA-22 paper computes them, to set our runs beside its tables.

Reproduced from finetuning/measures.py of https://github.com/webis-de/coling22-benchmark-for-causal-question-answering
(commit fc72cfd8743d21357a0eff0025fd51e3ec8565a5), which finetuning/evaluate_unifiedqa.py calls with the raw
generated texts and the `answer` column split on tabs. Its rules:
- `preprocess` every prediction and every gold: lower-case, delete string.punctuation, articles a/an/the to a
  space, collapse whitespace (the same normalisation as the official SQuAD script);
- no gold is dropped: a gold that preprocesses to "" (e.g. "the") stays a gold, and an unanswerable question's
  gold list is [""] (what "".split("\\t") gives);
- EM: preprocessed strings equal (so "" vs "" = 1); F1: token-multiset overlap with *no* empty case, so an empty
  prediction against an empty gold scores 0 (the official script: 1; a bug there that we reproduce only here);
- each measure is its max over the golds, then the mean over questions (we scale to 0-100 like the official keys);
- ROUGE-L: rouge-score's RougeScorer(["rougeL"]) (no stemmer) `score_multi` on the preprocessed texts (the gold
  with the best F, the first on a tie), empty vs empty = 0; the paper reports a BootstrapAggregator's "mid" (a
  bootstrap estimate, random), we report the plain mean it estimates.
"""

from __future__ import annotations

import re
import string
from collections import Counter

from t5qa.evaluate.scoring import rouge_l_tokens, rouge_tokens

_PUNCTUATION = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def preprocess(text: str) -> str:
    text = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact(prediction: str, gold: str) -> int:
    """Both already preprocessed."""
    return int(prediction == gold)


def f1(prediction: str, gold: str) -> float:
    """Both already preprocessed; no special case for empty texts: anything against "" scores 0."""
    prediction_tokens, gold_tokens = prediction.split(), gold.split()
    same = sum((Counter(prediction_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(prediction_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def cell_golds(cell: str) -> list[str]:
    """A question's golds as their evaluate_unifiedqa.py reads them: the raw `answer` cell split on tabs, a blank
    piece included ("apple<TAB>" -> ["apple", ""]; an empty cell -> [""], where their script stops on None)."""
    return cell.split("\t")


def score_one(answers: list[str], prediction: str) -> dict[str, float]:
    """One question: its golds ([] for unanswerable, scored as [""]) and the raw prediction."""
    golds = [preprocess(a) for a in answers] or [""]
    prediction = preprocess(prediction)
    pred_tokens = rouge_tokens(prediction)
    rouge = max((rouge_l_tokens(rouge_tokens(g), pred_tokens, both_empty=0.0) for g in golds), key=lambda s: s[2])
    return {
        "exact": max(exact(prediction, g) for g in golds),
        "f1": max(f1(prediction, g) for g in golds),
        "rougeL_precision": rouge[0],
        "rougeL_recall": rouge[1],
        "rougeL_f1": rouge[2],
    }


def aggregate(scores: list[dict[str, float]]) -> dict[str, float]:
    """Means over the questions, 0-100, and the number of questions."""
    keys = ("exact", "f1", "rougeL_precision", "rougeL_recall", "rougeL_f1")
    out = {key: 100.0 * sum(s[key] for s in scores) / len(scores) if scores else 0.0 for key in keys}
    return {**out, "total": len(scores)}
