"""Our ROUGE-L against the `rouge-score` package (RougeScorer(["rougeL"], use_stemmer=False)) the papers use."""

import random

import pytest
from rouge_score import rouge_scorer

from t5qa.data.demo_data import generate
from t5qa.evaluate.scoring import rouge_l, rouge_tokens, score_one

SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
TOLERANCE = 1e-12

PIECES = [
    "the", "a", "an", "The", "AN", "cat", "Cat", "CAT", "dog", "red", "car", "42", "4.2", "x1", "don't",
    "co-op", "U.S.", ",", ".", "!", "?", "'", '"', "(", ")", "-", "_", "--", "...",
    "café", "Ünïcode", "naïve", "日本", "東京", "straße", "İstanbul", "\u212a", "ﬁne", "\u00a0", "Ω",
]  # fmt: skip
SEPARATORS = [" ", " ", " ", "", "\t", "\n", "  "]


def _text(rng: random.Random) -> str:
    if rng.random() < 0.1:
        return rng.choice(["", " ", "...", "日本"])
    return "".join(rng.choice(PIECES) + rng.choice(SEPARATORS) for _ in range(rng.randint(1, 9)))


def _theirs(gold: str, prediction: str) -> tuple[float, float, float]:
    score = SCORER.score(gold, prediction)["rougeL"]
    return score.precision, score.recall, score.fmeasure


def _check_pair(gold: str, prediction: str) -> bool:
    """Equal to rouge-score, except both without a token (1 here, 0 there); returns whether that was the case."""
    ours, theirs = rouge_l(gold, prediction), _theirs(gold, prediction)
    if not rouge_tokens(gold) and not rouge_tokens(prediction):
        assert (ours, theirs) == ((1.0, 1.0, 1.0), (0, 0, 0)), (gold, prediction)
        return True
    assert ours == pytest.approx(theirs, abs=TOLERANCE, rel=0), (gold, prediction, ours, theirs)
    return False


def test_tokenizer_is_rouge_scores():
    from rouge_score import tokenize

    rng = random.Random(1)
    for _ in range(3000):
        text = _text(rng)
        assert rouge_tokens(text) == tokenize.tokenize(text, None), text


def test_random_pairs_equal_rouge_score():
    rng = random.Random(2)
    both_empty = sum(_check_pair(_text(rng), _text(rng)) for _ in range(5000))
    assert 50 < both_empty < 1000  # the documented difference was exercised, and is not all there is


def test_random_gold_lists_equal_score_multi():
    rng = random.Random(3)
    for _ in range(3000):
        golds = [_text(rng) for _ in range(rng.randint(0, 3))]
        prediction = _text(rng)
        ours = score_one(golds, prediction)
        ours = (ours["rougeL_precision"], ours["rougeL_recall"], ours["rougeL_f1"])
        theirs = SCORER.score_multi(golds or [""], prediction)["rougeL"]
        if rouge_tokens(prediction):  # no pair can be empty vs empty: rouge-score's number, gold picked the same way
            assert ours == pytest.approx(tuple(theirs), abs=TOLERANCE, rel=0), (golds, prediction)
        else:  # an empty prediction: 1 when a gold is empty too, else 0; rouge-score gives 0 either way
            expected = float(any(not rouge_tokens(g) for g in golds or [""]))
            assert ours == (expected,) * 3 and tuple(theirs) == (0, 0, 0)


def _demo_pairs():
    """Golds and plausible predictions from the demo generator: spans, sentences, contexts, questions, others."""
    examples = [e for seed in (31, 32) for paragraph in generate(seed, 400, f"rouge{seed}") for e in paragraph]
    rng = random.Random(4)
    for example in examples:
        gold = example.answers[0] if example.answers else ""
        other = rng.choice(examples)
        sentences = example.context.split(". ")
        words = gold.split()
        for prediction in (
            gold,
            gold.upper() + ".",
            " ".join(words[: len(words) // 2]),
            " ".join(words[len(words) // 2 :] + words[: len(words) // 2]),
            rng.choice(sentences),
            example.context,
            example.question,
            other.answers[0] if other.answers else "",
            "",
        ):
            yield gold, prediction
            yield other.context, prediction


def test_demo_pairs_equal_rouge_score():
    pairs = list(_demo_pairs())
    assert len(pairs) > 10000
    both_empty = sum(_check_pair(gold, prediction) for gold, prediction in pairs)
    assert both_empty > 0


def test_documented_differences_and_definition():
    # empty vs empty: rouge-score 0, we 1 (an unanswerable question answered with nothing is right)
    assert rouge_l("", "") == (1.0, 1.0, 1.0) and _theirs("", "") == (0, 0, 0)
    assert score_one([], "")["rougeL_f1"] == 1.0
    assert rouge_l("", "...") == (1.0, 1.0, 1.0)  # no token on either side, punctuation only
    assert rouge_l("", "cat") == rouge_l("cat", "") == (0.0, 0.0, 0.0) == _theirs("", "cat")
    # non-ASCII letters are separators, as in rouge-score: "café" is "caf", "日本" no token at all
    assert rouge_tokens("Café 日本 naïve") == ["caf", "na", "ve"]
    assert rouge_l("café", "caf") == (1.0, 1.0, 1.0) == _theirs("café", "caf")
    assert rouge_l("日本", "東京") == (1.0, 1.0, 1.0) and _theirs("日本", "東京") == (0, 0, 0)
    # unlike the official EM/F1 normalisation, articles and apostrophes stay tokens
    assert rouge_l("the cat", "cat") == (1.0, 0.5, pytest.approx(2 / 3))
    assert rouge_tokens("Don't") == ["don", "t"]
    # several golds: the best F wins, the first on a tie (both golds below give F = 2/3, with P, R swapped)
    for golds, precision in ((["x", "x q z w"], 0.5), (["x q z w", "x"], 1.0)):
        scores = score_one(golds, "x q")
        assert (scores["rougeL_precision"], scores["rougeL_f1"]) == (precision, pytest.approx(2 / 3))
        assert SCORER.score_multi(golds, "x q")["rougeL"].precision == precision
