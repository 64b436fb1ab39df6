"""Training and prediction outside Snakemake: resume after SIGTERM/SIGKILL, several CPU processes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from .conftest import REPO, SCRIPTS, run_script
from .workflow_helpers import TINY_MODEL, write_tiny_sources

TOKENIZE = {
    "template": "question: {question} context: {context}",
    "unanswerable_target": "unanswerable",
    "max_source_length": 128,
    "max_target_length": 16,
}
TRAIN = {"learning_rate": 0.003, "epochs": 3, "batch_size": 8, "seed": 0, "save_steps": 6, "logging_steps": 5}
PREDICT = {"batch_size": 7, "num_beams": 1, "max_new_tokens": 8, "unanswerable_target": "unanswerable"}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Normalised tables, a scratch tokenizer and model, and the tokenized dataset for two small sources."""
    root = tmp_path_factory.mktemp("prepared")
    sources = write_tiny_sources(root, n_train=80, n_validation=25)
    tables = {}
    for name, spec in sources.items():
        for split in ("train", "validation"):
            out = root / "normalized" / name / f"{split}.parquet"
            run_script("normalize.py", "--format", spec["format"], "--input", spec[split]["path"], "--output", str(out))
            tables.setdefault(split, []).append(f"{name}={out}")
    scratch = TINY_MODEL["scratch"]
    run_script(
        "scratch_model.py",
        "tokenizer",
        "--texts",
        *[t.split("=")[1] for t in tables["train"]],
        "--output",
        str(root / "tokenizer"),
        "--settings",
        json.dumps({"vocab_size": 300, "seed": 0}),
    )
    run_script(
        "scratch_model.py",
        "model",
        "--tokenizer",
        str(root / "tokenizer"),
        "--output",
        str(root / "model"),
        "--settings",
        json.dumps({"seed": 0, "architecture": scratch["architecture"]}),
    )
    run_script(
        "tokenize_data.py",
        "--tokenizer",
        str(root / "tokenizer"),
        "--train",
        *tables["train"],
        "--validation",
        *tables["validation"],
        "--output",
        str(root / "tokenized"),
        "--stats",
        str(root / "tokenized.stats.json"),
        "--settings",
        json.dumps(TOKENIZE),
    )
    return root


def train_command(prepared: Path, out: Path, launcher: list[str] | None = None) -> list[str]:
    script = [
        str(SCRIPTS / "train.py"),
        "--tokenized",
        str(prepared / "tokenized"),
        "--model",
        str(prepared / "model"),
        "--output",
        str(out / "model"),
        "--checkpoints",
        str(out / "checkpoints"),
        "--settings",
        json.dumps(TRAIN),
    ]
    return [*(launcher or [sys.executable]), *script]


def predict(prepared: Path, model: Path, output: Path, launcher: list[str] | None = None) -> list[dict]:
    script = [
        str(SCRIPTS / "predict.py"),
        "--model",
        str(model),
        "--tokenized",
        str(prepared / "tokenized"),
        "--output",
        str(output),
        "--settings",
        json.dumps(PREDICT),
    ]
    subprocess.run([*(launcher or [sys.executable]), *script], check=True, cwd=REPO, capture_output=True)
    return [json.loads(line) for line in output.read_text().splitlines()]


def weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(model_dir / "model.safetensors")


@pytest.fixture(scope="module")
def uninterrupted(prepared, tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    subprocess.run(train_command(prepared, out), check=True, cwd=REPO, capture_output=True)
    return out


def _wait_for(path_glob: Path, pattern: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not list(path_glob.glob(pattern)):
        assert process.poll() is None, "training ended before the checkpoint appeared"
        assert time.monotonic() < deadline, "no checkpoint in time"
        time.sleep(0.05)


@pytest.mark.parametrize("kill_signal", [signal.SIGTERM, signal.SIGKILL])
def test_interrupted_training_resumes_to_the_same_model(prepared, uninterrupted, tmp_path, kill_signal):
    process = subprocess.Popen(
        train_command(prepared, tmp_path), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    _wait_for(tmp_path / "checkpoints", "checkpoint-6/trainer_state.json", process)
    process.send_signal(kill_signal)
    output, _ = process.communicate(timeout=120)
    if kill_signal == signal.SIGTERM:
        assert process.returncode == 143, output
        assert "saving a checkpoint" in output
    else:
        assert process.returncode == -signal.SIGKILL
    assert not (tmp_path / "model").exists()  # nothing half-done looks finished
    steps = sorted(int(p.name.split("-")[1]) for p in (tmp_path / "checkpoints").glob("checkpoint-*"))
    assert steps and steps[-1] >= 6

    rerun = subprocess.run(train_command(prepared, tmp_path), cwd=REPO, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"resuming from {tmp_path / 'checkpoints'}/checkpoint-{steps[-1]}" in rerun.stderr
    assert not (tmp_path / "checkpoints").exists()

    resumed, reference = weights(tmp_path / "model"), weights(uninterrupted / "model")
    assert resumed.keys() == reference.keys()
    assert all(torch.equal(resumed[k], reference[k]) for k in reference)
    a = predict(prepared, tmp_path / "model", tmp_path / "resumed.jsonl")
    b = predict(prepared, uninterrupted / "model", tmp_path / "reference.jsonl")
    assert (tmp_path / "resumed.jsonl").read_bytes() == (tmp_path / "reference.jsonl").read_bytes()
    assert a == b


def test_two_cpu_processes_train_and_predict_like_one(prepared, uninterrupted, tmp_path):
    launcher = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--cpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--main_process_port",
        "0",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        train_command(prepared, tmp_path, launcher), cwd=REPO, capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "model" / "model.safetensors").is_file()

    single = predict(prepared, uninterrupted / "model", tmp_path / "single.jsonl")
    double = predict(prepared, uninterrupted / "model", tmp_path / "double.jsonl", launcher)
    ids = [row["id"] for row in double]
    assert len(ids) == len(set(ids)) == len(single)  # every validation id exactly once
    assert double == single
