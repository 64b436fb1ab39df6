"""Trust, second round (issue 22), class 3: every config mistake is one line at DAG build, naming the key path, the
value and what is allowed: a key given twice (with both line numbers), a misspelled key (with the close match, not
the whole schema and config), an out-of-range value, a source name with a space or a slash."""

import copy
import json

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from t5qa.plan.config_check import duplicate_keys, schema_problems, validate_config
from t5qa.settings import allowed, config_schema, schema_entry

from .workflow_helpers import REPO, snakemake, tiny_config, write_config, write_tiny_sources

BASE = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def with_changes(**changes) -> dict:
    config = copy.deepcopy(BASE)
    for key, value in changes.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) and key in config else value
    return config


def dry_run(tmp_path, config_text: str | None = None, **overrides) -> tuple[int, str, list[str]]:
    """`snakemake -n` on the tiny sources: its status, its output, and its `config:` lines."""
    sources = {**write_tiny_sources(tmp_path), **overrides.pop("sources", {})}
    path = write_config(tmp_path, tiny_config(sources, **overrides))
    if config_text is not None:
        path.write_text(path.read_text() + config_text)
    result = snakemake(tmp_path, "-n", "--configfile", str(path), check=False)
    output = result.stdout + result.stderr
    return result.returncode, output, [line for line in output.splitlines() if line.startswith("config: ")]


# --------------------------------------------------------------------------- keys given twice

# (YAML, the key path given twice, its two lines)
DUPLICATES = [
    ("train:\n  learning_rate: 0.1\n  learning_rate: 0.2\n", "train.learning_rate", (2, 3)),
    ("a: 1\nb: 2\na: 3\n", "a", (1, 3)),
    ("sources:\n  s:\n    format: csv\n    format: tsv\n", "sources.s.format", (3, 4)),
    ("x:\n  - {k: 1, k: 2}\n", "x[0].k", (2, 2)),
    ('{"train": {"seed": 1, "seed": 2}}', "train.seed", (1, 1)),  # a JSON config file
]


@pytest.mark.parametrize(("text", "key", "lines"), DUPLICATES)
def test_a_key_given_twice_is_named_with_both_lines(tmp_path, text, key, lines):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert duplicate_keys(path) == [
        f"{path}: {key} is given twice (lines {lines[0]} and {lines[1]}); the last would silently win: keep one"
    ]


@settings(max_examples=50, deadline=None, database=None)
@given(
    keys=st.lists(st.sampled_from(["a", "b", "c", "lr"]), min_size=1, max_size=6),
    nested=st.booleans(),
)
def test_duplicates_are_found_wherever_they_are(tmp_path_factory, keys, nested):
    indent = "  " if nested else ""
    text = ("outer:\n" if nested else "") + "".join(f"{indent}{key}: {i}\n" for i, key in enumerate(keys))
    path = tmp_path_factory.mktemp("dup") / "c.yaml"
    path.write_text(text)
    offset = 2 if nested else 1
    expected = []
    for i, key in enumerate(keys):
        if key in keys[:i]:
            name = f"outer.{key}" if nested else key
            first = keys.index(key) + offset
            expected.append(f"{path}: {name} is given twice (lines {first} and {i + offset}); the last would silently")
    problems = duplicate_keys(path)
    assert len(problems) == len(expected) and all(p.startswith(e) for p, e in zip(problems, expected))


def test_the_shipped_configs_name_no_key_twice():
    for path in [*(REPO / "config").glob("*.yaml"), REPO / "profiles" / "slurm" / "config.yaml"]:
        assert duplicate_keys(path) == [], path


def test_snakemake_refuses_a_key_given_twice(tmp_path):
    status, output, lines = dry_run(tmp_path, config_text="train:\n  seed: 1\n")  # the file has `train:` already
    assert status != 0
    assert len(lines) == 1 and "config.yaml: train is given twice (lines " in lines[0], output


# --------------------------------------------------------------------------- misspelled keys


@pytest.mark.parametrize(
    ("changes", "line"),
    [
        ({"trian": {"seed": 1}}, "trian: unknown key (did you mean 'train'?); the keys here: experiments, "),
        ({"train": {"learnig_rate": 0.1}}, "train.learnig_rate: unknown key (did you mean 'learning_rate'?)"),
        ({"predict": {"beams": 2}}, "predict.beams: unknown key (did you mean 'num_beams'?)"),
        ({"zzz": 1}, "zzz: unknown key; the keys here:"),
    ],
)
def test_a_misspelled_key_is_one_line_with_the_close_match(changes, line):
    problems = schema_problems(with_changes(**changes))
    assert len(problems) == 1 and problems[0].startswith(line), problems


def test_snakemake_names_a_misspelled_key_in_one_line(tmp_path):
    status, output, lines = dry_run(tmp_path, trian={"seed": 1})
    assert status != 0 and len(lines) == 1, output
    assert lines[0].startswith("config: trian: unknown key (did you mean 'train'?)")
    assert "Traceback" not in output and len(output.splitlines()) < 8, output  # it printed over 1,000 lines


# --------------------------------------------------------------------------- out-of-range values, from the schema


def numeric_leaves(node: dict, path: str):
    """Every setting of model/tokenize/train/predict with a numeric bound: (path, schema)."""
    node = {**config_schema()["$defs"].get(node.get("$ref", "").removeprefix("#/$defs/"), {}), **node}
    if node.get("type") == "object":
        for key, child in node.get("properties", {}).items():
            yield from numeric_leaves(child, f"{path}.{key}")
    elif any(bound in node for bound in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")):
        yield path, node


BOUNDED = [
    (path, node)
    for section in ("model", "tokenize", "train", "predict")
    for path, node in numeric_leaves(config_schema()["properties"][section], section)
]


def out_of_range(node: dict) -> list:
    values = []
    if "minimum" in node:
        values.append(node["minimum"] - 1)
    if "exclusiveMinimum" in node:
        values.append(node["exclusiveMinimum"])
    if "maximum" in node:
        values.append(node["maximum"] + 1)
    if "exclusiveMaximum" in node:
        values.append(node["exclusiveMaximum"])
    return values


def nested(path: str, value) -> dict:
    *parents, leaf = path.split(".")
    change = {leaf: value}
    for parent in reversed(parents[1:]):
        change = {parent: change}
    return {parents[0]: change}


def merged(config: dict, change: dict) -> dict:
    for key, value in change.items():
        config[key] = merged(config.get(key, {}), value) if isinstance(value, dict) else value
    return config


@pytest.mark.parametrize(
    ("path", "value"), [(path, value) for path, node in BOUNDED for value in out_of_range(node)], ids=str
)
def test_every_out_of_range_value_is_one_line_naming_path_value_and_what_is_allowed(path, value):
    assert len(BOUNDED) > 15
    problems = schema_problems(merged(copy.deepcopy(BASE), nested(path, value)))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}: {json.dumps(value)} is not allowed; allowed: "), problems
    assert allowed(schema_entry(path)) in problems[0]


@pytest.mark.parametrize(
    ("change", "line"),
    [
        ({"train": {"batch_size": "32"}}, 'train.batch_size: "32" is not allowed; allowed: an integer, at least 1'),
        ({"train": {"batch_size": 32.0}}, "train.batch_size: 32.0 is not allowed; allowed: an integer, at least 1"),
        ({"train": {"precision": "fp8"}}, 'train.precision: "fp8" is not allowed; allowed: "auto" or '),
        (
            {"tokenize": {"stride": "half"}},
            'tokenize.stride: "half" is not allowed; allowed: an integer, at least 0 or',
        ),
        ({"train": 5}, "train: 5 is not allowed; allowed: a mapping"),
        ({"datasets": {"d": []}}, "datasets.d: [] is not allowed; allowed: a list, with at least 1 items"),
    ],
)
def test_other_wrong_values_are_one_line(change, line):
    problems = schema_problems(merged(copy.deepcopy(BASE), change))
    assert len(problems) == 1 and problems[0].startswith(line), problems


@pytest.mark.parametrize("name", ["my source", "a/b", "a.b", "", "ü"])
def test_a_source_name_with_a_space_or_slash_is_one_line(name):
    config = with_changes(sources={**BASE["sources"], name: {"format": "csv", "train": {"path": "x.csv"}}})
    problems = schema_problems(config)
    assert problems == [
        f"sources: the name {json.dumps(name, ensure_ascii=False)} is not allowed; a name must be text, of letters, "
        "digits, '_' and '-' only (no spaces, dots or slashes)"
    ]


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        ({"train": {"warmup_ratio": 1.5}}, "config: train.warmup_ratio: 1.5 is not allowed; allowed: a number, at"),
        (
            {"predict": {"num_beams": 65}},
            "config: predict.num_beams: 65 is not allowed; allowed: an integer, at least 1",
        ),
        (
            {"sources": {"my source": {"format": "csv", "train": {"path": "x.csv"}}}},
            'config: sources: the name "my source" is not allowed; a name must be text, of letters, digits',
        ),
    ],
)
def test_snakemake_prints_one_line_for_a_wrong_value(tmp_path, overrides, line):
    status, output, lines = dry_run(tmp_path, **overrides)
    # (the tiny config's dataset lists the badly named source too: one more line, naming datasets.tiny[2])
    assert status != 0 and len(lines) == 1 + ("sources" in overrides), output
    assert any(problem.startswith(line) for problem in lines), output
    assert "Traceback" not in output and len(output.splitlines()) < 8, output


# --------------------------------------------------------------------------- what validation still does


def test_validation_fills_in_the_defaults_each_its_own_copy():
    config = {
        "sources": {"a": {"format": "csv", "train": {"path": "a"}}, "b": {"format": "csv", "train": {"path": "b"}}}
    }
    config |= {"datasets": {"d": ["a", "b"]}, "model": {"name_or_path": "t5-small", "tokenizer": "t5-small"}}
    validate_config(config)
    assert config["train"]["learning_rate"] == schema_entry("train.learning_rate")["default"]
    assert config["tokenize"]["train_validation_overlap"] == "warn"
    assert (
        config["sources"]["a"]["columns"] == {}
        and config["sources"]["a"]["columns"] is not config["sources"]["b"]["columns"]
    )


def test_every_problem_is_reported_at_once(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  seed: 1\n  seed: 2\n")
    config = with_changes(trian={}, predict={"batch_size": 0})
    with pytest.raises(ValueError) as raised:
        validate_config(config, [path])
    lines = str(raised.value).splitlines()
    assert len(lines) == 3 and all(line.startswith("config: ") for line in lines), lines
