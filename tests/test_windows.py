"""Sliding windows over long contexts: boundaries, targets, which windows train, the errors."""

import pytest
from transformers import AutoTokenizer

from t5qa.data.features import make_tokenize_fn, render_with_context_span
from t5qa.data.tokenize_data import tokenize_dataset
from t5qa.errors import InputError
from t5qa.settings import TokenizeSettings

QUESTION = "Why did the mill close?"
WORDS = ["river", "bridge", "market", "school", "garden", "harbour", "station", "tower", "castle", "library"]
# A long context of plain sentences the tiny tokenizer knows; the answer sentence goes where a test puts it.
FILLER = [f"The {w} was quiet in the {when}." for when in ("morning", "evening", "night") for w in WORDS]
ANSWER = "the storm damaged the main building"


@pytest.fixture(scope="module")
def tokenizer(tiny_tokenizer):
    return AutoTokenizer.from_pretrained(tiny_tokenizer)


def settings(**values) -> TokenizeSettings:
    return TokenizeSettings.from_dict({"max_source_length": 48, "max_target_length": 32, "stride": 8, **values})


def run(tokenizer, context: str, answer: str = ANSWER, all_windows: bool = True, question=QUESTION, **values):
    tokenize = make_tokenize_fn(tokenizer, settings(**values), all_windows=all_windows)
    return tokenize({"id": ["q1"], "question": [question], "context": [context], "answer": [answer]})


def context_ids(tokenizer, context: str, question=QUESTION):
    """The context's tokens as they appear inside the whole input, and the question part before them."""
    text, start, end = render_with_context_span(settings().template, question, context)
    encoded = tokenizer(text, return_offsets_mapping=True)
    inside = [k for k, (a, b) in enumerate(encoded["offset_mapping"][:-1]) if b > start and a < end]
    ids = encoded["input_ids"]
    return ids[: inside[0]], ids[inside[0] : inside[-1] + 1], encoded["offset_mapping"], inside


def decode(tokenizer, ids) -> str:
    return tokenizer.decode([t for t in ids if t >= 0], skip_special_tokens=True)


def test_an_input_that_fits_is_one_row_tokenized_as_when_truncating(tokenizer):
    context = "The mill closed because " + ANSWER + "."
    windows = run(tokenizer, context)
    truncated = run(tokenizer, context, long_inputs="truncate")
    assert windows["input_ids"] == truncated["input_ids"] and len(windows["input_ids"]) == 1
    assert windows["labels"] == truncated["labels"]
    assert windows["primary"] == [True] and windows["window"] == [0]


def test_whole_inputs_are_fed_as_they_are_however_long(tokenizer):
    """long_inputs: whole (the Webis-CausalQA-22 evaluation): one row holding every token, max_source_length aside."""
    context = " ".join(FILLER) + " The mill closed because " + ANSWER + "."
    whole = run(tokenizer, context, long_inputs="whole")
    text, _, _ = render_with_context_span(settings().template, QUESTION, context)
    assert whole["input_ids"] == [tokenizer(text)["input_ids"]] and len(whole["input_ids"][0]) > 48
    assert whole["input_truncated"] == [False] and whole["answer_truncated"] == [False]


def test_every_window_holds_the_question_and_consecutive_windows_share_stride_tokens(tokenizer):
    context = " ".join(FILLER) + " The mill closed because " + ANSWER + "."
    out = run(tokenizer, context)
    prefix, ctx, _, _ = context_ids(tokenizer, context)
    n = len(out["input_ids"])
    assert n > 3
    room = 48 - len(prefix) - 1
    slices = []
    for ids in out["input_ids"]:
        assert len(ids) <= 48
        assert ids[: len(prefix)] == prefix and ids[-1] == tokenizer.eos_token_id
        slices.append(ids[len(prefix) : -1])
    assert all(len(s) == room for s in slices)
    for left, right in zip(slices[:-2], slices[1:-1]):
        assert left[-8:] == right[:8]  # stride 8: shared tokens
    rebuilt = slices[0] + [t for s in slices[1:-1] for t in s[8:]]
    # The last window ends at the context's end: it shares more than the stride with the one before.
    rebuilt = rebuilt + slices[-1][len(rebuilt) - len(ctx) :]
    assert rebuilt == ctx  # nothing lost, nothing repeated beyond the overlap
    assert out["window"] == list(range(n))
    # The answer is at the very end: the last window learns it, the others learn "unanswerable".
    targets = [decode(tokenizer, labels) for labels in out["labels"]]
    assert targets[-1] == ANSWER and set(targets[:-1]) == {"unanswerable"}
    assert out["primary"] == [False] * (n - 1) + [True]
    assert out["answer_truncated"] == [False] * n and out["answer_past_cut"][0] is True
    assert out["input_truncated"][0] is True and out["source_length"][0] > 48


def straddling_answer(tokenizer, context: str) -> str:
    """An answer made of the last six context tokens of the first window (stride 0) and the first six of the next."""
    prefix, _, offsets, inside = context_ids(tokenizer, context)
    room = 48 - len(prefix) - 1
    first, last = inside[room - 6], inside[room + 5]
    answer = context_text(context, offsets, first, last)
    assert context.count(answer) == 1
    return answer


def context_text(context, offsets, first, last):
    text, start, _ = render_with_context_span(settings().template, QUESTION, context)
    return text[offsets[first][0] : offsets[last][1]]


def test_an_answer_split_between_windows_is_whole_in_one_when_the_overlap_covers_it(tokenizer):
    context = " ".join(FILLER)
    answer = straddling_answer(tokenizer, context)
    assert answer in context
    split = run(tokenizer, context, answer=answer, stride=0)
    # No window holds it whole: counted as unseen, and the window where it starts learns it.
    assert split["answer_truncated"][0] is True
    targets = [decode(tokenizer, labels) for labels in split["labels"]]
    assert targets[0] == answer and split["primary"][0] is True
    assert set(targets[1:]) == {"unanswerable"}
    overlapping = run(tokenizer, context, answer=answer, stride=8)
    assert overlapping["answer_truncated"][0] is False
    targets = [decode(tokenizer, labels) for labels in overlapping["labels"]]
    assert targets[1] == answer and overlapping["primary"][1] is True
    assert targets[0] == "unanswerable"  # it holds only part of the answer


def test_training_keeps_answer_windows_and_a_fixed_share_of_the_others(tokenizer):
    context = " ".join(FILLER) + " The mill closed because " + ANSWER + "."
    everything = run(tokenizer, context)
    n = len(everything["input_ids"])
    none = run(tokenizer, context, all_windows=False, unanswerable_window_share=0.0)
    assert none["window"] == [n - 1]  # only the window with the answer
    assert run(tokenizer, context, all_windows=False, unanswerable_window_share=1.0)["window"] == list(range(n))
    half = run(tokenizer, context, all_windows=False, unanswerable_window_share=0.5)
    assert n - 1 in half["window"] and 1 < len(half["window"]) < n
    assert run(tokenizer, context, all_windows=False, unanswerable_window_share=0.5)["window"] == half["window"]
    # An unanswerable question always keeps its first window, as when truncating.
    unanswerable = run(tokenizer, context, answer="", all_windows=False, unanswerable_window_share=0.0)
    assert unanswerable["window"] == [0] and decode(tokenizer, unanswerable["labels"][0]) == "unanswerable"


def test_an_abstractive_answer_trains_on_the_first_window_only(tokenizer):
    context = " ".join(FILLER)
    out = run(tokenizer, context, answer="nobody knows why", all_windows=False, unanswerable_window_share=1.0)
    assert out["window"] == [0] and decode(tokenizer, out["labels"][0]) == "nobody knows why"
    assert out["answer_truncated"] == [True] and out["answer_past_cut"] == [False]


def test_a_question_longer_than_the_window_is_refused_with_its_id(tokenizer):
    question = " ".join(f"Why did the {w} close?" for w in WORDS)
    with pytest.raises(InputError, match=r"^question 'q1': the template and question take \d+ of max_source_length 48"):
        run(tokenizer, " ".join(FILLER), question=question)
    # Truncating still works (the old behaviour), windows are not needed for it.
    assert len(run(tokenizer, " ".join(FILLER), question=question, long_inputs="truncate")["input_ids"][0]) == 48


def test_a_stride_not_smaller_than_the_window_is_refused_before_tokenizing(tokenizer, tmp_path):
    bad = TokenizeSettings.from_dict({"max_source_length": 48, "stride": 48})
    with pytest.raises(InputError, match=r"^--settings: stride 48 must be smaller than max_source_length 48"):
        tokenize_dataset({}, tokenizer, bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()
