"""The format registry is the one list of formats, and t5qa.data.sources the one place deciding how a split is read."""

import json

import pandas as pd
import pytest

from t5qa import UNIFORM_COLUMNS
from t5qa.data.formats import FORMATS, get_format
from t5qa.data.normalize import normalize_file
from t5qa.data.sources import SPLITS, TEST, normalize_settings, raw_extension, read_split, split_spec
from t5qa.errors import InputError
from t5qa.plan.config_check import config_problems
from t5qa.settings import NormalizeSettings, config_schema, schema_entry

from .conftest import squad_json

ONE_ROW = {"id": "q1", "question": "Why?", "context": "Because.", "answer": "Because"}


def one_row_file(tmp_path, name: str):
    """A file of one question in the format `name`, named with the format's extension."""
    fmt = FORMATS[name]
    path = tmp_path / f"{name}.{fmt.extension}"
    if fmt.extension == "parquet":
        pd.DataFrame([ONE_ROW]).to_parquet(path)
    elif name == "squad_v2_json":
        qa = {"id": "q1", "question": "Why?", "answers": [{"text": "Because", "answer_start": 0}]}
        path.write_text(squad_json([{"context": "Because.", "qas": [qa]}]))
    elif name == "causalqa_csv":
        row = {**ONE_ROW, "question_processed": "why?", "context_processed": "because.", "answer_processed": "because"}
        path.write_text(",".join(UNIFORM_COLUMNS) + "\n" + ",".join(row[c] for c in UNIFORM_COLUMNS) + "\n")
    elif fmt.extension in ("csv", "tsv"):
        sep = "," if fmt.extension == "csv" else "\t"
        path.write_text(sep.join(ONE_ROW) + "\n" + sep.join(ONE_ROW.values()) + "\n")
    else:
        path.write_text(json.dumps([ONE_ROW]) if name == "json" else json.dumps(ONE_ROW) + "\n")
    return path


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_format_has_an_extension_and_a_reader_that_reads_its_files(tmp_path, name):
    fmt = FORMATS[name]
    assert fmt.name == name and fmt.extension and callable(fmt.read)
    table, stats = normalize_file(one_row_file(tmp_path, name), NormalizeSettings.from_dict({"format": name}))
    assert table[["id", "question", "context", "answer"]].to_dict("records") == [ONE_ROW]
    assert stats["rows_read"] == 1 and stats["dropped"] == {}


def test_what_the_records_say():
    assert FORMATS["hub"].extension == "parquet"  # the download step saves a hub split as parquet
    assert FORMATS["squad_v2_json"].extension == FORMATS["json"].extension == "json"
    fixed = [name for name, fmt in FORMATS.items() if not fmt.takes_columns]
    assert fixed == ["squad_v2_json", "causalqa_csv"]
    assert [name for name, fmt in FORMATS.items() if fmt.ships_processed] == ["causalqa_csv"]
    assert FORMATS["causalqa_csv"].needs == tuple(UNIFORM_COLUMNS)
    assert all("id" not in fmt.needs for fmt in FORMATS.values() if fmt.takes_columns)  # an absent id is derived


def lists_in(node):
    """Every list anywhere in a parsed YAML/JSON document."""
    if isinstance(node, list):
        yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        yield from lists_in(child)


def test_the_schema_no_longer_lists_format_names():
    entry = schema_entry("sources.*.format")
    assert entry["type"] == "string" and "enum" not in entry and "formats.py" in entry["description"]
    assert not [names for names in lists_in(config_schema()) if "squad_v2_json" in names or "causalqa_csv" in names]


def test_an_unknown_format_is_refused_with_a_suggestion():
    with pytest.raises(InputError) as err:
        get_format("tvs", "--settings")
    assert str(err.value).startswith("--settings: unknown format 'tvs' (did you mean 'tsv'?); the formats are ")
    assert str(err.value).endswith(", ".join(FORMATS))
    problems = config_problems({"sources": {"mine": {"format": "Parquet", "train": {"path": "m.parquet"}}}})
    assert problems == [
        f"source 'mine': unknown format 'Parquet' (did you mean 'parquet'?); the formats are {', '.join(FORMATS)}"
    ]


# --- t5qa.data.sources: splits as the validated config (defaults filled in) gives them


def spec(**changes) -> dict:
    base = {"format": "csv", "train": {"path": "t.csv"}, "validation_fraction": 0.25, "columns": {}, "strict": False}
    return {**base, **changes}


def test_a_source_without_validation_has_both_tables_carved_out_of_train():
    carved = spec(columns={"answer": "gold"})
    assert [read_split(carved, split) for split in SPLITS] == ["train", "train"]
    for split in SPLITS:
        settings = normalize_settings(carved, split)
        assert settings == {
            "format": "csv",
            "columns": {"answer": "gold"},
            "strict": False,
            "holdout": {"fraction": 0.25, "part": split},
        }
        assert NormalizeSettings.from_dict(settings).holdout == settings["holdout"]  # what the script accepts


def test_a_source_with_validation_reads_each_split_from_its_own_file():
    own = spec(validation={"path": "v.csv"}, strict=True)
    assert [read_split(own, split) for split in SPLITS] == ["train", "validation"]
    assert [normalize_settings(own, split)["holdout"] for split in SPLITS] == [None, None]
    assert normalize_settings(own, "validation")["strict"] is True


def test_a_test_split_is_its_own_file_even_when_validation_is_carved_out_of_train():
    with_test = spec(test={"path": "test.csv"})
    assert read_split(with_test, TEST) == TEST
    assert normalize_settings(with_test, TEST)["holdout"] is None  # every row of the test file, none of train's
    assert normalize_settings(with_test, "validation")["holdout"] == {"fraction": 0.25, "part": "validation"}
    assert split_spec(with_test, TEST, "original") == {"path": "test.csv"}
    with pytest.raises(ValueError, match="no test file"):
        split_spec(spec(), TEST, "original")


def test_split_spec_fills_the_split_family_and_refuses_a_carved_split():
    source = spec(format="causalqa_csv", train={"archive": "causalqa", "member": "{split_family}/t.csv"})
    assert split_spec(source, "train", "random") == {"archive": "causalqa", "member": "random/t.csv"}
    assert source["train"]["member"] == "{split_family}/t.csv"  # the config is not changed
    with pytest.raises(ValueError, match="no validation file"):
        split_spec(source, "validation", "original")


def test_an_unavailable_source_says_why():
    unavailable = spec(unavailable="rebuild the texts first")
    for call in (
        lambda: split_spec(unavailable, "train", "original"),
        lambda: normalize_settings(unavailable, "train"),
    ):
        with pytest.raises(ValueError, match="^rebuild the texts first$"):
            call()


def test_raw_extension_comes_from_the_registry():
    assert raw_extension(spec(format="hub")) == "parquet"
    assert {raw_extension(spec(format=name)) for name in FORMATS} == {fmt.extension for fmt in FORMATS.values()}
