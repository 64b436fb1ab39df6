import pytest

from t5qa.scoring import aggregate, compute_exact, compute_f1, normalize_answer, rouge_l, score_one


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
