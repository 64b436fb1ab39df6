"""The tiny tokenized dataset and model that the training tests share, built once per test run (conftest makes the
fixtures session-wide): normalised tables of two small sources, a scratch tokenizer and model, the tokenized dataset,
and the one- and two-process training runs the resume tests compare with."""

import json
import os
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
    "stride": 32,  # no input here is longer than 128 tokens; windows would need a stride below it
}
# 160 training rows / batch 8 = 20 steps per epoch: checkpoints every 6 steps fall inside every epoch. Every
# validation question (50) is scored every 10 steps and at the last one. This tiny model's validation loss falls
# at every evaluation, so the model kept (the best by loss) is the last step's: the resume tests compare every
# step's update. (Its F1 stays flat: best_metric f1 with patience is the early-stopping case below.)
TRAIN = {
    "learning_rate": 0.003,
    "epochs": 3,
    "batch_size": 8,
    "seed": 0,
    "save_steps": 6,
    "logging_steps": 5,
    "eval_steps": 10,
    "eval_examples": 1000,
    "best_metric": "loss",
}
STEPS_PER_EPOCH = 20
PREDICT = {"batch_size": 7, "num_beams": 1, "max_new_tokens": 8}


@pytest.fixture(scope="session")
def prepared(tmp_path_factory):
    """Normalised tables, a scratch tokenizer and model, and the tokenized dataset for two small sources."""
    root = tmp_path_factory.mktemp("prepared")
    sources = write_tiny_sources(root, n_train=80, n_validation=25)
    tables = {}
    for name, spec in sources.items():
        for split in ("train", "validation"):
            out = root / "normalized" / name / f"{split}.parquet"
            settings = json.dumps({"format": spec["format"]})
            run_script("normalize.py", "--settings", settings, "--input", spec[split]["path"], "--output", str(out))
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


# Two training processes on CPU: torchrun (accelerate's --multi_gpu launcher) with gloo, as the workflow's
# launcher does for a job holding two GPUs. (`--cpu` would run a single process, whatever --num_processes says.)
TWO_PROCESSES = [
    sys.executable,
    "-m",
    "accelerate.commands.launch",
    "--multi_gpu",
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
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


def train_command(prepared: Path, out: Path, launcher: list[str] | None = None, settings: dict | None = None):
    script = [
        str(SCRIPTS / "train.py"),
        "--tokenized",
        str(prepared / "tokenized"),
        "--stats",
        str(prepared / "tokenized.stats.json"),
        "--model",
        str(prepared / "model"),
        "--output",
        str(out / "model"),
        "--checkpoints",
        str(out / "checkpoints"),
        "--settings",
        json.dumps(settings or TRAIN),
    ]
    return [*(launcher or [sys.executable]), *script]


def predict(
    prepared: Path, model: Path, output: Path, launcher: list[str] | None = None, settings: dict | None = None
) -> list[dict]:
    script = [
        str(SCRIPTS / "predict.py"),
        "--model",
        str(model),
        "--tokenized",
        str(prepared / "tokenized"),
        "--stats",
        str(prepared / "tokenized.stats.json"),
        "--output",
        str(output),
        "--settings",
        json.dumps(settings or PREDICT),
    ]
    subprocess.run([*(launcher or [sys.executable]), *script], check=True, cwd=REPO, capture_output=True)
    return [json.loads(line) for line in output.read_text().splitlines()]


def weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(model_dir / "model.safetensors")


def assert_same_weights(a: Path, b: Path) -> None:
    first, second = weights(a), weights(b)
    assert first.keys() == second.keys()
    different = [k for k in second if not torch.equal(first[k], second[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


@pytest.fixture(scope="session")
def uninterrupted(prepared, tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    subprocess.run(train_command(prepared, out), check=True, cwd=REPO, capture_output=True)
    return out


@pytest.fixture(scope="session")
def uninterrupted_two(prepared, tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted_two")
    result = subprocess.run(
        train_command(prepared, out, TWO_PROCESSES), cwd=REPO, capture_output=True, text=True, env=ONE_THREAD
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def wait_for_checkpoint(checkpoints: Path, step: int, process: subprocess.Popen, timeout: float = 180) -> None:
    """Until checkpoint-STEP is complete (its run marker is written last)."""
    marker = checkpoints / f"checkpoint-{step}" / "t5qa_run.json"
    deadline = time.monotonic() + timeout
    while not marker.exists():
        assert process.poll() is None, "training ended before the checkpoint appeared"
        assert time.monotonic() < deadline, "no checkpoint in time"
        time.sleep(0.02)


def checkpoint_steps(checkpoints: Path) -> list[int]:
    return sorted(int(p.name.split("-")[1]) for p in checkpoints.glob("checkpoint-*"))


def training_log(out: Path) -> dict:
    return json.loads((out / "model" / "log_history.json").read_text())
