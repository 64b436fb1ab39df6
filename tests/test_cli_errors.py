"""Bad input to a step's CLI ends in one line `error: <file or argument>: <problem>` and exit status 1: never a
traceback, never an output, never a hidden temporary beside where the output would go.

Hypothesis draws malformed variants of every input (truncated and random-byte files, wrong types and shapes, bad
encodings, absurd sizes) mixed with good ones, so each run must end either in a correct output or in that one line.
Most examples call a script's main() in this process (fast); a few run the real script in a subprocess.
"""

import contextlib
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from unittest import mock

import datasets
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from t5qa import UNIFORM_COLUMNS, cli
from t5qa.errors import InputError
from t5qa.evaluate.metrics import load_predictions
from t5qa.settings import TokenizeSettings, check_value

from .conftest import SCRIPTS

# Bounded so the whole file runs in well under two minutes: a subprocess pays Python's and torch's start each time.
MANY, FEW, SUBPROCESS, HEAVY_SUBPROCESS = (
    settings(max_examples=n, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    for n in (40, 20, 3, 2)
)
TINY_ARCHITECTURE = {"d_model": 16, "d_ff": 32, "d_kv": 8, "num_heads": 2, "num_layers": 1, "num_decoder_layers": 1}
TOKENIZE_SETTINGS = {
    "template": "question: {question} context: {context}",
    "unanswerable_target": "unanswerable",
    "max_source_length": 64,
    "max_target_length": 8,
    "text_columns": "raw",
}
PREDICT_SETTINGS = {"batch_size": 4, "num_beams": 1, "max_new_tokens": 3}


# --- running a CLI


def _module(script: str):
    spec = importlib.util.spec_from_file_location(f"script_{script}", SCRIPTS / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MODULES = {}


def in_process(script: str, *args: str) -> tuple[int, str]:
    """main() as the script runs it (cli.run), in this process: exit status and stderr."""
    if script not in MODULES:
        MODULES[script] = _module(script)
    module = MODULES[script]
    stderr = io.StringIO()
    with mock.patch.object(sys, "argv", [f"{script}.py", *args]), contextlib.redirect_stderr(stderr):
        try:
            cli.run(module.main)
        except SystemExit as exit_:
            return exit_.code, stderr.getvalue()
    raise AssertionError("cli.run returned without exiting")


def in_subprocess(script: str, *args: str) -> tuple[int, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / f"{script}.py"), *args], capture_output=True, text=True, env=env
    )
    return result.returncode, result.stderr


def assert_clean(status: int, stderr: str, outputs: list[Path]) -> bool:
    """Either every output exists (True) or one error line and nothing at all was written (False)."""
    leftovers = [p for out in outputs for p in out.parent.glob(f".{out.name}.*")]
    assert not leftovers, f"hidden temporaries left: {leftovers}\n{stderr}"
    if status == 0:
        assert all(out.exists() for out in outputs), stderr
        event("output written")
        return True
    assert status == 1, stderr
    assert "Traceback" not in stderr, stderr
    last = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    assert last.startswith("error: "), stderr
    written = [out for out in outputs if out.exists()]
    assert not written, f"partial output {written}\n{stderr}"
    event(f"refused: {re.sub(r'/[^ :]*/', '', last)[:70]}")  # --hypothesis-show-statistics groups them by kind
    return False


# --- malformed files


def rarely(percent: int):
    """True `percent` % of the time; False in the simplest example, so Hypothesis starts from good input."""
    return st.integers(0, 99).map(lambda n: n >= 100 - percent)


def text_cells(max_size: int = 20):
    return st.text(max_size=max_size)


def json_values():
    scalars = st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats() | text_cells()
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text_cells(5), inner))


def table_rows(prefix: str):
    row = st.tuples(text_cells(), text_cells(), text_cells(8))
    return st.lists(row, min_size=1, max_size=5).map(
        lambda rows: [
            {
                "id": f"{prefix}{i}",
                "question": q or "why?",
                "question_processed": (q or "why?").lower(),
                "context": c,
                "context_processed": c.lower(),
                "answer": a,
                "answer_processed": a.lower(),
            }
            for i, (q, c, a) in enumerate(rows)
        ]
    )


TABLE_DAMAGE = [
    "drop a column",
    "numbers in a text column",
    "a null cell",
    "a duplicated id",
    "no rows",
    "truncated",
    "random bytes",
    "csv instead of parquet",
    "a huge cell",
    "a folder",
    "missing",
]


@st.composite
def tables(draw, prefix: str = "q"):
    """(rows, damage or None): a normalised table, sometimes damaged."""
    rows = draw(table_rows(prefix))
    damage = draw(st.sampled_from(TABLE_DAMAGE)) if draw(rarely(25)) else None
    return rows, damage, draw(st.randoms(use_true_random=False))


def write_table(path: Path, table) -> Path:
    rows, damage, rng = table
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows, columns=UNIFORM_COLUMNS)
    if damage == "drop a column":
        frame = frame.drop(columns=[rng.choice(UNIFORM_COLUMNS)])
    elif damage == "numbers in a text column":
        frame[rng.choice(UNIFORM_COLUMNS)] = range(len(frame))
    elif damage == "a null cell":
        frame.loc[rng.randrange(len(frame)), rng.choice(UNIFORM_COLUMNS)] = None
    elif damage == "a duplicated id":
        frame = pd.concat([frame, frame.iloc[:1]], ignore_index=True)
    elif damage == "no rows":
        frame = frame.iloc[:0]
    elif damage == "a huge cell":
        frame.loc[0, "context"] = "word " * 200_000
    if damage == "a folder":
        path.mkdir(parents=True)
        return path
    if damage == "missing":
        return path
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    data = buffer.getvalue()
    if damage == "truncated":
        data = data[: rng.randrange(len(data))]
    elif damage == "random bytes":
        data = rng.randbytes(rng.randrange(200))
    elif damage == "csv instead of parquet":
        data = frame.to_csv(index=False).encode()
    path.write_bytes(data)
    return path


def table_ids(table) -> list[str]:
    return [row["id"] for row in table[0]]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return tmp_path_factory.mktemp("cli_errors")


def example_dir(base: Path) -> Path:
    """A fresh folder per Hypothesis example (function-scoped fixtures are shared across examples)."""
    return Path(tempfile.mkdtemp(dir=base))


# --- evaluate


PREDICTION_DAMAGE = [
    b"not json {",
    b"[1, 2]",
    b"42",
    b'"text"',
    b"null",
    b'{"id": 7, "prediction": "x"}',
    b'{"id": "q0", "prediction": null}',
    b'{"id": "q0"}',
    b'{"id": "q0", "prediction": "x", "source": 5}',
    b'{"id": "q0", "prediction": "x", "source": ["a"]}',
    b'{"id": "\\ud800", "prediction": "x"}',
    b'{"id": "caf\xe9", "prediction": "x"}',
    b"\xff\xfe\x00garbage",
    b"[" * 100_000,
]


@st.composite
def evaluate_inputs(draw):
    references = draw(st.lists(tables("q"), min_size=1, max_size=2))
    named = draw(st.booleans())
    sources = draw(st.sampled_from(["own", "own", "own", "none", "elsewhere"]))
    lines = []
    for index, table in enumerate(references):
        for id_ in table_ids(table):
            source = {"own": f"s{index}", "none": None, "elsewhere": "elsewhere"}[sources]
            prediction = draw(text_cells() | st.just("x" * 100_000))
            row = {"id": id_, "prediction": prediction, **({"source": source} if source else {})}
            lines.append(json.dumps(row).encode())
    if draw(rarely(10)):
        del lines[draw(st.integers(0, len(lines) - 1))]
    if draw(rarely(30)):
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(PREDICTION_DAMAGE)))
    data = b"\n".join(lines) + b"\n"
    if draw(rarely(10)):
        data = data[: draw(st.integers(0, len(data)))]
    train = draw(st.lists(tables("t"), max_size=1))
    return references, named, data, train


def check_evaluate(run, base: Path, inputs) -> None:
    references, named, predictions, train = inputs
    folder = example_dir(base)
    (folder / "p.jsonl").write_bytes(predictions)
    ref_args = []
    for index, table in enumerate(references):
        path = write_table(folder / f"s{index}" / "validation.parquet", table) if named else None
        path = path or write_table(folder / f"r{index}.parquet", table)
        ref_args.append(f"s{index}={path}" if named else str(path))
    train_args = [str(write_table(folder / f"t{i}.parquet", t)) for i, t in enumerate(train)]
    outputs = [folder / "out" / "m.json", folder / "out" / "m.manifest.json"]
    args = ["--predictions", str(folder / "p.jsonl"), "--references", *ref_args, "--output", str(outputs[0])]
    args += ["--manifest", str(outputs[1]), *(["--train-references", *train_args] if train_args else [])]
    status, stderr = run("metrics", *args)
    if assert_clean(status, stderr, outputs):
        metrics = json.loads(outputs[0].read_text())
        assert metrics["total"] == sum(len(table_ids(t)) for t in references)


@MANY
@given(inputs=evaluate_inputs())
def test_evaluate_in_process(base, inputs):
    check_evaluate(in_process, base, inputs)


@SUBPROCESS
@given(inputs=evaluate_inputs())
def test_evaluate_subprocess(base, inputs):
    check_evaluate(in_subprocess, base, inputs)


@MANY
@given(lines=st.lists(st.binary(max_size=40) | st.sampled_from(PREDICTION_DAMAGE), max_size=4))
def test_load_predictions_takes_any_bytes(base, lines):
    path = example_dir(base) / "p.jsonl"
    path.write_bytes(b"\n".join(lines))
    try:
        rows = load_predictions(path)
    except InputError as err:
        assert str(err).startswith(str(path))
    else:
        assert all(isinstance(row["id"], str) and isinstance(row["prediction"], str) for row in rows)


# --- tokenize


TOKENIZER_DAMAGE = ["an empty folder", "missing", "a file", "garbage tokenizer.json", "not/a/hub/id"]
TEMPLATES = ["{question", "{answer}", "{question:d}", "{}", "{0}", "{question.upper}", "{question[0]}", "{context}"]


@st.composite
def settings_objects(draw, valid: dict, numbers: dict):
    """A valid settings object, or one with a key dropped, added, mistyped, out of range, or no object at all."""
    settings = dict(valid)
    damage = draw(st.sampled_from(["drop", "add", "mistype", "range", "not object"])) if draw(rarely(50)) else None
    if damage == "drop":
        del settings[draw(st.sampled_from(sorted(settings)))]
    elif damage == "add":
        settings[draw(text_cells(8))] = draw(json_values())
    elif damage == "mistype":
        settings[draw(st.sampled_from(sorted(settings)))] = draw(json_values())
    elif damage == "range":
        settings[draw(st.sampled_from(sorted(numbers)))] = draw(st.sampled_from([0, -1, 10**18, 1.5, True]))
    text = json.dumps(settings)
    if damage == "not object":
        text = draw(st.sampled_from(["[]", "null", '"x"', "{", "", "{'single': 1}", "[" * 5000]))
    return text


@st.composite
def tokenize_inputs(draw):
    settings = dict(TOKENIZE_SETTINGS)
    if draw(rarely(15)):
        settings["template"] = draw(st.sampled_from(TEMPLATES))
    if draw(rarely(10)):
        settings["text_columns"] = "processed"
    text = draw(settings_objects(settings, {"max_source_length": 8, "max_target_length": 2}))
    tokenizer = draw(st.sampled_from(TOKENIZER_DAMAGE)) if draw(rarely(15)) else None
    train = draw(st.lists(tables("t"), min_size=1, max_size=2))
    validation = draw(st.lists(tables("v"), min_size=1, max_size=2))
    same_names = draw(rarely(5))
    return text, tokenizer, train, validation, same_names


def bad_tokenizer(folder: Path, damage: str) -> str:
    path = folder / "tokenizer"
    if damage == "an empty folder":
        path.mkdir()
    elif damage == "a file":
        path.write_text("hello")
    elif damage == "garbage tokenizer.json":
        path.mkdir()
        (path / "tokenizer.json").write_bytes(b"\x00\x01 not json")
        (path / "tokenizer_config.json").write_text("{}")
    elif damage == "not/a/hub/id":
        return damage
    return str(path)


def check_tokenize(run, base: Path, tiny_tokenizer: Path, inputs) -> None:
    text, tokenizer, train, validation, same_names = inputs
    folder = example_dir(base)
    tokenizer_arg = str(tiny_tokenizer) if tokenizer is None else bad_tokenizer(folder, tokenizer)
    splits = {}
    for split, split_tables in (("train", train), ("validation", validation)):
        splits[split] = [
            f"{'s' if same_names else f's{i}'}={write_table(folder / split / f'{i}.parquet', table)}"
            for i, table in enumerate(split_tables)
        ]
    outputs = [folder / "out" / "tokenized", folder / "out" / "tokenized.stats.json"]
    status, stderr = run(
        "tokenize_data",
        "--tokenizer",
        tokenizer_arg,
        "--train",
        *splits["train"],
        "--validation",
        *splits["validation"],
        "--output",
        str(outputs[0]),
        "--stats",
        str(outputs[1]),
        "--settings",
        text,
    )
    if assert_clean(status, stderr, outputs):
        saved = datasets.load_from_disk(str(outputs[0]))
        # Every validation question is kept, once or (a context longer than max_source_length) as several windows.
        questions = set(zip(saved["validation"]["source"], saved["validation"]["id"], strict=True))
        assert len(questions) == sum(len(table_ids(t)) for t in validation)
        assert json.loads(outputs[1].read_text())["train"]["rows"] == sum(len(table_ids(t)) for t in train)


QUESTION = {column: "why?" if column.startswith("question") else "" for column in UNIFORM_COLUMNS}
# A context of 200,000 words: thousands of windows, still one validation question (a suite run drew one like it).
HUGE_CONTEXT = [
    ([QUESTION | {"id": f"v{i}"} for i in range(5)], None, None),
    ([QUESTION | {"id": "v0"}], "a huge cell", None),
]


@FEW
@given(inputs=tokenize_inputs())
@example(inputs=(json.dumps(TOKENIZE_SETTINGS), None, HUGE_CONTEXT[:1], HUGE_CONTEXT, False))
def test_tokenize_in_process(base, tiny_tokenizer, inputs):
    check_tokenize(in_process, base, tiny_tokenizer, inputs)


@HEAVY_SUBPROCESS
@given(inputs=tokenize_inputs())
def test_tokenize_subprocess(base, tiny_tokenizer, inputs):
    check_tokenize(in_subprocess, base, tiny_tokenizer, inputs)


# --- predict


@pytest.fixture(scope="module")
def trained(base, tiny_tokenizer):
    """A tiny random-init model with its tokenizer, and a tokenized folder and stats made with that tokenizer."""
    from transformers import AutoTokenizer

    from t5qa.data.tokenize_data import tokenize_dataset
    from t5qa.model.scratch_model import build_model

    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer)
    model_dir = base / "model"
    build_model(tokenizer, TINY_ARCHITECTURE, seed=0).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    small = base / "small_vocab_model"
    small_tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer)
    model = build_model(small_tokenizer, TINY_ARCHITECTURE, seed=0)
    model.resize_token_embeddings(8)
    model.save_pretrained(small)
    small_tokenizer.save_pretrained(small)
    rows = [
        {c: f"{c} {i} why did the river flood" for c in UNIFORM_COLUMNS} | {"id": f"v{i}", "answer": "river"}
        for i in range(5)
    ]
    table = base / "normalized" / "validation.parquet"
    table.parent.mkdir()
    pd.DataFrame(rows, columns=UNIFORM_COLUMNS).to_parquet(table)
    tables = {"train": [("s", table)], "validation": [("s", table)]}
    stats = tokenize_dataset(tables, tokenizer, TokenizeSettings.from_dict(TOKENIZE_SETTINGS), base / "tokenized")
    stats["settings"] = TOKENIZE_SETTINGS
    (base / "tokenized.stats.json").write_text(json.dumps(stats))
    return {"model": model_dir, "small_vocab_model": small, "tokenized": base / "tokenized"}


MODEL_DAMAGE = ["an empty folder", "missing", "truncated weights", "no config", "garbage config", "small vocabulary"]
TOKENIZED_DAMAGE = ["an empty folder", "missing", "a file", "one Dataset", "no validation", "no input_ids", "bad state"]
STATS_DAMAGE = ["missing", "random bytes", "a list", "no settings", "text max", "zero max", "latin-1"]


@st.composite
def predict_inputs(draw):
    settings = dict(PREDICT_SETTINGS)
    if draw(rarely(30)):
        settings["max_new_tokens"] = draw(st.sampled_from(["auto", "Auto", None, 2]))
    if draw(rarely(10)):
        settings["precision"] = draw(st.sampled_from(["auto", "fp32", "fp16"]))
    text = draw(settings_objects(settings, {"batch_size": 1, "num_beams": 1}))
    pick = lambda kinds: draw(st.sampled_from(kinds)) if draw(rarely(20)) else None  # noqa: E731
    return text, pick(MODEL_DAMAGE), pick(TOKENIZED_DAMAGE), pick(STATS_DAMAGE), draw(st.randoms())


def damaged_model(folder: Path, trained: dict, damage: str) -> Path:
    if damage == "small vocabulary":
        return trained["small_vocab_model"]
    path = folder / "model"
    if damage == "missing":
        return path
    path.mkdir()
    if damage == "an empty folder":
        return path
    for name in ("config.json", "model.safetensors", "tokenizer_config.json", "spiece.model"):
        if (trained["model"] / name).exists():
            (path / name).write_bytes((trained["model"] / name).read_bytes())
    if damage == "truncated weights":
        weights = path / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])
    elif damage == "no config":
        (path / "config.json").unlink()
    elif damage == "garbage config":
        (path / "config.json").write_text('{"model_type": "t5", "d_model": "wide"')
    return path


def damaged_tokenized(folder: Path, trained: dict, damage: str) -> Path:
    path = folder / "tokenized"
    if damage == "missing":
        return path
    if damage == "an empty folder":
        path.mkdir()
    elif damage == "a file":
        path.write_text("not a folder")
    else:
        splits = datasets.load_from_disk(str(trained["tokenized"]))
        if damage == "one Dataset":
            splits["validation"].save_to_disk(str(path))
        elif damage == "no validation":
            datasets.DatasetDict({"train": splits["train"]}).save_to_disk(str(path))
        elif damage == "no input_ids":
            splits["validation"] = splits["validation"].remove_columns(["input_ids"])
            splits.save_to_disk(str(path))
        elif damage == "bad state":
            splits.save_to_disk(str(path))
            (path / "validation" / "state.json").write_text("{broken")
    return path


def damaged_stats(folder: Path, trained: dict, damage: str, rng) -> Path:
    path = folder / "stats.json"
    stats = json.loads((trained["tokenized"].parent / "tokenized.stats.json").read_text())
    if damage == "missing":
        return path
    if damage == "random bytes":
        path.write_bytes(rng.randbytes(rng.randrange(100)))
        return path
    if damage == "a list":
        stats = [stats]
    elif damage == "no settings":
        del stats["settings"]
    elif damage == "text max":
        stats["train"]["target_length"]["max"] = "7"
    elif damage == "zero max":
        stats["settings"]["max_target_length"] = 0
    data = json.dumps(stats).encode()
    path.write_bytes(data.replace(b"{", b"{\xe9", 1) if damage == "latin-1" else data)
    return path


def check_predict(run, base: Path, trained: dict, inputs) -> None:
    text, model, tokenized, stats, rng = inputs
    folder = example_dir(base)
    model_path = trained["model"] if model is None else damaged_model(folder, trained, model)
    tokenized_path = trained["tokenized"] if tokenized is None else damaged_tokenized(folder, trained, tokenized)
    stats_path = damaged_stats(folder, trained, stats, rng) if stats else base / "tokenized.stats.json"
    output = folder / "out" / "predictions.jsonl"
    args = ["--model", str(model_path), "--tokenized", str(tokenized_path), "--stats", str(stats_path)]
    status, stderr = run("predict", *args, "--output", str(output), "--settings", text)
    if assert_clean(status, stderr, [output]):
        rows = [json.loads(line) for line in output.read_text().splitlines()]
        assert [row["id"] for row in rows] == [f"v{i}" for i in range(5)]


@FEW
@given(inputs=predict_inputs())
def test_predict_in_process(base, trained, inputs):
    check_predict(in_process, base, trained, inputs)


@HEAVY_SUBPROCESS
@given(inputs=predict_inputs())
def test_predict_subprocess(base, trained, inputs):
    check_predict(in_subprocess, base, trained, inputs)


# --- download


ZIP_DAMAGE = ["truncated", "random bytes", "missing", "not given"]


def location_values():
    """Text a location may hold: good paths, URLs that fail fast, malformed ones, and non-text values."""
    return st.sampled_from(
        [
            "@good",
            "@good_uri",
            "input/data.csv",
            "input/other.csv",
            "@good_folder",
            "/nonexistent/file.json",
            "",
            "http://127.0.0.1:9/nothing",
            "http://[::1",
            "ftp://example.org/x",
            "org/nonexistent-dataset",
            "0" * 32,
            "z" * 64,
        ]
    ) | json_values().filter(lambda v: not isinstance(v, str))


@st.composite
def download_inputs(draw):
    keys = draw(
        st.lists(
            st.sampled_from(["url", "path", "member", "hub", "md5", "sha256", "archive", "split", "junk"]),
            min_size=0,
            max_size=3,
            unique=True,
        )
    )
    location = {key: draw(location_values()) for key in keys}
    if draw(rarely(40)):  # a plausible one, to see successes too
        location = draw(
            st.sampled_from(
                [{"path": "@good"}, {"url": "@good_uri"}, {"member": "input/data.csv"}, {"hub": "@good_folder"}]
            )
        )
    text = json.dumps(location)
    if draw(rarely(5)):
        text = draw(st.sampled_from(["[]", "{", "null", "{'path': 1}"]))
    archive = draw(st.sampled_from(ZIP_DAMAGE)) if draw(rarely(30)) else None
    return text, archive, draw(st.randoms())


def check_download(run, base: Path, inputs) -> None:
    text, archive_damage, rng = inputs
    folder = example_dir(base)
    good = folder / "good.json"
    good.write_text('{"a": 1}')
    hub = folder / "hub"
    hub.mkdir()
    (hub / "train.jsonl").write_text('{"a": 1}\n')
    archive = folder / "a.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("input/data.csv", "id,question\n1,why\n")
    if archive_damage == "truncated":
        archive.write_bytes(archive.read_bytes()[: rng.randrange(50, 120)])
    elif archive_damage == "random bytes":
        archive.write_bytes(rng.randbytes(100))
    elif archive_damage == "missing":
        archive.unlink()
    for placeholder, value in (("@good_uri", good.as_uri()), ("@good_folder", str(hub)), ("@good", str(good))):
        text = text.replace(placeholder, value)
    output = folder / "out" / "raw.json"
    args = ["--location", text, "--output", str(output), "--retries", "1", "--backoff", "0"]
    args += [] if archive_damage == "not given" else ["--archive", str(archive)]
    status, stderr = run("download", *args)
    assert_clean(status, stderr, [output, output.with_name("raw.json.manifest.json")])


@MANY
@given(inputs=download_inputs())
def test_download_in_process(base, inputs):
    check_download(in_process, base, inputs)


@SUBPROCESS
@given(inputs=download_inputs())
def test_download_subprocess(base, inputs):
    check_download(in_subprocess, base, inputs)


# --- prefetch


NAMES = ["scratch", "@folder", "@file", "@missing", "a b c", "x/y/z", "org/not-cached-model", "", "-" * 200]


@MANY
@given(name=st.sampled_from(NAMES))
def test_prefetch_in_process(base, name):
    check_prefetch(in_process, base, name)


@SUBPROCESS
@given(name=st.sampled_from(NAMES))
def test_prefetch_subprocess(base, name):
    check_prefetch(in_subprocess, base, name)


def check_prefetch(run, base: Path, name: str) -> None:
    folder = example_dir(base)
    (folder / "folder").mkdir()
    (folder / "file").write_text("x")
    name = {"@folder": str(folder / "folder"), "@file": str(folder / "file"), "@missing": str(folder / "no")}.get(
        name, name
    )
    output = folder / "out" / "model.json"
    status, stderr = run("prefetch", f"--name={name}", "--output", str(output))
    if assert_clean(status, stderr, [output]):
        assert json.loads(output.read_text())["location"] == "local"


# --- the one way values are checked (JSON Schema, with the config's words)


RUN_LIKE = {
    "type": "object",
    "properties": {"batch_size": {"type": "integer"}, "num_beams": {"anyOf": [{"type": "integer"}, {"const": "auto"}]}},
    "required": ["batch_size"],
    "additionalProperties": False,
}


@MANY
@given(settings_=st.dictionaries(st.sampled_from(["batch_size", "num_beams", "other"]), json_values(), max_size=3))
def test_check_value_names_every_problem(settings_):
    try:
        check_value(settings_, RUN_LIKE, "--settings")
    except InputError as err:
        message = str(err)
        assert message.startswith("--settings: ")
        if "batch_size" not in settings_:
            assert "missing 'batch_size'" in message
        if "other" in settings_:
            assert "other: unknown key" in message
    else:
        assert type(settings_["batch_size"]) is int and "other" not in settings_


def test_check_value_examples():
    with pytest.raises(InputError, match=r"^--settings: bogus: unknown key; the keys here: batch_size, num_beams"):
        check_value({"batch_size": 1, "bogus": 1}, RUN_LIKE, "--settings")
    with pytest.raises(InputError, match="batch_size: true is not allowed; allowed: an integer"):
        check_value({"batch_size": True}, RUN_LIKE, "--settings")
    with pytest.raises(InputError, match='num_beams: "Auto" is not allowed; allowed: an integer or "auto"'):
        check_value({"batch_size": 1, "num_beams": "Auto"}, RUN_LIKE, "--settings")
    with pytest.raises(InputError, match="^x: missing 'batch_size'$"):
        check_value({}, RUN_LIKE, "x")
    # A key with a control character or a space is quoted, so the message stays one readable line.
    with pytest.raises(InputError, match=r'^--settings: "\\r": unknown key; .*; "a b": unknown key;'):
        check_value({"batch_size": 1, "\r": 1, "a b": 2}, RUN_LIKE, "--settings")


def test_error_line_is_one_line_whatever_the_message_holds():
    def main():
        raise InputError("data\nerror: forged.csv: line 1\rmore")

    with (
        mock.patch.object(sys, "argv", ["x.py"]),
        contextlib.redirect_stderr(io.StringIO()) as stderr,
        pytest.raises(SystemExit),
    ):
        cli.run(main)
    assert stderr.getvalue() == "error: data\\nerror: forged.csv: line 1\\rmore\n"


# --- train

TRAIN_SETTINGS = {
    "learning_rate": 0.01,
    "epochs": 1,
    "batch_size": 2,
    "seed": 0,
    "save_steps": 50,
    "max_steps": 2,
    "eval_steps": 1,
    "eval_examples": 3,
}
TRAIN_TOKENIZED_DAMAGE = [
    "an empty folder",
    "missing",
    "a file",
    "one Dataset",
    "no train",
    "no labels",
    "empty",
    "no validation",
    "no answers",
]
TRAIN_NUMBERS = {"batch_size": 1, "save_steps": 1, "max_steps": 1, "eval_examples": 1}


@st.composite
def train_inputs(draw):
    text = draw(settings_objects(TRAIN_SETTINGS, TRAIN_NUMBERS))
    pick = lambda kinds: draw(st.sampled_from(kinds)) if draw(rarely(25)) else None  # noqa: E731
    return text, pick(MODEL_DAMAGE[:-1]), pick(TRAIN_TOKENIZED_DAMAGE), pick(STATS_DAMAGE), draw(st.randoms())


def damaged_train_split(folder: Path, trained: dict, damage: str) -> Path:
    path = folder / "tokenized"
    if damage in ("an empty folder", "missing", "a file"):
        return damaged_tokenized(folder, trained, damage)
    splits = datasets.load_from_disk(str(trained["tokenized"]))
    if damage == "one Dataset":
        splits["train"].save_to_disk(str(path))
    elif damage == "no train":
        datasets.DatasetDict({"validation": splits["validation"]}).save_to_disk(str(path))
    elif damage == "no labels":
        splits["train"] = splits["train"].remove_columns(["labels"])
        splits.save_to_disk(str(path))
    elif damage == "empty":
        splits["train"] = splits["train"].select([])
        splits.save_to_disk(str(path))
    elif damage == "no validation":
        datasets.DatasetDict({"train": splits["train"]}).save_to_disk(str(path))
    elif damage == "no answers":  # tokenized before validation during training scored answers
        splits["validation"] = splits["validation"].remove_columns(["answers"])
        splits.save_to_disk(str(path))
    return path


def check_train(run, base: Path, trained: dict, inputs) -> None:
    text, model, tokenized, stats, rng = inputs
    folder = example_dir(base)
    model_path = trained["model"] if model is None else damaged_model(folder, trained, model)
    tokenized_path = trained["tokenized"] if tokenized is None else damaged_train_split(folder, trained, tokenized)
    stats_path = damaged_stats(folder, trained, stats, rng) if stats else base / "tokenized.stats.json"
    output = folder / "out" / "model"
    args = ["--model", str(model_path), "--tokenized", str(tokenized_path), "--checkpoints", str(folder / "ck")]
    args += ["--stats", str(stats_path)]
    status, stderr = run("train", *args, "--output", str(output), "--settings", text)
    if assert_clean(status, stderr, [output]):
        assert (output / "model.safetensors").is_file()


@FEW
@given(inputs=train_inputs())
def test_train_in_process(base, trained, inputs):
    check_train(in_process, base, trained, inputs)


@HEAVY_SUBPROCESS
@given(inputs=train_inputs())
def test_train_subprocess(base, trained, inputs):
    check_train(in_subprocess, base, trained, inputs)


def test_prefetch_without_network_is_one_line_saying_what_to_do(tmp_path):
    """The hub client's connection errors are not OSErrors; offline, the step still ends in one line with a way out."""
    unreachable = (
        "import huggingface_hub, runpy, sys\n"
        "class ConnectError(Exception): pass  # like the hub client's own: not an OSError\n"
        "def refuse(*args, **kwargs):\n"
        "    raise ConnectError('[Errno -2] Name or service not known')\n"
        "huggingface_hub.list_repo_files = refuse\n"
        "sys.argv = sys.argv[1:]\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n"
    )
    output = tmp_path / "model.json"
    result = subprocess.run(
        [sys.executable, "-c", unreachable, str(SCRIPTS / "prefetch.py"), "--name", "org/model"]
        + ["--output", str(output)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: --name: org/model is no local folder and cannot be fetched from the hub")
    assert "prefetch` on the login node" in last and "scratch" in last
    assert not output.exists()
