"""Scores of generated answers, the no-answer probability, and the choice of a question's answer over windows."""

import math

import pytest
import torch
from transformers import AutoTokenizer

from t5qa.model.answering import Generated, choose_answer, generate_batch, sequence_scores
from t5qa.model.scratch_model import build_model
from t5qa.settings import PredictSettings

NA = "unanswerable"


def g(text: str, score: float, na_prob: float) -> Generated:
    return Generated(text, score, math.log(na_prob))


def test_one_window_keeps_its_answer_and_probabilities():
    answer = choose_answer([g(" the storm ", -0.5, 0.2)], NA)
    assert (answer.prediction, answer.generated, answer.score, answer.window) == ("the storm", "the storm", -0.5, 0)
    assert answer.na_prob == pytest.approx(0.2)


def test_an_answer_beats_windows_that_say_unanswerable_whatever_their_scores():
    answer = choose_answer([g(NA, -0.01, 0.99), g("the storm", -3.0, 0.1), g(NA, -0.02, 0.98)], NA)
    assert answer.prediction == "the storm" and answer.window == 1
    assert answer.na_prob == pytest.approx(0.1)  # the most answerable window's


def test_the_best_scoring_answer_wins_and_a_tie_goes_to_the_earlier_window():
    windows = [g("the rain", -2.0, 0.3), g("the storm", -1.0, 0.4), g("the flood", -1.0, 0.2)]
    assert choose_answer(windows, NA).prediction == "the storm"
    assert choose_answer(windows, NA).na_prob == pytest.approx(0.2)


def test_no_answer_when_every_window_says_unanswerable():
    answer = choose_answer([g(NA, -0.3, 0.7), g(NA, -0.1, 0.9)], NA)
    assert answer.prediction == "" and answer.generated == NA and answer.window == 1
    assert answer.na_prob == pytest.approx(0.7)


def test_a_threshold_blanks_answers_above_it_only():
    windows = [g("the storm", -1.0, 0.6)]
    assert choose_answer(windows, NA, na_threshold=0.5).prediction == ""
    assert choose_answer(windows, NA, na_threshold=0.6).prediction == "the storm"  # above, not at: the official rule
    assert choose_answer(windows, NA, na_threshold=None).prediction == "the storm"


def test_sequence_scores_stop_at_each_sequences_end_token():
    eos = 1
    sequences = torch.tensor([[0, 5, eos, 0, 0], [0, 5, 6, 7, 8], [0, eos, 0, 0, 0]])
    steps = torch.tensor([[-1.0, -2.0, -4.0, -8.0]] * 3)
    assert sequence_scores(sequences, steps, eos).tolist() == [-3.0, -15.0, -1.0]


@pytest.fixture(scope="module")
def tiny(tiny_tokenizer):
    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer)
    architecture = {"d_model": 32, "d_ff": 64, "d_kv": 8, "num_heads": 2, "num_layers": 2, "num_decoder_layers": 2}
    return tokenizer, build_model(tokenizer, architecture, seed=3).eval()


def teacher_forced(model, tokenizer, input_ids: list[int], target: list[int]) -> float:
    """log P(target | input) from one plain forward pass: the reference the generation scores must equal."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([input_ids]), labels=torch.tensor([target])).logits[0]
    return float(torch.log_softmax(logits, -1).gather(-1, torch.tensor(target)[:, None]).sum())


@pytest.mark.parametrize("num_beams", [1, 3])
def test_generation_scores_are_the_generated_answers_log_probabilities(tiny, num_beams):
    tokenizer, model = tiny
    texts = ["question: Why did the mill close? context: The storm damaged the main building.", "question: Why?"]
    input_ids = [tokenizer(t)["input_ids"] for t in texts]
    settings = PredictSettings.from_dict({"max_new_tokens": 6, "num_beams": num_beams})
    na_ids = tokenizer(text_target=NA)["input_ids"]
    with torch.inference_mode():
        results = generate_batch(model, tokenizer, input_ids, settings, na_ids, torch.device("cpu"))
        plain = model.generate(
            **tokenizer.pad({"input_ids": input_ids}, return_tensors="pt"),
            max_new_tokens=6,
            num_beams=num_beams,
            do_sample=False,
        )
    for ids, result, sequence in zip(input_ids, results, plain):
        # The same answer as a plain generate() call (the encoder is run once, outside it).
        assert result.text == tokenizer.decode(sequence, skip_special_tokens=True)
        generated = sequence.tolist()[1:]  # after the decoder start token; pads after the end token only
        if tokenizer.eos_token_id in generated:
            generated = generated[: generated.index(tokenizer.eos_token_id) + 1]
        assert result.score == pytest.approx(teacher_forced(model, tokenizer, ids, generated), abs=1e-4)
        assert result.na_log_prob == pytest.approx(teacher_forced(model, tokenizer, ids, na_ids), abs=1e-4)


def test_a_question_split_into_windows_gets_one_prediction_with_its_scores(tiny, tmp_path):
    """Tokenize (windows) -> predict -> metrics, on a long and a short question."""
    import json

    import pandas as pd

    from t5qa.data.tokenize_data import tokenize_dataset
    from t5qa.evaluate.metrics import evaluate
    from t5qa.model.predict import predict
    from t5qa.settings import TokenizeSettings

    tokenizer, model = tiny
    model_dir = tmp_path / "model"
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    long_context = " ".join(f"The {w} was quiet in the {t}." for t in ("morning", "night") for w in ("river", "mill"))
    table = pd.DataFrame(
        {
            "id": ["long", "short"],
            "question": ["Why did the mill close?", "Why?"],
            "question_processed": ["why did the mill close?", "why?"],
            "context": [long_context * 3, "The mill closed."],
            "context_processed": [long_context.lower() * 3, "the mill closed."],
            "answer": ["quiet in the night", ""],
            "answer_processed": ["quiet in the night", ""],
        }
    )
    path = tmp_path / "table.parquet"
    table.to_parquet(path)
    settings = TokenizeSettings.from_dict({"max_source_length": 40, "stride": 8})
    stats = tokenize_dataset(
        {"train": [("s", path)], "validation": [("s", path)]}, tokenizer, settings, tmp_path / "tok"
    )
    assert stats["validation"]["rows"] == 2 and stats["validation"]["model_inputs"] > 3
    output = tmp_path / "predictions.jsonl"
    predict(model_dir, tmp_path / "tok", output, PredictSettings.from_dict({"max_new_tokens": 4}), NA)
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["long", "short"]
    assert rows[0]["windows"] == stats["validation"]["model_inputs"] - 1 and "windows" not in rows[1]
    assert all(r["score"] <= 0 and 0 <= r["na_prob"] <= 1 for r in rows)
    metrics = evaluate(output, [("s", path)])
    assert metrics["total"] == 2 and {"best_f1", "best_f1_thresh"} <= metrics.keys()
