"""The README.md of a trained model's folder: a Hugging Face model card that says what the model is, what data and
settings made it, how it scored on validation during training, and how to run it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from t5qa.model.model_io import auto_max_new_tokens

# SQuAD 2.0's first question: an answer the context holds.
EXAMPLE_QUESTION = "In what country is Normandy located?"
EXAMPLE_CONTEXT = (
    "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, a region in France."
)


def render_model_card(
    dataset: str,
    base_model: str,
    tokenize_stats: dict,
    train_settings: dict,
    training_log: dict,
    model_path: str,
) -> str:
    """The card's Markdown; `model_path` is where the usage snippet loads the model from."""
    sections = [
        front_matter(base_model),
        introduction(dataset, base_model, tokenize_stats["settings"]["unanswerable_target"]),
        data_section(tokenize_stats),
        training_section(train_settings, training_log),
        validation_section(dataset, training_log),
        usage_section(tokenize_stats, model_path),
    ]
    return "\n\n".join(sections) + "\n"


def is_hub_id(name: str) -> bool:
    """`org/name` or `name` on the hub, as opposed to `scratch` or a folder on this machine."""
    if name == "scratch" or Path(name).exists():
        return False
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def front_matter(base_model: str) -> str:
    lines = [
        "---",
        "library_name: transformers",
        "pipeline_tag: text2text-generation",
        "tags: [t5, question-answering, extractive-qa]",
    ]
    if is_hub_id(base_model):
        lines.append(f"base_model: {json.dumps(base_model)}")  # a JSON string is a YAML string
    return "\n".join(lines + ["---"])


def introduction(dataset: str, base_model: str, unanswerable: str) -> str:
    if base_model == "scratch":
        start = "a T5 initialised at random (no pretraining)"
    elif is_hub_id(base_model):
        start = f"[{base_model}](https://huggingface.co/{base_model})"
    else:
        start = f"the local model {inline_code(base_model)}"
    return (
        f"# T5 for extractive question answering on {dataset}\n\n"
        f"This model is {start}, fine-tuned for extractive question answering on the dataset "
        f"{inline_code(dataset)} with the t5qa workflow (a Snakemake pipeline). Given a question and a context, it "
        "generates the answer as it appears in the context, or "
        f"{inline_code(unanswerable)} when the context does not answer the question."
    )


def data_section(tokenize_stats: dict) -> str:
    train, validation, settings = tokenize_stats["train"], tokenize_stats["validation"], tokenize_stats["settings"]
    train_rows, validation_rows = train["rows_per_source"], validation["rows_per_source"]
    sources = list(train_rows) + [source for source in validation_rows if source not in train_rows]
    rows = [[inline_code(s), train_rows.get(s, 0), validation_rows.get(s, 0)] for s in sources]
    rows.append(["all", train["rows"], validation["rows"]])
    long_inputs = {"truncate": "cut", "whole": "none cut: fed whole"}.get(
        settings.get("long_inputs"), "split into windows"
    )
    truncation = [
        [
            f"inputs over {settings['max_source_length']} tokens ({long_inputs})",
            train["inputs_truncated"],
            validation["inputs_truncated"],
        ],
        ["model inputs (windows)", train["model_inputs"], validation["model_inputs"]],
        ["answers no model input holds whole", train["answers_unseen"], validation["answers_unseen"]],
        [
            f"targets cut to {settings['max_target_length']} tokens",
            train["targets_truncated"],
            validation["targets_truncated"],
        ],
    ]
    return (
        "## Data\n\n"
        "Questions per source:\n\n"
        f"{table(['source', 'train', 'validation'], rows)}\n\n"
        "Examples truncated:\n\n"
        f"{table(['', 'train', 'validation'], truncation)}\n\n"
        "Inputs and targets (the tokenize settings):\n\n"
        f"{settings_table(settings)}"
    )


def training_section(train_settings: dict, training_log: dict) -> str:
    best = training_log["best"]
    if best is None:
        best_step = f"none ({no_best_step(training_log)})"
    else:
        best_step = (
            f"{best['step']} (validation {best['metric']} {format_value(best['value'])}); the model is this step's"
        )
    stopped_early = training_log.get("stopped_early")
    return (
        "## Training\n\n"
        f"{settings_table(train_settings)}\n\n"
        f"- Best step: {best_step}\n"
        f"- Final step: {training_log.get('final_step', 'unknown')}\n"
        f"- Stopped early: {'unknown' if stopped_early is None else 'yes' if stopped_early else 'no'}"
    )


def no_best_step(training_log: dict) -> str:
    """Training keeps the last step's model when no evaluation chose a best one; say why there was none."""
    if any("eval_loss" in entry for entry in training_log["log_history"]):
        return "validation ran but gave no usable score to choose a step by, so the model is the last step's"
    return "no validation ran during training, so the model is the last step's"


def validation_section(dataset: str, training_log: dict) -> str:
    heading = "## Validation during training\n\n"
    best = training_log["best"]
    if best is None:
        return heading + no_best_step(training_log).capitalize() + "."
    evaluation = next(
        (e for e in training_log["log_history"] if e.get("step") == best["step"] and "eval_loss" in e), None
    )
    if evaluation is None:
        return heading + f"The log holds no evaluation at the best step, {best['step']}."
    names = {
        "eval_exact": "exact match (EM)",
        "eval_f1": "F1",
        "eval_HasAns_f1": "F1, answerable questions",
        "eval_NoAns_f1": "F1, unanswerable questions",
        "eval_loss": "loss",
    }
    rows = [[name, format_value(evaluation[key])] for key, name in names.items() if key in evaluation]
    examples = training_log.get("eval_examples")
    on = f"{examples} validation questions" if examples else "the validation questions"
    return (
        f"{heading}At the best step, {best['step']}, on {on}:\n\n"
        f"{table(['metric', 'value'], rows)}\n\n"
        "The final scores, of predictions for the whole validation split, are in "
        f"{inline_code(f'results/metrics/{dataset}.json')}."
    )


def usage_section(tokenize_stats: dict, model_path: str) -> str:
    settings = tokenize_stats["settings"]
    max_new_tokens = auto_max_new_tokens(tokenize_stats["train"]["target_length"]["max"], settings["max_target_length"])
    # The template is a str.format template: formatting it with the placeholders themselves undoes its {{ }}
    # escapes, so the snippet's plain str.replace gives the same input as training.
    template = settings["template"].format(question="{question}", context="{context}")
    code = "\n".join(
        [
            "from transformers import AutoModelForSeq2SeqLM, AutoTokenizer",
            "",
            f"model_path = {python_string(model_path)}",
            "tokenizer = AutoTokenizer.from_pretrained(model_path)",
            "model = AutoModelForSeq2SeqLM.from_pretrained(model_path)",
            "",
            f"question = {python_string(EXAMPLE_QUESTION)}",
            f"context = {python_string(EXAMPLE_CONTEXT)}",
            f"template = {python_string(template)}",
            'text = template.replace("{question}", question).replace("{context}", context)',
            f"inputs = tokenizer(text, max_length={settings['max_source_length']}, truncation=True, "
            'return_tensors="pt")',
            f"generated = model.generate(**inputs, max_new_tokens={max_new_tokens})",
            "answer = tokenizer.decode(generated[0], skip_special_tokens=True)",
            "print(answer)",
        ]
    )
    return (
        "## Usage\n\n"
        f"```python\n{code}\n```\n\n"
        f"An answer of {inline_code(settings['unanswerable_target'])} means: no answer in the context."
    )


def python_string(text: str) -> str:
    """A double-quoted Python literal on one line: a JSON string is one (its escapes are Python's too)."""
    return json.dumps(text, ensure_ascii=False)


def settings_table(settings: dict) -> str:
    """Values as JSON, so a string's spaces and newlines show and a number reads as in the config."""
    rows = [[name, inline_code(json.dumps(value, ensure_ascii=False))] for name, value in settings.items()]
    return table(["setting", "value"], rows)


def table(header: list[str], rows: list[list]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(cell(value) for value in line) + " |" for line in lines)


def cell(value) -> str:
    """A table cell: a pipe would end the cell (even in code), a newline the row."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def inline_code(text: str) -> str:
    """Code delimited by more backticks than the text holds in a row; padded with a space (which Markdown drops)
    where a backtick or space at either end would otherwise merge with the delimiter or be stripped."""
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    padding = " " if text[:1] in ("`", " ") or text[-1:] in ("`", " ") else ""
    return f"{fence}{padding}{text}{padding}{fence}"


def format_value(value) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) and not isinstance(value, bool) else str(value)
