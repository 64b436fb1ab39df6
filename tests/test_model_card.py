import contextlib
import io
import re

import pytest

from t5qa.data.features import render_input
from t5qa.model.model_card import render_model_card

TRAIN_SETTINGS = {"learning_rate": 0.003, "epochs": 25, "batch_size": 16, "lr_scheduler": "linear", "bf16": True}
TINY_ARCHITECTURE = {"d_model": 16, "d_ff": 32, "d_kv": 8, "num_heads": 2, "num_layers": 1, "num_decoder_layers": 1}


def tokenize_stats(sources=("squad2", "causalqa"), template="question: {question} context: {context}") -> dict:
    def split(rows: list[int], inputs_truncated: int, longest_target: int) -> dict:
        return {
            "rows": sum(rows),
            "rows_per_source": dict(zip(sources, rows)),
            "target_length": {"mean": 3.1, "max": longest_target},
            "inputs_truncated": inputs_truncated,
            "targets_truncated": 2,
            "model_inputs": sum(rows) + inputs_truncated,
            "answers_past_cut": 3,
            "answers_unseen": 1,
        }

    return {
        "train": split([5213, 877], inputs_truncated=31, longest_target=19),
        "validation": split([612, 94], inputs_truncated=4, longest_target=11),
        "settings": {
            "template": template,
            "unanswerable_target": "unanswerable",
            "max_source_length": 48,
            "max_target_length": 32,
            "text_columns": "raw",
        },
    }


def training_log(best_step: int | None = 1500) -> dict:
    history = [
        {"loss": 2.31, "grad_norm": 0.9, "learning_rate": 0.0003, "epoch": 0.1, "step": 200},
        {"eval_loss": 1.2, "eval_exact": 60.0, "eval_f1": 63.1, "eval_runtime": 0.8, "epoch": 8.0, "step": 500},
        {"loss": 0.7, "epoch": 20.0, "step": 1500},
        {
            "eval_loss": 0.9123,
            "eval_exact": 68.25,
            "eval_f1": 71.5,
            "eval_HasAns_f1": 55.0,
            "eval_NoAns_f1": 90.0,
            "epoch": 20.0,
            "step": 1500,
        },
        {"train_runtime": 103.9, "train_loss": 0.66, "epoch": 25.0, "step": 1875},
    ]
    if best_step is None:
        history = [entry for entry in history if "eval_loss" not in entry]
    best = None if best_step is None else {"metric": "f1", "value": 71.5, "step": best_step}
    return {"best": best, "final_step": 1875, "stopped_early": True, "eval_examples": 400, "log_history": history}


def card(base_model="google-t5/t5-small", stats=None, log=None, model_path="results/models/squad2") -> str:
    return render_model_card(
        "squad2", base_model, stats or tokenize_stats(), TRAIN_SETTINGS, log or training_log(), model_path
    )


def front_matter(text: str) -> list[str]:
    assert text.startswith("---\n")
    return text.split("---\n")[1].splitlines()


def python_block(text: str) -> str:
    blocks = re.findall(r"^```python\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE)
    assert len(blocks) == 1, text
    return blocks[0]


def tables(text: str) -> list[list[str]]:
    """Each Markdown table's lines."""
    found, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            found.append(current)
            current = []
    return found


def test_front_matter_follows_the_hub_convention():
    lines = front_matter(card())
    assert "library_name: transformers" in lines
    assert "pipeline_tag: text2text-generation" in lines
    assert "tags: [t5, question-answering, extractive-qa]" in lines
    assert 'base_model: "google-t5/t5-small"' in lines


@pytest.mark.parametrize("base_model", ["scratch", "local-folder", "/no/such/folder"])
def test_base_model_only_for_a_hub_id(tmp_path, monkeypatch, base_model):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "local-folder").mkdir()
    text = card(base_model=base_model)
    assert not any(line.startswith("base_model:") for line in front_matter(text))
    assert "huggingface.co" not in text


def test_card_reports_the_data():
    text = card()
    assert "# T5 for extractive question answering on squad2" in text.splitlines()
    data = text.split("## Data")[1].split("## Training")[0]
    assert "| `squad2` | 5213 | 612 |" in data
    assert "| `causalqa` | 877 | 94 |" in data
    assert "| all | 6090 | 706 |" in data
    assert "| inputs over 48 tokens (split into windows) | 31 | 4 |" in data
    assert "| model inputs (windows) | 6121 | 710 |" in data
    assert "| answers no model input holds whole | 1 | 1 |" in data
    assert "| targets cut to 32 tokens | 2 | 2 |" in data


def test_card_reports_training_and_the_best_evaluation():
    text = card()
    training = text.split("## Training")[1].split("## Validation")[0]
    assert "| learning_rate | `0.003` |" in training
    assert '| lr_scheduler | `"linear"` |' in training
    assert "| bf16 | `true` |" in training
    assert "- Best step: 1500 (validation f1 71.5)" in training
    assert "- Final step: 1875" in training
    assert "- Stopped early: yes" in training

    validation = text.split("## Validation during training")[1].split("## Usage")[0]
    assert "1500" in validation and "400 validation questions" in validation
    assert "| F1 | 71.5 |" in validation  # the best evaluation's, not step 500's 63.1
    assert "| exact match (EM) | 68.25 |" in validation
    assert "| F1, answerable questions | 55 |" in validation
    assert "| F1, unanswerable questions | 90 |" in validation
    assert "| loss | 0.9123 |" in validation
    assert "results/metrics/squad2.json" in validation


def test_card_without_validation_says_the_model_is_the_last_steps():
    text = card(log=training_log(best_step=None))
    validation = text.split("## Validation during training")[1].split("## Usage")[0]
    assert "No validation ran during training" in validation and "last step's" in validation
    assert "| F1 |" not in validation


def test_card_says_when_validation_gave_no_usable_score():
    log = training_log()
    log["best"] = None
    assert "validation ran but gave no usable score" in card(log=log)


def test_pipes_and_backticks_do_not_break_tables():
    stats = tokenize_stats(sources=("web|qa", "odd`name"), template="q|`{question}`|c: {context}\n")
    text = card(stats=stats)
    unescaped_pipe = re.compile(r"(?<!\\)\|")
    for lines in tables(text):
        assert len({len(unescaped_pipe.findall(line)) for line in lines}) == 1, lines
    assert "| `web\\|qa` | 5213 | 612 |" in text
    assert "| ``odd`name`` | 877 | 94 |" in text


def test_usage_snippet_builds_the_training_input():
    template = "Q: {question} {{not a field}} C: {context}"
    code = python_block(card(stats=tokenize_stats(template=template)))
    assert "max_length=48" in code
    assert "max_new_tokens=20" in code  # the longest training target, 19, and its end token
    # The lines that build the input, without the model: str.replace gives what training's str.format gave.
    building = [
        line for line in code.splitlines() if line.startswith(("question =", "context =", "template =", "text ="))
    ]
    namespace = {}
    exec("\n".join(building), namespace)
    assert namespace["text"] == render_input(template, namespace["question"], namespace["context"])
    assert "{{" not in namespace["text"] and "{not a field}" in namespace["text"]


def test_usage_snippet_runs(tiny_tokenizer, tmp_path):
    from transformers import AutoTokenizer

    from t5qa.model.scratch_model import build_model

    model_dir = tmp_path / "model"
    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer)
    build_model(tokenizer, TINY_ARCHITECTURE, seed=0).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    code = python_block(card(model_path=str(model_dir)))
    namespace = {}
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        exec(code, namespace)
    assert isinstance(namespace["answer"], str)
    assert printed.getvalue() == namespace["answer"] + "\n"
    assert namespace["inputs"]["input_ids"].shape[1] == 48  # the context is longer: cut as in training
