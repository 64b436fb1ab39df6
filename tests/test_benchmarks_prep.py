"""benchmarks/prepare.py, the benchmarks' one preparation: it makes what the workflow's own steps make."""

import json

import datasets
import pandas as pd
import pytest
from transformers import AutoTokenizer

from .conftest import REPO, run_script
from .test_gpu_check import load_benchmark

DEMO = REPO / "resources" / "demo"
SQUAD = {split: DEMO / f"squad_{split}.json" for split in ("train", "validation")}
TOKENIZE = {"max_source_length": 96, "max_target_length": 16}
ARCHITECTURE = {"d_model": 16, "d_ff": 32, "d_kv": 8, "num_heads": 2, "num_layers": 1, "num_decoder_layers": 1}


def load_prepare():
    return load_benchmark("prepare")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    sources = {split: [("demo_squad", path, "squad_v2_json")] for split, path in SQUAD.items()}
    work = tmp_path_factory.mktemp("prepared")
    return load_prepare().prepare(work, sources, tokenize=TOKENIZE, vocab_size=400, architecture=ARCHITECTURE)


def test_prepare_makes_what_the_workflow_steps_make(prepared, tmp_path):
    """normalize.py, scratch_model.py tokenizer and tokenize_data.py on the same files: the same tables, tokenizer,
    tokenized folder and stats."""
    tables = {}
    for split, path in SQUAD.items():
        tables[split] = tmp_path / f"{split}.parquet"
        run_script(
            "normalize.py",
            "--input",
            str(path),
            "--output",
            str(tables[split]),
            "--settings",
            '{"format": "squad_v2_json"}',
        )
    scratch = json.dumps({"vocab_size": 400, "seed": 0})
    run_script(
        "scratch_model.py",
        "tokenizer",
        "--texts",
        str(tables["train"]),
        "--output",
        str(tmp_path / "tok"),
        "--settings",
        scratch,
    )
    run_script(
        "tokenize_data.py",
        *("--tokenizer", str(tmp_path / "tok"), "--output", str(tmp_path / "tokenized")),
        *("--train", f"demo_squad={tables['train']}", "--validation", f"demo_squad={tables['validation']}"),
        *("--stats", str(tmp_path / "stats.json"), "--settings", json.dumps(TOKENIZE)),
    )
    for split, path in tables.items():
        ours = pd.read_parquet(prepared.work / "norm" / f"{split}-demo_squad.parquet")
        pd.testing.assert_frame_equal(ours.reset_index(drop=True), pd.read_parquet(path))
    assert AutoTokenizer.from_pretrained(tmp_path / "tok").get_vocab() == prepared.tokenizer.get_vocab()
    assert json.loads(prepared.stats_file.read_text()) == json.loads((tmp_path / "stats.json").read_text())
    ours, theirs = (
        datasets.load_from_disk(str(prepared.tokenized)),
        datasets.load_from_disk(str(tmp_path / "tokenized")),
    )
    for split in ("train", "validation"):
        assert ours[split].to_dict() == theirs[split].to_dict()


def test_prepared_inputs_load_as_training_and_prediction_read_them(prepared):
    from t5qa.data.tokenize_stats import load_tokenize_stats, read_tokenize_stats
    from t5qa.model.model_io import load_model

    settings, longest = read_tokenize_stats(prepared.stats_file)
    assert settings == prepared.settings and settings.max_source_length == 96
    assert longest == prepared.stats["train"]["target_length"]["max"]
    assert load_tokenize_stats(prepared.stats_file)["train"]["rows"] == prepared.rows("train")
    tokenizer, model = load_model(prepared.model_dir)
    assert model.config.d_model == 16 and model.config.vocab_size == len(tokenizer) == len(prepared.tokenizer)


def test_holdout_and_validation_limits(tmp_path):
    prepare = load_prepare()
    sources = {"train": [("demo_squad", SQUAD["train"], "squad_v2_json")]}
    whole = prepare.normalize(sources)
    parts = prepare.normalize(sources, holdout=0.25)
    train, validation = parts["train"][0][1], parts["validation"][0][1]
    assert set(train["id"]).isdisjoint(validation["id"])
    assert set(train["id"]) | set(validation["id"]) == set(whole["train"][0][1]["id"])
    assert 0.15 < len(validation) / len(whole["train"][0][1]) < 0.35

    two = [("a", validation), ("b", train)]
    first = prepare.limit_validation(two, len(validation) + 3, spread=False)
    assert [len(t) for _, t in first] == [len(validation), 3]
    spread = prepare.limit_validation(two, 20, spread=True)  # every k-th of each source, k = ceil(total / 20)
    k = -(-(len(validation) + len(train)) // 20)
    assert [list(t["id"]) for _, t in spread] == [list(validation["id"][::k]), list(train["id"][::k])]

    done = prepare.prepare(tmp_path, sources, holdout=0.25, validation_questions=5, spread=False, tokenized=False)
    assert done.stats is None and not done.tokenized.exists() and done.tokenizer_dir.is_dir()
    assert done.rows("validation") == 5 and done.validation_of == len(validation)
