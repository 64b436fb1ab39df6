"""Attempts of a long step: prediction resumes from its parts after SIGTERM and SIGKILL (same bytes as an
uninterrupted run), parts of another run are never reused, and a retry of an attempt that failed on its own stops at
once with that error and what to change (t5qa.model.attempts, t5qa.model.prediction_parts)."""

import json
import logging
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from transformers import AutoTokenizer

from t5qa.data.demo_data import generate
from t5qa.errors import InputError
from t5qa.model import attempts
from t5qa.model.answering import Generated
from t5qa.model.prediction_parts import PredictionParts
from t5qa.model.scratch_model import build_model
from t5qa.settings import PredictSettings, TrainSettings

from .conftest import SCRIPTS, run_script

# A real PyTorch CUDA out-of-memory message (torch 2.x wording), numbers as an A100 80GB would give them.
CUDA_OOM = (
    "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.15 GiB of which 1.19 GiB is "
    "free. Including non-PyTorch memory, this process has 77.94 GiB memory in use. Of the allocated memory 75.10 GiB "
    "is allocated by PyTorch, and 2.31 GiB is reserved by PyTorch but unallocated."
)
PREDICT = {"batch_size": 2, "max_new_tokens": 8}


def test_out_of_memory_advice_names_the_setting_and_how_far_to_lower_it():
    settings = TrainSettings.from_dict({"batch_size": 32})
    line = attempts.advice(RuntimeError(CUDA_OOM), "train", settings)
    # 79.15 / (77.94 + 2.00) = 0.990: at most 31 of 32, at least 1 % smaller.
    assert "lower train.batch_size from 32 to at most 31 (at least 1 % smaller" in line, line
    budget = PredictSettings.from_dict({"batch_tokens": 20000})
    line = attempts.advice(RuntimeError(CUDA_OOM.replace("2.00 GiB", "40.00 GiB")), "predict", budget)
    assert "lower predict.batch_tokens from 20000 to at most 13422" in line, line  # 79.15 / 117.94
    cpu = RuntimeError(
        "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried to allocate "
        "21474836480 bytes. Error code 12 (Cannot allocate memory)"
    )
    line = attempts.advice(cpu, "predict", PredictSettings.from_dict({"batch_size": 64}))
    assert "lower predict.batch_size (now 64), or ask for more memory" in line and "alone was 20.0 GiB" in line


def test_the_attempts_log_holds_only_decisions_and_a_retry_after_a_failure_stops_at_once(tmp_path):
    log_path = tmp_path / "train.attempts.log"
    with pytest.raises(RuntimeError), attempts.recorded(log_path, "train", 1) as attempt:
        attempt.settings = TrainSettings.from_dict({"batch_size": 32})
        logging.getLogger("t5qa.model.train").info("a progress line that belongs in the step's log only")
        raise RuntimeError(CUDA_OOM)
    with pytest.raises(InputError) as refused, attempts.recorded(log_path, "train", 2):
        pytest.fail("a retry of an attempt that failed on its own must not run")
    assert str(refused.value).startswith("train attempt 2 not run (a retry would fail the same way")
    assert "attempt 1 failed on its own: out of memory (CUDA out of memory." in str(refused.value)
    assert "lower train.batch_size from 32 to at most 31" in str(refused.value)
    with pytest.raises(InputError), attempts.recorded(log_path, "train", 3):  # and the one after it
        pass
    with attempts.recorded(log_path, "train", 1) as attempt:  # a new run (the user fixed it) always starts
        attempt.ended(0)
    lines = log_path.read_text().splitlines()
    print("\n".join(lines))
    assert len(lines) == 6 and not any("progress line" in line for line in lines)
    assert [line.split(" ", 3)[2] for line in lines] == ["INFO", "ERROR", "ERROR", "ERROR", "INFO", "INFO"]


def test_parts_of_another_run_are_never_reused(tmp_path):
    folder = tmp_path / "predictions.jsonl.parts"
    answers = [Generated("the storm", -1.25, -3.5), Generated("unanswerable", -0.5, -0.5)]
    first = PredictionParts(folder, {"model": "a", "settings": {"batch_size": 2}})
    assert first.open() == 0
    first.write(0, [3, 1], answers)
    assert PredictionParts(folder, {"model": "a", "settings": {"batch_size": 2}}).open() == 1
    assert first.read() == {3: answers[0], 1: answers[1]}  # floats come back exactly
    other = PredictionParts(folder, {"model": "b", "settings": {"batch_size": 2}})
    assert other.open() == 0 and other.done() == set()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, tiny_tokenizer):
    """An untrained tiny model (it generates every one of max_new_tokens: slow enough to interrupt) and 300
    tokenized validation questions: 150 batches of 2."""
    root = tmp_path_factory.mktemp("attempts")
    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer)
    architecture = {"d_model": 32, "d_ff": 64, "d_kv": 8, "num_heads": 2, "num_layers": 2, "num_decoder_layers": 2}
    build_model(tokenizer, architecture, seed=3).save_pretrained(root / "model")
    tokenizer.save_pretrained(root / "model")
    rows = [ex for group in generate(seed=9, n_examples=300, prefix="p") for ex in group][:300]
    table = pd.DataFrame(
        {
            "id": [ex.id for ex in rows],
            "question": [ex.question for ex in rows],
            "question_processed": [ex.question.lower() for ex in rows],
            "context": [ex.context for ex in rows],
            "context_processed": [ex.context.lower() for ex in rows],
            "answer": [ex.answers[0] if ex.answers else "" for ex in rows],
            "answer_processed": [ex.answers[0].lower() if ex.answers else "" for ex in rows],
        }
    )
    table.to_parquet(root / "table.parquet", index=False)
    run_script(
        "tokenize_data.py",
        "--tokenizer",
        str(tiny_tokenizer),
        "--train",
        f"s={root / 'table.parquet'}",
        "--validation",
        f"s={root / 'table.parquet'}",
        "--output",
        str(root / "tokenized"),
        "--stats",
        str(root / "tokenized.stats.json"),
        "--settings",
        json.dumps({"max_source_length": 128, "max_target_length": 16}),
    )
    return root


def predict_command(root, output, attempt: int = 1, **extra: str) -> list[str]:
    args = {
        "--model": str(root / "model"),
        "--tokenized": str(root / "tokenized"),
        "--stats": str(root / "tokenized.stats.json"),
        "--output": str(output),
        "--settings": json.dumps(PREDICT),
        "--threads": "1",  # the same float rounding in every run (and part of the parts' fingerprint)
        "--attempts": str(output.with_suffix(".attempts.log")),
        "--attempt": str(attempt),
        **extra,
    }
    return [sys.executable, str(SCRIPTS / "predict.py"), *(word for pair in args.items() for word in pair)]


def interrupt_after_parts(command: list[str], parts, how: signal.Signals, at_least: int = 3) -> int:
    """Start a predict run, send `how` once `at_least` more batches are kept in `parts`, return its exit status."""
    before = len(list(parts.glob("batch-*.jsonl"))) if parts.is_dir() else 0
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        while process.poll() is None:
            if parts.is_dir() and len(list(parts.glob("batch-*.jsonl"))) >= before + at_least:
                process.send_signal(how)
                break
            time.sleep(0.01)
        _, err = process.communicate(timeout=300)
    finally:
        process.kill()
    assert process.returncode != 0, f"the run ended before it was interrupted:\n{err[-2000:]}"
    return process.returncode


def test_prediction_resumes_after_sigterm_and_sigkill_to_the_same_bytes(prepared, tmp_path):
    reference = tmp_path / "uninterrupted" / "predictions.jsonl"
    reference.parent.mkdir()
    subprocess.run(predict_command(prepared, reference), check=True, capture_output=True)

    output = tmp_path / "interrupted" / "predictions.jsonl"
    output.parent.mkdir()
    parts = output.with_name("predictions.jsonl.parts")
    assert interrupt_after_parts(predict_command(prepared, output), parts, signal.SIGTERM) == 143
    kept_at_term = len(list(parts.glob("batch-*.jsonl")))
    assert interrupt_after_parts(predict_command(prepared, output, 2), parts, signal.SIGKILL) == -signal.SIGKILL
    kept_at_kill = len(list(parts.glob("batch-*.jsonl")))
    assert not output.exists() and kept_at_term < kept_at_kill < 150, (kept_at_term, kept_at_kill)
    subprocess.run(predict_command(prepared, output, 3), check=True, capture_output=True)

    assert output.read_bytes() == reference.read_bytes()
    assert not parts.exists()  # removed once the predictions are written
    log = output.with_suffix(".attempts.log").read_text()
    print(log)
    assert f"resuming: {kept_at_term} of 150 batches already predicted" in log
    assert f"resuming: {kept_at_kill} of 150 batches already predicted" in log
    assert "stopped by a signal (exit 143): the next attempt resumes" in log
    assert "predict attempt 3 starting: a retry" in log and log.rstrip().endswith("finished")


def test_a_predict_retry_after_bad_input_stops_at_once(prepared, tmp_path):
    output = tmp_path / "predictions.jsonl"
    first = subprocess.run(predict_command(prepared, output, 1, **{"--split": "test"}), capture_output=True, text=True)
    error = first.stderr.strip().splitlines()[-1]
    assert first.returncode == 1 and error.startswith("error: ") and "with a test split" in error, first.stderr
    retry = subprocess.run(predict_command(prepared, output, 2, **{"--split": "test"}), capture_output=True, text=True)
    assert retry.returncode == 1
    assert retry.stderr.strip().splitlines()[-1] == (
        "error: predict attempt 2 not run (a retry would fail the same way; fix the cause and rerun: a new run starts "
        f"again at attempt 1): attempt 1 failed on its own: {error.removeprefix('error: ')} -- fix the input or "
        "setting it names"
    )
    assert "model inputs" not in retry.stderr  # stopped before loading anything


def test_a_train_retry_after_a_failure_of_its_own_stops_at_once(prepared, tmp_path):
    """report_to: wandb without the package fails after the data and model are loaded: a failure of its own."""
    log = tmp_path / "train.attempts.log"

    def train(attempt: int):
        return run_script(
            "train.py",
            *("--tokenized", str(prepared / "tokenized"), "--stats", str(prepared / "tokenized.stats.json")),
            *("--model", str(prepared / "model"), "--output", str(tmp_path / "model")),
            *("--checkpoints", str(tmp_path / "checkpoints"), "--attempts", str(log), "--attempt", str(attempt)),
            *("--settings", json.dumps({"report_to": ["wandb"], "epochs": 1})),
            check=False,
        )

    first = train(1)
    assert first.returncode == 1 and "wandb needs the wandb package" in first.stderr, first.stderr[-2000:]
    retry = train(2)
    assert retry.returncode == 1
    assert "train attempt 2 not run" in retry.stderr and "wandb needs the wandb package" in retry.stderr
    print(log.read_text())
    assert [line.split(" ", 3)[2] for line in log.read_text().splitlines()] == ["INFO", "ERROR", "ERROR"]
