import re

import pytest
from transformers import AutoTokenizer, DataCollatorForSeq2Seq

from t5qa.errors import InputError
from t5qa.features import (
    check_template,
    make_tokenize_fn,
    mask_padding,
    prediction_to_answer,
    render_input,
    target_text,
)
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
