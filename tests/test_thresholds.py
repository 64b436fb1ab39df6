"""The tuned no-answer thresholds against a literal transcription of the official SQuAD v2.0 evaluate script."""

import json
import random
import re

import pandas as pd
import pytest

from t5qa import UNIFORM_COLUMNS
from t5qa.errors import InputError
from t5qa.evaluate.metrics import evaluate, load_predictions
from t5qa.evaluate.scoring import best_thresholds, score_one

# --- the official script (evaluate-v2.0.py), its steps transcribed over dicts keyed by qid; kept apart from ours


def official_find_best_thresh(preds, scores, na_probs, qid_to_has_ans):
    num_no_ans = sum(1 for k in qid_to_has_ans if not qid_to_has_ans[k])
    cur_score = num_no_ans
    best_score = cur_score
    best_thresh = 0.0
    qid_list = sorted(na_probs, key=lambda k: na_probs[k])
    for qid in qid_list:
        if qid not in scores:
            continue
        if qid_to_has_ans[qid]:
            diff = scores[qid]
        else:
            if preds[qid]:  # noqa: SIM108 - the official script's shape, kept
                diff = -1
            else:
                diff = 0
        cur_score += diff
        if cur_score > best_score:
            best_score = cur_score
            best_thresh = na_probs[qid]
    return 100.0 * best_score / len(scores), best_thresh


def official_find_all_best_thresh(main_eval, preds, exact_raw, f1_raw, na_probs, qid_to_has_ans):
    best_exact, exact_thresh = official_find_best_thresh(preds, exact_raw, na_probs, qid_to_has_ans)
    best_f1, f1_thresh = official_find_best_thresh(preds, f1_raw, na_probs, qid_to_has_ans)
    main_eval["best_exact"] = best_exact
    main_eval["best_exact_thresh"] = exact_thresh
    main_eval["best_f1"] = best_f1
    main_eval["best_f1_thresh"] = f1_thresh


def official(golds, predictions, na_probs):
    """The official result for questions listed in reference order (so its na-prob file is in that order too)."""
    qids = [f"q{i}" for i in range(len(golds))]
    qid_to_has_ans = {q: bool(g) for q, g in zip(qids, golds)}  # make_qid_to_has_ans: bool(qa['answers'])
    preds = dict(zip(qids, predictions))
    scores = [score_one(g, p) for g, p in zip(golds, predictions)]  # get_raw_scores (tested in test_scoring)
    exact_raw = {q: s["exact"] for q, s in zip(qids, scores)}
    f1_raw = {q: s["f1"] for q, s in zip(qids, scores)}
    out = {}
    official_find_all_best_thresh(out, preds, exact_raw, f1_raw, dict(zip(qids, na_probs)), qid_to_has_ans)
    return out


def ours(golds, predictions, na_probs):
    scores = [score_one(g, p) for g, p in zip(golds, predictions)]
    return best_thresholds(scores, [bool(g) for g in golds], predictions, na_probs)


# --- random cases

WORDS = ["red", "car", "blue", "the", "a", "fast", "Car", "car.", "x"]


def _case(rng: random.Random):
    n = rng.randint(1, 14)
    mode = rng.choice(["mixed", "mixed", "all answerable", "all unanswerable"])
    golds, predictions = [], []
    for _ in range(n):
        answerable = mode == "all answerable" or (mode == "mixed" and rng.random() < 0.5)
        golds.append(
            [" ".join(rng.choices(WORDS, k=rng.randint(1, 3))) for _ in range(rng.randint(1, 2))] if answerable else []
        )
        kind = rng.random()
        if kind < 0.3:
            predictions.append("")
        elif kind < 0.4:
            predictions.append(rng.choice([" ", "the", ".", "a an"]))  # empty once normalised, not raw-empty
        elif kind < 0.6 and golds[-1]:
            predictions.append(rng.choice(golds[-1]))
        else:
            predictions.append(" ".join(rng.choices(WORDS, k=rng.randint(1, 4))))
    grid = rng.choice([[0.0, 1.0], [0.0, 0.25, 0.5, 1.0], None])  # a small grid forces ties
    na_probs = [rng.choice(grid) if grid else rng.random() for _ in range(n)]
    return golds, predictions, na_probs


def test_equals_the_official_script_on_random_cases():
    rng = random.Random(13)
    seen = {"tie": 0, "all answerable": 0, "all unanswerable": 0, "thresh > 0": 0}
    for _ in range(3000):
        golds, predictions, na_probs = _case(rng)
        expected = official(golds, predictions, na_probs)
        assert ours(golds, predictions, na_probs) == expected, (golds, predictions, na_probs)
        seen["tie"] += len(set(na_probs)) < len(na_probs)
        seen["all answerable"] += all(golds)
        seen["all unanswerable"] += not any(golds)
        seen["thresh > 0"] += expected["best_f1_thresh"] > 0
    assert min(seen.values()) > 100, seen


def test_hand_made_cases():
    # nothing beats answering nothing: best = the share of unanswerable questions, threshold 0.0
    assert ours([["x"], []], ["y", "z"], [0.2, 0.1]) == {
        "best_exact": 50.0,
        "best_exact_thresh": 0.0,
        "best_f1": 50.0,
        "best_f1_thresh": 0.0,
    }
    # answering the question with na_prob 0.3 adds its point; the unanswerable one at 0.9 would cost one
    result = ours([["x"], [], ["q"]], ["x", "z", "w"], [0.3, 0.9, 0.6])
    assert (result["best_exact"], result["best_exact_thresh"]) == (pytest.approx(200 / 3), 0.3)
    # an empty prediction of an unanswerable question costs nothing, a raw " " counts as an answer (-1)
    assert ours([[]], [""], [0.5])["best_exact"] == 100.0
    assert ours([[], ["x"]], [" ", "x"], [0.1, 0.2])["best_exact"] == 50.0


def test_tie_rule_is_reference_order():
    """Equal na_probs are walked in reference order; the official script walks its na-prob file's order, and the
    walk can peak inside a tie, so the order matters there (only there)."""
    golds, predictions, na_probs = [["x"], []], ["x", "y"], [0.5, 0.5]
    assert ours(golds, predictions, na_probs)["best_exact"] == 100.0  # +1 then -1: peaks at 2 of 2
    reversed_official = official(golds[::-1], predictions[::-1], na_probs[::-1])
    assert reversed_official["best_exact"] == 50.0  # -1 then +1: never beats the starting 1 of 2
    assert reversed_official == ours(golds[::-1], predictions[::-1], na_probs[::-1])


# --- through the predictions file


def _refs(tmp_path):
    frame = pd.DataFrame(
        [["1", "q", "q", "c", "c", "red car", "red car"], ["2", "q", "q", "c", "c", "", ""]], columns=UNIFORM_COLUMNS
    )
    frame.to_parquet(tmp_path / "v.parquet")
    return [("a", tmp_path / "v.parquet")]


def _write(tmp_path, rows):
    path = tmp_path / "p.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_metrics_gain_the_official_keys_when_every_row_has_na_prob(tmp_path):
    refs = _refs(tmp_path)
    rows = [
        {"id": "2", "prediction": "no", "na_prob": 0.7, "score": -2.5},  # order in the file does not matter
        {"id": "1", "prediction": "red car", "na_prob": 0, "score": 0},
    ]
    result = evaluate(_write(tmp_path, rows), refs)
    assert result["exact"] == 50.0
    assert result["best_exact"] == 100.0 and result["best_exact_thresh"] == 0.0 == result["best_f1_thresh"]
    assert result["best_f1"] == 100.0
    assert type(result["best_exact_thresh"]) is float
    plain = evaluate(_write(tmp_path, [{k: v for k, v in r.items() if k != "na_prob"} for r in rows]), refs)
    assert not {"best_exact", "best_exact_thresh", "best_f1", "best_f1_thresh"} & set(plain)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("true", "line 1: 'na_prob' must be a probability in [0, 1], not True"),
        ('"0.5"', "line 1: 'na_prob' must be a probability in [0, 1], not '0.5'"),
        ("null", "line 1: 'na_prob' must be a probability in [0, 1], not None"),
        ("NaN", "line 1: 'na_prob' must be a probability in [0, 1], not nan"),
        ("1e400", "line 1: 'na_prob' must be a probability in [0, 1], not inf"),
        ("1.5", "line 1: 'na_prob' must be a probability in [0, 1], not 1.5"),
        ("-0.0001", "line 1: 'na_prob' must be a probability in [0, 1], not -0.0001"),
    ],
)
def test_bad_na_prob_names_the_file_and_line(tmp_path, value, message):
    path = _write(tmp_path, ['{"id": "1", "prediction": "", "na_prob": ' + value + "}"])
    with pytest.raises(InputError, match=re.escape(f"{path}: {message}")):
        load_predictions(path)


@pytest.mark.parametrize(
    ("value", "shown"), [("false", "False"), ("[1]", "[1]"), ("-Infinity", "-inf"), ("1" + "0" * 400, "1000")]
)
def test_bad_score_names_the_file_and_line(tmp_path, value, shown):
    path = _write(tmp_path, ['{"id": "0", "prediction": ""}', '{"id": "1", "prediction": "", "score": ' + value + "}"])
    with pytest.raises(InputError, match=re.escape(f"{path}: line 2: 'score' must be a finite number") + ".*" + shown):
        load_predictions(path)


def test_scores_and_probabilities_are_kept_as_floats(tmp_path):
    path = _write(tmp_path, [{"id": "1", "prediction": "", "na_prob": 1, "score": 3}])
    assert load_predictions(path)[0] | {} == {"id": "1", "prediction": "", "na_prob": 1.0, "score": 3.0}


def test_na_prob_on_some_rows_only_names_the_first_line_without_it(tmp_path):
    rows = [
        {"id": "1", "prediction": ""},
        "",
        {"id": "2", "prediction": "", "na_prob": 0.1},
        {"id": "3", "prediction": ""},
    ]
    path = _write(tmp_path, rows)
    with pytest.raises(InputError, match=re.escape(f"{path}: line 1 has no 'na_prob', but line 3 has one")):
        load_predictions(path)
    path = _write(tmp_path, [{"id": "2", "prediction": "", "na_prob": 0.1}, {"id": "1", "prediction": ""}])
    with pytest.raises(InputError, match=re.escape(f"{path}: line 2 has no 'na_prob', but line 1 has one")):
        load_predictions(path)
