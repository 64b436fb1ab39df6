"""Trust (issue 30, class 5): a test split that repeats training rows is counted as validation is. A source whose
test file is its training file was scored with no word; the test folder now compares its rows with the dataset's
training tables (the same count, warning and refusal as validation's)."""

import json

from t5qa.data.tokenize_data import tokenize_dataset
from t5qa.settings import TokenizeSettings

from .test_cli_errors import TOKENIZE_SETTINGS, in_process
from .test_trust_data import TRAIN, _table
from .workflow_helpers import snakemake, tiny_config, write_config, write_tiny_sources


def test_a_test_split_that_is_the_training_file_is_counted(tmp_path, tiny_tokenizer):
    from transformers import AutoTokenizer

    train = _table(tmp_path / "train.parquet", TRAIN)
    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer)
    settings = TokenizeSettings.from_dict(TOKENIZE_SETTINGS)
    stats = tokenize_dataset(
        {"test": [("a", train)]}, tokenizer, settings, tmp_path / "out", overlap_train=[("a", train)]
    )
    assert stats["test"]["overlap_with_train"] == {
        "same_id": 3,
        "same_question_and_context": 3,
        "first_ids": ["a:t1", "a:t2", "a:t3"],
    }
    other = _table(tmp_path / "other.parquet", [("x1", "why x?", "x because y.", "y")])
    stats = tokenize_dataset(
        {"test": [("a", other)]}, tokenizer, settings, tmp_path / "o2", overlap_train=[("a", train)]
    )
    assert "overlap_with_train" not in stats["test"]


def test_the_step_refuses_a_test_overlap_in_one_line(tmp_path, tiny_tokenizer):
    train = _table(tmp_path / "train.parquet", TRAIN)
    out = tmp_path / "out"
    status, stderr = in_process(
        "tokenize_data",
        *("--tokenizer", str(tiny_tokenizer), "--test", f"a={train}", "--overlap-train", f"a={train}"),
        *("--output", str(out), "--stats", f"{out}.stats.json"),
        *("--settings", json.dumps({**TOKENIZE_SETTINGS, "train_validation_overlap": "refuse"})),
    )
    assert status == 1, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: --test: 3 test rows have a training row's id and 3 ") and "a:t1" in last
    assert "Traceback" not in stderr and not out.exists()


def test_the_workflow_gives_the_test_folder_the_training_tables(tmp_path):
    """The test folder's tokenize job reads the dataset's training tables and passes them as --overlap-train."""
    sources = write_tiny_sources(tmp_path)
    config = tiny_config(sources)
    for spec in config["sources"].values():
        spec["test"] = dict(spec["train"])  # the test file is the training file
    config["evaluations"] = [{"experiments": ["default"], "split": "test"}]
    path = write_config(tmp_path, config)
    result = snakemake(tmp_path, "-n", "-p", "--configfile", str(path), "--forceall")
    commands = [line for line in result.stdout.splitlines() if "tokenize_data.py" in line and "--test" in line]
    assert commands and all("--overlap-train" in line and "train.parquet" in line for line in commands), commands
