"""One typed settings object per step, built once from the step's `--settings` JSON.

Every setting's type, range and default live in one place, the config schema (src/t5qa/config.schema.yaml):
Snakemake fills the defaults into the config when it validates it, and a step's settings object takes each field's
rules from the schema entry named in the field's metadata. A rule passes `Settings.from_config(config)` as one
tracked JSON param; the step's script parses it back with `Settings.from_json(text)`, which fills in the same
defaults (so a script run by hand needs only what differs), rejects unknown keys and out-of-range values with one
line, and returns a frozen dataclass that the step's module functions take.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Self

import jsonschema
import yaml

from t5qa import SPLITS
from t5qa.cli import TYPE_NAMES, load_json
from t5qa.errors import InputError

# The repository's schema: the package is installed editable (`make install`), so it is found from here.
SCHEMA_PATH = Path(__file__).resolve().with_name("config.schema.yaml")  # package data: works installed or not


def _is_integer(checker, instance) -> bool:
    """JSON Schema counts 32.0 as an integer; a batch size of 32.0 would reach PyTorch as a float."""
    return isinstance(instance, int) and not isinstance(instance, bool)


def _fill_defaults(validator, properties, instance, schema):
    """Fill in the schema's defaults, nested ones too (as Snakemake's validate does for the config)."""
    if isinstance(instance, dict):
        for name, subschema in properties.items():
            if "default" in subschema:
                instance.setdefault(name, copy.deepcopy(subschema["default"]))
    yield from jsonschema.Draft202012Validator.VALIDATORS["properties"](validator, properties, instance, schema)


STRICT_VALIDATOR = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    validators={"properties": _fill_defaults},
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)


@cache
def config_schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))


def schema_entry(path: str) -> dict:
    """The schema of one config entry: `train.learning_rate`, or `sources.*.format` (* = any name)."""
    schema = config_schema()
    node = schema
    for part in path.split("."):
        node = node["additionalProperties"] if part == "*" else node["properties"][part]
        if "$ref" in node:  # a shared definition, "#/$defs/NAME", with the entry's own keys (its default) beside
            shared = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
            node = {**shared, **{key: value for key, value in node.items() if key != "$ref"}}
    return node


# --------------------------------------------------------------------------- what the schema refuses, in words

NAME_PATTERN = "^[A-Za-z0-9_\\-]+$"


def _resolve(schema: dict) -> dict:
    while isinstance(schema, dict) and "$ref" in schema:
        ref = schema["$ref"].removeprefix("#/$defs/")
        schema = {**config_schema()["$defs"][ref], **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _value(value) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def allowed(schema: dict) -> str:
    """What a schema entry allows, in words: `an integer, at least 1`, `"auto" or an integer, at least 0`."""
    schema = _resolve(schema)
    for alternatives in ("oneOf", "anyOf"):
        if alternatives in schema:
            shared = {k: v for k, v in schema.items() if k not in (alternatives, "description", "default")}
            return " or ".join(allowed({**shared, **_resolve(alt)}) for alt in schema[alternatives])
    if "const" in schema:
        return _value(schema["const"])
    if "enum" in schema:
        return " or ".join(_value(v) for v in schema["enum"])
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds or []
    words = " or ".join(TYPE_NAMES.get(kind, kind) for kind in kinds) or "a value"
    limits = []
    for key, word in (
        ("minimum", "at least"),
        ("exclusiveMinimum", "more than"),
        ("maximum", "at most"),
        ("exclusiveMaximum", "less than"),
        ("minLength", "at least {} characters long"),
        ("minItems", "with at least {} items"),
    ):
        if key in schema:
            limits.append(word.format(schema[key]) if "{}" in word else f"{word} {schema[key]}")
    if schema.get("uniqueItems"):
        limits.append("each item once")
    if "pattern" in schema:
        if schema["pattern"] == NAME_PATTERN:
            limits.append("of letters, digits, '_' and '-' only (no spaces, dots or slashes)")
        else:
            limits.append(f"matching {schema['pattern']}")
    return ", ".join([words, *limits])


def _key(key) -> str:
    """A key as written in a message: as it is, or quoted where it is empty or holds a space or control character."""
    text = str(key)
    return text if text and all(char.isprintable() and not char.isspace() for char in text) else json.dumps(text)


def explain_error(error, prefix: str = "", whole: str = "the config") -> list[str]:
    """One jsonschema error as lines naming the key path, the value and what is allowed; `whole` names the checked
    value itself (empty: the caller names it)."""
    parts = [prefix, *error.absolute_path] if prefix else list(error.absolute_path)
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{_key(part)}" for part in parts).lstrip(".")
    at = f"{path or whole}: " if path or whole else ""
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = list(schema.get("properties", {}))
        lines = []
        for key in error.instance:
            if key in known:
                continue
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            where = f"{path}.{_key(key)}" if path else _key(key)
            lines.append(f"{where}: unknown key{hint}; the keys here: {', '.join(known)}")
        return lines
    if error.validator == "required":
        missing = [key for key in error.validator_value if key not in error.instance]
        return [f"{at}missing {', '.join(map(repr, missing))}"]
    if error.validator == "propertyNames" or (error.relative_schema_path and "propertyNames" in error.schema_path):
        return [f"{at}the name {_value(error.instance)} is not allowed; a name must be {allowed(schema)}"]
    description = schema.get("description")
    note = f" ({description})" if description else ""
    return [f"{at}{_value(error.instance)} is not allowed; allowed: {allowed(schema)}{note}"]


def check_value(value, schema: dict, where: str):
    """`value` checked against a JSON Schema; one error names every problem (key path, value, what is allowed).
    The one way values are checked: settings, the config and the commands' JSON arguments alike."""
    errors = sorted(STRICT_VALIDATOR(schema).iter_errors(value), key=str)
    if errors:
        lines = [line for error in errors for line in explain_error(error, whole="")]
        raise InputError(f"{where}: {'; '.join(dict.fromkeys(lines))}")
    return value


def config_value(config: dict, path: str):
    node = config
    for part in path.split("."):
        node = node[part]
    return node


def setting(path: str | None = None, schema: dict | None = None):
    """A field whose rules are the config entry at `path` (or, for a step-only setting, `schema`)."""
    return dataclasses.field(metadata={"config": path, "schema": schema})


class StepSettings:
    """What every step's settings dataclass shares: parsing, defaults and validation from the schema."""

    STEP: ClassVar[str]

    @classmethod
    def field_schemas(cls) -> dict[str, dict]:
        return {
            field.name: field.metadata["schema"] or schema_entry(field.metadata["config"])
            for field in dataclasses.fields(cls)
        }

    @classmethod
    def json_schema(cls) -> dict:
        fields = cls.field_schemas()
        return {
            "$defs": config_schema().get("$defs", {}),
            "type": "object",
            "properties": fields,
            "required": [name for name, schema in fields.items() if "default" not in schema],
            "additionalProperties": False,
        }

    @classmethod
    def from_dict(cls, values: Any, where: str = "--settings") -> Self:
        if not isinstance(values, dict):
            raise InputError(f"{where} must be a JSON object, not {type(values).__name__}")
        filled = copy.deepcopy(values)  # the validator fills defaults in
        errors = sorted(STRICT_VALIDATOR(cls.json_schema()).iter_errors(filled), key=str)
        if errors:
            lines = [line for error in errors for line in explain_error(error, cls.STEP)]
            raise InputError(f"{where}: {'; '.join(dict.fromkeys(lines))}")
        return cls(**filled)

    @classmethod
    def from_json(cls, text: str, where: str = "--settings") -> Self:
        return cls.from_dict(load_json(text, where), where)

    @classmethod
    def from_config(cls, config: dict) -> dict:
        """The step's settings as the rule passes them: taken from the validated config (defaults filled in)."""
        return {field.name: config_value(config, field.metadata["config"]) for field in dataclasses.fields(cls)}

    @classmethod
    def describe(cls) -> str:
        """One line per setting, for a script's --help."""
        lines = []
        for name, schema in cls.field_schemas().items():
            default = f" (default {json.dumps(schema['default'])})" if "default" in schema else " (required)"
            lines.append(f"  {name}{default}: {schema.get('description', '')}".rstrip(": "))
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


HOLDOUT_SCHEMA = {
    "description": "carve this split out of the file by id hash (a source without its own validation file)",
    "default": None,
    "oneOf": [
        {"type": "null"},
        {
            "type": "object",
            "required": ["fraction", "part"],
            "properties": {
                "fraction": {"$ref": "#/$defs/fraction"},
                "part": {"enum": list(SPLITS)},
            },
            "additionalProperties": False,
        },
    ],
}


@dataclasses.dataclass(frozen=True)
class NormalizeSettings(StepSettings):
    STEP: ClassVar[str] = "normalize"
    format: str = setting("sources.*.format")
    columns: dict = setting("sources.*.columns")
    strict: bool = setting("sources.*.strict")
    holdout: dict | None = setting(schema=HOLDOUT_SCHEMA)

    @classmethod
    def from_config(cls, config: dict) -> dict:
        raise TypeError("normalize settings differ per source and split: use t5qa.data.sources.normalize_settings")


@dataclasses.dataclass(frozen=True)
class ScratchTokenizerSettings(StepSettings):
    STEP: ClassVar[str] = "scratch_tokenizer"
    vocab_size: int = setting("model.scratch.vocab_size")
    seed: int = setting("model.scratch.seed")
    # The template's own words and the unanswerable target must be in the vocabulary too.
    template: str = setting("tokenize.template")
    unanswerable_target: str = setting("tokenize.unanswerable_target")


@dataclasses.dataclass(frozen=True)
class ScratchModelSettings(StepSettings):
    STEP: ClassVar[str] = "scratch_model"
    architecture: dict = setting("model.scratch.architecture")
    seed: int = setting("model.scratch.seed")


@dataclasses.dataclass(frozen=True)
class TokenizeSettings(StepSettings):
    STEP: ClassVar[str] = "tokenize"
    template: str = setting("tokenize.template")
    template_without_context: str | None = setting("tokenize.template_without_context")
    target: str = setting("tokenize.target")
    unanswerable_target: str = setting("tokenize.unanswerable_target")
    max_source_length: int = setting("tokenize.max_source_length")
    max_target_length: int = setting("tokenize.max_target_length")
    text_columns: str = setting("tokenize.text_columns")
    long_inputs: str = setting("tokenize.long_inputs")
    stride: int | str = setting("tokenize.stride")
    unanswerable_window_share: float = setting("tokenize.unanswerable_window_share")
    train_validation_overlap: str = setting("tokenize.train_validation_overlap")

    @property
    def overlap(self) -> int:
        """The tokens consecutive windows share: `stride`, or a quarter of the window for `auto`."""
        return self.max_source_length // 4 if self.stride == "auto" else self.stride


@dataclasses.dataclass(frozen=True)
class TrainSettings(StepSettings):
    STEP: ClassVar[str] = "train"
    learning_rate: float = setting("train.learning_rate")
    epochs: float = setting("train.epochs")
    max_steps: int = setting("train.max_steps")
    batch_size: int = setting("train.batch_size")
    batch_tokens: int | None = setting("train.batch_tokens")
    gradient_accumulation_steps: int = setting("train.gradient_accumulation_steps")
    warmup_ratio: float = setting("train.warmup_ratio")
    weight_decay: float = setting("train.weight_decay")
    lr_scheduler: str = setting("train.lr_scheduler")
    seed: int = setting("train.seed")
    group_by_length: bool = setting("train.group_by_length")
    precision: str = setting("train.precision")
    torch_compile: bool = setting("train.torch_compile")
    gradient_checkpointing: bool = setting("train.gradient_checkpointing")
    save_steps: int = setting("train.save_steps")
    logging_steps: int = setting("train.logging_steps")
    report_to: list[str] = setting("train.report_to")
    eval_steps: int = setting("train.eval_steps")
    eval_examples: int = setting("train.eval_examples")
    best_metric: str = setting("train.best_metric")
    patience: int = setting("train.patience")


@dataclasses.dataclass(frozen=True)
class PredictSettings(StepSettings):
    STEP: ClassVar[str] = "predict"
    batch_size: int = setting("predict.batch_size")
    batch_tokens: int | None = setting("predict.batch_tokens")
    num_beams: int = setting("predict.num_beams")
    max_new_tokens: int | str = setting("predict.max_new_tokens")
    precision: str = setting("predict.precision")
    na_threshold: float | None = setting("predict.na_threshold")
