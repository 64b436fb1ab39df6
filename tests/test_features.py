import re

import pytest
from transformers import AutoTokenizer, DataCollatorForSeq2Seq

from t5qa.data.features import (
    check_template,
    make_tokenize_fn,
    mask_padding,
    prediction_to_answer,
    render_input,
    target_text,
)
from t5qa.errors import InputError
from t5qa.settings import TokenizeSettings

TEMPLATE = TokenizeSettings.from_dict({}).template  # the schema's default


def lengths(source: int, target: int) -> TokenizeSettings:
    return TokenizeSettings.from_dict({"max_source_length": source, "max_target_length": target})


def test_default_template_is_t5_native_format():
    assert render_input(TEMPLATE, "Why?", "Because.") == "question: Why? context: Because."


def test_template_checks():
    assert check_template(TEMPLATE) == []
    warnings = check_template("question: {question}\ncontext: {context}")
    assert any("newline" in w for w in warnings)
    with pytest.raises(InputError, match="unknown fields"):
        check_template("q: {question} {answer}")


def test_targets_and_unanswerable_mapping():
    assert target_text("first\tsecond", "unanswerable") == "first"
    assert target_text("", "unanswerable") == "unanswerable"
    assert prediction_to_answer("unanswerable", "unanswerable") == ""
    assert prediction_to_answer(" an answer ", "unanswerable") == "an answer"


def test_labels_pad_with_minus_100_and_are_not_padded_at_tokenize_time(tiny_tokenizer):
    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer)
    tokenize = make_tokenize_fn(
        tokenizer, TokenizeSettings.from_dict({"max_source_length": 256, "max_target_length": 32})
    )
    batch = tokenize(
        {
            "question": ["Why did the river flood?", "Why did the mill close?"],
            "context": ["The river flooded because the storm damaged the main building.", "The mill closed."],
            "answer": ["the storm damaged the main building", ""],
        }
    )
    lengths = [len(x) for x in batch["labels"]]
    assert lengths[0] != lengths[1]  # dynamic: no padding to a maximum here
    assert mask_padding([5, 0, 0], tokenizer.pad_token_id) == [5, -100, -100]
    collator = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100, pad_to_multiple_of=8)
    features = [
        {"input_ids": i, "attention_mask": a, "labels": lab}
        for i, a, lab in zip(batch["input_ids"], batch["attention_mask"], batch["labels"])
    ]
    collated = collator(features)
    assert collated["input_ids"].shape[1] % 8 == 0
    short = min(range(2), key=lambda i: lengths[i])
    assert (collated["labels"][short, lengths[short] :] == -100).all()
    assert tokenizer.decode(batch["labels"][1], skip_special_tokens=True) == "unanswerable"


def test_truncation_is_counted_and_a_cut_off_answer_is_detected(tiny_tokenizer):
    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer)
    context = "The river flooded last year. " * 6 + "The mill closed because the storm damaged the main building."
    tokenize = make_tokenize_fn(
        tokenizer,
        TokenizeSettings.from_dict({"max_source_length": 24, "max_target_length": 4, "long_inputs": "truncate"}),
    )
    out = tokenize(
        {
            "question": ["Why did the mill close?"],
            "context": [context],
            "answer": ["the storm damaged the main building"],
        }
    )
    assert len(out["input_ids"][0]) == 24 and out["input_ids"][0][-1] == tokenizer.eos_token_id
    assert out["input_truncated"] == [True]
    assert out["target_truncated"] == [True]
    assert out["answer_truncated"] == [True]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{question", "is not a valid template"),
        ("{question:d} {context}", "is not a valid template"),
        ("{question} {0}", "unknown fields ['0']"),
        ("{question.upper}", "unknown fields ['question.upper']"),
        ("{context}", "must contain {question}"),
    ],
)
def test_malformed_templates_are_refused_before_tokenizing(template, message):
    with pytest.raises(InputError, match=r"^--settings: template .*" + re.escape(message)):
        check_template(template)


# --- issue 21: the Webis-CausalQA-22 (UnifiedQA) input and target


UNIFIEDQA = {
    "template": "{question} \\n {context}",  # a literal backslash-n between spaces, as UnifiedQA was trained
    "template_without_context": "{question}",
    "target": "answer_cell",
    "text_columns": "processed",
}


def test_the_new_settings_default_to_todays_behaviour():
    settings = TokenizeSettings.from_dict({})
    assert settings.template_without_context is None and settings.target == "first_gold"
    assert target_text("first\tsecond", "unanswerable", settings.target) == "first"


def test_answer_cell_target_is_every_gold_as_stored():
    assert target_text("first\tsecond", "unanswerable", "answer_cell") == "first\tsecond"
    assert target_text("", "unanswerable", "answer_cell") == "unanswerable"
    assert target_text("only", "unanswerable", "answer_cell") == "only"


def test_template_without_context_is_checked():
    from t5qa.data.features import check_template_without_context, choose_template

    check_template_without_context(None)
    check_template_without_context("{question}")
    for bad in ("{question} {context}", "no fields", "{question"):
        with pytest.raises(InputError, match="template_without_context"):
            check_template_without_context(bad)
    assert choose_template("T {question} {context}", "{question}", "  ") == "{question}"
    assert choose_template("T {question} {context}", "{question}", "some context") == "T {question} {context}"
    assert choose_template("T {question} {context}", None, "") == "T {question} {context}"


def test_unifiedqa_input_and_target(tiny_tokenizer):
    """Their build_input: question + ' \\n ' + context, the question alone without a context; target: the cell."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer)
    settings = TokenizeSettings.from_dict({**UNIFIEDQA, "max_source_length": 256, "max_target_length": 32})
    batch = tokenize_batch(tokenizer, settings)
    inputs = [tokenizer.decode(ids, skip_special_tokens=True) for ids in batch["input_ids"]]
    assert inputs[1] == "why did the mill close?"  # no context: the question alone, no separator
    assert inputs[0].startswith("why did the river flood?") and inputs[0].endswith("because of the storm.")
    expected = tokenizer("why did the river flood? \\n the river flooded because of the storm.")["input_ids"]
    assert batch["input_ids"][0] == expected
    # The target is the whole cell: both golds (sentencepiece reads the tab as a word boundary, like a space).
    assert batch["labels"][0] == tokenizer(text_target="the storm damaged\tthe storm")["input_ids"]
    assert batch["labels"][0] == tokenizer(text_target="the storm damaged the storm")["input_ids"]


def test_what_the_scratch_tokenizer_makes_of_a_literal_backslash_n(tiny_tokenizer):
    """The separator is two characters, '\\' and 'n', never a newline: T5's vocabulary has no newline (it would
    become a space), which is why UnifiedQA spells it out. The real T5 vocabulary holds a backslash piece, so the
    separator survives there as two pieces (not checked here: no hub access; the scratch tokenizer may map the
    backslash to <unk> when its training text had none, which is why the test only checks the round trip of 'n')."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer)
    with_separator = tokenizer("why \\n because")["input_ids"]
    with_newline = tokenizer("why \n because")["input_ids"]
    assert with_separator != with_newline
    assert with_newline == tokenizer("why because")["input_ids"]  # a real newline vanishes into the boundary


def tokenize_batch(tokenizer, settings):
    return make_tokenize_fn(tokenizer, settings)(
        {
            "id": ["a", "b"],
            "question_processed": ["why did the river flood?", "why did the mill close?"],
            "context_processed": ["the river flooded because of the storm.", ""],
            "answer": ["the storm damaged\tthe storm", "the owner left"],
        }
    )


def test_answer_cell_windows_learn_the_whole_cell(tiny_tokenizer):
    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer)
    settings = TokenizeSettings.from_dict({**UNIFIEDQA, "max_source_length": 24, "max_target_length": 32, "stride": 4})
    context = " ".join(["the river was calm that day."] * 6) + " it flooded because of the storm."
    batch = make_tokenize_fn(tokenizer, settings)(
        {
            "id": ["a"],
            "question_processed": ["why did the river flood?"],
            "context_processed": [context],
            "answer": ["the storm\tstorm"],
        }
    )
    targets = {tokenizer.decode([t for t in labels if t >= 0], skip_special_tokens=True) for labels in batch["labels"]}
    assert len(batch["input_ids"]) > 1
    assert targets <= {"the storm storm", "unanswerable"} and "the storm storm" in targets
