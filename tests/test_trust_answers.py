"""Trust, third round (issue 30), classes 5 and 6: no silently wrong answer. A local model folder's files are part of
what makes its predictions stale; `t5qa ask` reads its input by the data steps' rules (UTF-8 only, a CSV row's
fields counted, a JSON key given once) and refuses a model folder without a tokenizer; sweep values that render to
one name, and names past a file name's length, are refused at DAG build."""

import codecs
import io
import json
import sys

import pytest

from t5qa.data.text_files import decode_utf8
from t5qa.errors import InputError
from t5qa.model import model_identity
from t5qa.model.ask import check_tokenizer_files, read_questions
from t5qa.model.model_identity import folder_identity
from t5qa.plan.experiments import declared_experiments, expand_sweep

# --------------------------------------------------------------------------- a model's identity


def test_replaced_weights_change_the_identity_even_at_the_same_size(tmp_path, monkeypatch):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"A" * 64)
    cache = tmp_path / "cache.json"
    first = folder_identity(folder, cache)
    assert [name for name, _, _ in first] == ["config.json", "model.safetensors"]
    (folder / "model.safetensors").write_bytes(b"B" * 64)  # new weights, same size, new mtime
    assert folder_identity(folder, cache) != first


def test_unchanged_files_are_not_hashed_again(tmp_path, monkeypatch):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "w.bin").write_bytes(b"w" * 1000)
    cache = tmp_path / "cache.json"
    first = folder_identity(folder, cache)
    calls = []
    monkeypatch.setattr(model_identity, "sha256_file", lambda path: calls.append(path) or "x")
    assert folder_identity(folder, cache) == first and calls == []


def test_train_and_predict_track_the_starting_model_files():
    from .workflow_helpers import REPO

    for rule in ("train", "predict"):
        assert "model_files=starting_model_files" in (REPO / f"workflow/rules/{rule}.smk").read_text()


# --------------------------------------------------------------------------- t5qa ask's input


def test_a_csv_row_with_an_extra_field_is_refused():
    """It was read by dropping the rest of the row."""
    text = "id,question,context\n1,Who?,Ann met Bob, then left\n"
    with pytest.raises(InputError, match=r"^q.csv: line 2: 4 fields, but the header has 3$"):
        read_questions(text, "q.csv")
    with pytest.raises(InputError, match="line 2: 2 fields, but the header has 3"):
        read_questions("id,question,context\n1,Who?\n", "q.csv")


def test_a_csv_question_over_several_lines_is_read_whole():
    questions = read_questions('id,question,context\n1,"Who\nthen?","Ann, Bob"\n2,Why?,\n', "q.csv")
    assert questions == [
        {"id": "1", "question": "Who\nthen?", "context": "Ann, Bob"},
        {"id": "2", "question": "Why?", "context": ""},
    ]


def test_a_jsonl_record_naming_a_key_twice_is_refused():
    """It was read by keeping the last value."""
    text = '{"question": "Who?", "context": "a"}\n{"question": "Who?", "context": "a", "context": "b"}\n'
    with pytest.raises(InputError, match=r"^q.jsonl: line 2: an object names the key 'context' twice"):
        read_questions(text, "q.jsonl")


def test_a_header_only_csv_names_the_users_file():
    with pytest.raises(InputError, match=r"^my questions.csv: a header but no questions$"):
        read_questions("id,question,context\n", "my questions.csv")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("question,context\nQué?,año\n".encode("latin-1"), r"line 2: not UTF-8 \(byte 0xe9"),
        (codecs.BOM_UTF16_LE + "question\nWho?\n".encode("utf-16-le"), "it looks like UTF-16, save it as UTF-8"),
    ],
)
def test_input_that_is_not_utf8_is_one_line(data, message):
    with pytest.raises(InputError, match=message):
        decode_utf8(data, "standard input")
    assert decode_utf8(codecs.BOM_UTF8 + "Qué".encode(), "x") == "Qué"


@pytest.mark.parametrize("where", ["file", "stdin"])
def test_ask_on_latin1_input_is_one_error_line(tmp_path, monkeypatch, where):
    from t5qa.commands.ask import main

    data = "question,context\nQué?,año\n".encode("latin-1")
    path = tmp_path / "q.csv"
    path.write_bytes(data)
    model = tmp_path / "model"
    model.mkdir()
    if where == "stdin":
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    with pytest.raises(InputError) as err:
        main([str(model), "--file", str(path) if where == "file" else "-"])
    assert "\n" not in str(err.value) and "line 2: not UTF-8 (byte 0xe9" in str(err.value)
    assert str(err.value).startswith(str(path) if where == "file" else "standard input")


def test_a_model_folder_without_a_tokenizer_is_refused(tmp_path):
    """It loaded an empty vocabulary and answered nothing, with exit status 0."""
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "t5"}))
    with pytest.raises(InputError, match=r"no tokenizer in this model folder \(none of tokenizer_config.json"):
        check_tokenizer_files(str(tmp_path))
    (tmp_path / "spiece.model").write_bytes(b"x")
    check_tokenizer_files(str(tmp_path))
    check_tokenizer_files("google-t5/t5-small")  # a hub id is checked when it loads


# --------------------------------------------------------------------------- names and labels


def test_two_sweep_values_rendering_to_one_name_are_refused():
    """`…/a/m` and `…/a_m` merged into one experiment without a word."""
    with pytest.raises(ValueError, match="two grid points render to the same name 's-name_or_patha_m'"):
        expand_sweep({"name": "s", "grid": {"model.name_or_path": ["a/m", "a_m"]}})
    assert len(expand_sweep({"name": "s", "grid": {"model.name_or_path": ["a/m", "a-m"]}})) == 2


def test_names_past_a_file_names_length_are_refused():
    with pytest.raises(ValueError, match="is 256 bytes long, over the 255 a file name may hold"):
        declared_experiments({"experiments": {"x" * 256: {}}})
    with pytest.raises(ValueError, match="over the 255 a file name may hold"):
        declared_experiments({"sweeps": [{"name": "s" * 250, "grid": {"train.learning_rate": [0.1]}}]})
    assert "x" * 255 in declared_experiments({"experiments": {"x" * 255: {}}})


def test_an_experiment_varying_the_template_builds_the_summary_dag(tmp_path):
    """Class 6: the summary's settings hold `{question}`; as a string param Snakemake read it as a wildcard."""
    from .workflow_helpers import snakemake, tiny_config, write_config, write_tiny_sources

    config = tiny_config(
        write_tiny_sources(tmp_path),
        experiments={"short": {"tokenize": {"template": "q: {question} c: {context}"}}},
    )
    result = snakemake(tmp_path, "-n", "--configfile", str(write_config(tmp_path, config)), check=False)
    assert result.returncode == 0 and "WildcardError" not in result.stderr, result.stderr[-2000:]
