import random
import re
import string
from collections import Counter

import pytest
from rouge_score import rouge_scorer

from t5qa.evaluate import causalqa_measures
from t5qa.evaluate.scoring import aggregate, compute_exact, compute_f1, normalize_answer, rouge_l, score_one


def test_normalization_follows_the_official_script():
    assert normalize_answer("The  Cat's, a  HAT!") == "cats hat"
    assert normalize_answer("an apple") == "apple"


def test_empty_prediction_against_unanswerable_scores_one():
    # The official script gives 1 here; CausalQA's measures.py gives 0, which is a bug there.
    assert score_one([], "")["exact"] == 1
    assert score_one([], "")["f1"] == 1.0
    assert score_one([], "something")["f1"] == 0.0
    assert score_one(["x"], "")["exact"] == 0


def test_golds_that_normalize_to_nothing_count_as_unanswerable():
    assert score_one(["the", "."], "")["exact"] == 1


def test_max_over_golds():
    scores = score_one(["red car", "a fast red car"], "fast red car")
    assert scores["exact"] == 1
    assert scores["f1"] == pytest.approx(1.0)
    assert compute_f1("red car", "fast red car") == pytest.approx(0.8)


def test_articles_and_punctuation_do_not_matter():
    assert compute_exact("The Eiffel Tower.", "eiffel tower") == 1


def test_rouge_l_is_lcs_based():
    precision, recall, f1 = rouge_l("w x y z", "x z q")
    assert (precision, recall) == pytest.approx((2 / 3, 2 / 4))
    assert f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))


def test_aggregate_uses_the_official_keys_and_scale():
    scores = [score_one(["x"], "x"), score_one([], ""), score_one(["y"], "z")]
    result = aggregate(scores, [True, False, True])
    assert result["exact"] == pytest.approx(200 / 3)
    assert (result["HasAns_total"], result["NoAns_total"], result["total"]) == (2, 1, 3)
    assert result["HasAns_exact"] == 50.0 and result["NoAns_exact"] == 100.0


def test_rouge_l_keeps_articles_as_rouge_score_does():
    # Changed on purpose: ROUGE-L now tokenises as rouge-score does (tests/test_rouge.py), not the official way.
    assert rouge_l("the cat", "cat") == (1.0, 0.5, pytest.approx(2 / 3))


# --- the Webis-CausalQA-22 paper's measures.py (t5qa.evaluate.causalqa_measures)


def _their_measures(predictions, ground_truths):
    """finetuning/measures.py of webis-de/coling22-benchmark-for-causal-question-answering, transcribed: all_metrics'
    per-sample values (its rouge-score call included)."""

    def preprocess(str_):
        str_ = str_.lower()
        str_ = str_.translate(str.maketrans("", "", string.punctuation))
        str_ = re.sub(r"\b(a|an|the)\b", " ", str_)
        return " ".join(str_.split())

    def _f1(pred, ground_truth):
        prediction_tokens, ground_truth_tokens = pred.split(), ground_truth.split()
        common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
        num_same = sum(common.values())
        if num_same == 0:
            return 0
        precision = 1.0 * num_same / len(prediction_tokens)
        recall = 1.0 * num_same / len(ground_truth_tokens)
        return (2 * precision * recall) / (precision + recall)

    def _em(pred, ground_truth):
        return int(pred == ground_truth)

    predictions = [preprocess(pred) for pred in predictions]
    ground_truths = [[preprocess(gt) for gt in gts] for gts in ground_truths]
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    samples = []
    for pred, gts in zip(predictions, ground_truths):
        rouge = scorer.score_multi(gts, pred)["rougeL"]
        samples.append(
            {
                "exact": max(_em(pred, answer) for answer in gts),
                "f1": max(_f1(pred, answer) for answer in gts),
                "rougeL_precision": rouge.precision,
                "rougeL_recall": rouge.recall,
                "rougeL_f1": rouge.fmeasure,
            }
        )
    return samples


def test_causalqa_measures_equal_their_script_on_random_cases():
    rng = random.Random(7)
    words = ["The", "a", "cat", "cat's", "red", "car", "an", "!", "U.S.", "x", "café", ""]
    for _ in range(3000):
        answers = [" ".join(rng.choices(words, k=rng.randint(1, 3))) for _ in range(rng.randint(0, 3))]
        prediction = rng.choice(["", " ".join(rng.choices(words, k=rng.randint(1, 4)))])
        expected = _their_measures([prediction], [answers or [""]])[0]  # "".split("\t") == [""]
        assert causalqa_measures.score_one(answers, prediction) == pytest.approx(expected, abs=1e-12, rel=0)
        assert causalqa_measures.preprocess(prediction) == normalize_answer(prediction)


def test_causalqa_measures_differ_from_the_official_script_where_documented():
    ours = causalqa_measures.score_one
    # an unanswerable question answered with nothing: EM 1 in both, F1 0 there (1 officially), ROUGE-L 0 there
    assert ours([], "") == {"exact": 1, "f1": 0.0, "rougeL_precision": 0.0, "rougeL_recall": 0.0, "rougeL_f1": 0.0}
    assert (score_one([], "")["exact"], score_one([], "")["f1"]) == (1, 1.0)
    # a gold that normalises to nothing is kept there (dropped officially): "" matches it
    assert ours(["the", "cat"], "")["exact"] == 1 and score_one(["the", "cat"], "")["exact"] == 0
    assert ours(["a"], "")["f1"] == 0.0 and score_one(["a"], "")["f1"] == 1.0
    # elsewhere the same normalisation and overlap F1
    assert ours(["The red car!"], "red car") == pytest.approx({**ours(["red car"], "red car")})
    assert ours(["red car"], "fast red car")["f1"] == pytest.approx(compute_f1("red car", "fast red car"))
    # ROUGE-L on the preprocessed text: articles and apostrophes are gone before rouge-score tokenises
    assert ours(["the cat's hat"], "cats hat")["rougeL_f1"] == 1.0 and rouge_l("the cat's hat", "cats hat")[2] < 1


def test_causalqa_aggregate_is_a_0_to_100_mean():
    rows = [causalqa_measures.score_one(["x"], "x"), causalqa_measures.score_one([], "")]
    assert causalqa_measures.aggregate(rows) == {
        "exact": 100.0,
        "f1": 50.0,
        "rougeL_precision": 50.0,
        "rougeL_recall": 50.0,
        "rougeL_f1": 50.0,
        "total": 2,
    }
