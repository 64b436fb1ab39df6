"""GPU check: does the pipeline train and predict on this GPU, how fast, and how well does it use the chip?

  python benchmarks/gpu_check.py [--squad ../shared/data/squad2-dev-sample.json] [--out benchmarks/out] [--quick]

Written before any GPU was at hand, to be run as is on one when there is one (under 8 minutes on an A100, H100 or
H200; no network). On the SQuAD 2.0 sample (with --quick, or when it is missing: the embedded demo's SQuAD half),
with a sentencepiece tokenizer trained on that text (the project's scratch tokenizer):

  throughput  random-init T5s of the t5-small and t5-base shapes (32,128-row embedding; speed does not depend on
              the weights), bf16 autocast on CUDA (fp32 on CPU): non-pad tokens/s, model FLOPs utilisation (MFU)
              and peak memory of the pipeline's batching (dynamic padding to a multiple of 8, length-grouped)
              against HF run_seq2seq_qa.py's (every input padded to 384, answers to 30, random order); the
              pipeline's batching again under torch.compile. Every step's loss must be finite.
  pipeline    t5qa.model.train.train (Seq2SeqTrainer, a bounded number of steps, one evaluation at the end) and
              t5qa.model.predict.predict on the validation questions, in this process; then, as the workflow runs them,
              workflow/scripts/train.py with torch_compile on, and train + predict under `accelerate launch` with
              2 processes when 2 GPUs are visible (no GPU: 2 CPU processes, to check the code path).

A hard time budget holds it all: a step that would not fit in what is left is a row that says "skipped: ..." and
why, never a made-up number. Writes gpu_check.json and gpu_check.md into --out (atomically) and prints the table,
with a projection of 3 epochs over SQuAD 2.0 train from the t5-base tokens/s. Exit status 1 when a check failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import logging
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no network: nothing here is downloaded
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402  (after the environment above, which the libraries read when imported)

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/: the shared preparation
from prepare import prepare  # noqa: E402

from t5qa.plan.estimate import FLOPS_FORMULA, model_flops, peak_flops  # noqa: E402  (shared with `t5qa estimate`)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SQUAD = REPO.parent / "shared" / "data" / "squad2-dev-sample.json"
MODEL_VOCAB = 32128  # the embedding rows of the t5 checkpoints, whatever the tokenizer's size
ARCHITECTURES = {
    "t5-small": {"d_model": 512, "d_ff": 2048, "d_kv": 64, "num_heads": 8, "num_layers": 6, "num_decoder_layers": 6},
    "t5-base": {
        "d_model": 768,
        "d_ff": 3072,
        "d_kv": 64,
        "num_heads": 12,
        "num_layers": 12,
        "num_decoder_layers": 12,
    },
}
# --quick on a CPU: the same two names, cut down so that the whole check takes a couple of minutes on 2 cores.
REDUCED = {
    "t5-small": {"d_model": 64, "d_ff": 256, "d_kv": 16, "num_heads": 4, "num_layers": 2, "num_decoder_layers": 2},
    "t5-base": {"d_model": 96, "d_ff": 384, "d_kv": 16, "num_heads": 6, "num_layers": 3, "num_decoder_layers": 3},
}
SQUAD2_TRAIN_QUESTIONS = 130_319
PROJECTED_EPOCHS = 3
SEED_HOURS = 50  # the seed project's figure for fine-tuning on SQuAD 2.0
BASELINE_SOURCE, BASELINE_TARGET = 384, 30  # run_seq2seq_qa.py: max_seq_length, max_answer_length
SETUPS = {  # the batching set-ups of the throughput rows, as the table names them
    "pipeline": "pipeline batching (dynamic padding to x8, length-grouped)",
    "seq2seq_qa_384": "(a) run_seq2seq_qa.py-style: pad to 384/30, random order",
}

log = logging.getLogger("gpu_check")


@dataclasses.dataclass(frozen=True)
class Plan:
    """How much of everything: sized so that the whole run stays within `budget_s`."""

    reduced: bool  # the cut-down architectures (CPU --quick only)
    batch_size: int
    warmup_steps: int  # untimed steps first: CUDA/cuBLAS start-up
    compile_warmup_steps: int  # more for torch.compile: a first graph, then a dynamic-shape one
    steps: int  # timed steps per throughput row, at most ...
    row_cap_s: float  # ... and at most this long
    pipeline_steps: int  # optimizer steps of the pipeline's own training
    eval_examples: int  # validation questions scored at its last step
    predict_examples: int  # validation questions predicted
    budget_s: float
    needs_s: dict  # what a step needs of the budget to start (see below)
    compile_skipped: str | None = None  # why the torch.compile rows are skipped, if they are


# Rough seconds a step needs (compile included): a step is skipped up front when less is left, not cut short.
GPU_NEEDS_S = {"two processes": 150, "compile t5-base": 200, "compile pipeline": 150, "compile t5-small": 120}
NO_CPU_COMPILE = "CPU: inductor builds C++ kernels for minutes on a few cores; measured on GPUs"
PLANS = {
    ("cuda", False): Plan(False, 32, 3, 5, 50, 15.0, 60, 64, 160, 420.0, GPU_NEEDS_S),
    ("cuda", True): Plan(False, 32, 2, 4, 10, 5.0, 20, 32, 64, 240.0, GPU_NEEDS_S),
    ("cpu", False): Plan(False, 8, 1, 3, 3, 60.0, 4, 8, 16, 900.0, {"two processes": 300}, NO_CPU_COMPILE),
    ("cpu", True): Plan(True, 8, 1, 3, 3, 10.0, 4, 8, 16, 150.0, {"two processes": 60}, NO_CPU_COMPILE),
}


class Budget:
    def __init__(self, seconds: float):
        self.started = time.monotonic()
        self.seconds = seconds

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def left(self) -> float:
        return self.seconds - self.elapsed()

    def lacks(self, needed: float) -> str | None:
        """Why a step needing `needed` seconds is skipped, or None when it fits."""
        if self.left() >= needed:
            return None
        return f"time budget ({self.left():.0f} s of {self.seconds:.0f} s left, needs about {needed:.0f} s)"


def progress(budget: Budget, message: str, *args) -> None:
    log.info(f"[{budget.elapsed():5.0f} s] {message}", *args)


# ----------------------------------------------------------------------------- the machine


def machine() -> dict:
    import transformers

    info = {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cuda_runtime": torch.version.cuda,
        "gpus_visible": torch.cuda.device_count(),
        "device": "cpu",
        "peak_flops": None,
        "peak_flops_source": "unknown (CPU)",
    }
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        props = torch.cuda.get_device_properties(0)
        peak, source = peak_flops(name)
        info.update(
            device=name,
            capability=f"{props.major}.{props.minor}",
            memory_gb=round(props.total_memory / 2**30, 1),
            cudnn=torch.backends.cudnn.version(),
            bf16_native=props.major >= 8,  # torch reports bf16 on older GPUs too, emulated (slow)
            peak_flops=peak,
            peak_flops_source=source,
        )
    return info


# ----------------------------------------------------------------------------- data, tokenizer, models


def prepare_data(squad: Path | None, work: Path, plan: Plan) -> dict:
    """Normalise, train the tokenizer, tokenize: the shared preparation (benchmarks/prepare.py), the pipeline's own
    code at each step, as the workflow runs it."""
    from t5qa.data.demo_data import render_demo_files

    if squad is not None:  # the sample: a quarter of its questions (by a hash of the id) are the validation split
        sources, holdout = {"train": [("squad", squad, "squad_v2_json")]}, 0.25
    else:  # the embedded demo's SQuAD half, in its own train/validation split
        sources, holdout = {}, None
        for split in ("train", "validation"):
            path = work / f"demo_squad_{split}.json"
            path.write_text(render_demo_files()[f"squad_{split}.json"], encoding="utf-8")
            sources[split] = [("squad", path, "squad_v2_json")]
    # The schema's tokenize defaults (as config.yaml's squad2 uses); a tokenizer as large as the text allows, up to
    # the model's 32,128 rows (a small corpus yields fewer pieces); the prediction is bounded too.
    prepared = prepare(
        work, sources, holdout=holdout, validation_questions=plan.predict_examples, spread=False, vocab_size=32000
    )
    if squad is not None:
        questions = prepared.rows("train") + prepared.validation_of
        described = f"{squad.name} (SQuAD 2.0 sample, {questions} questions; a hashed quarter is validation)"
    else:
        described = "the embedded demo's SQuAD half (t5qa.data.demo_data)"

    import datasets

    train = datasets.load_from_disk(str(prepared.tokenized))["train"]
    source = sum(len(ids) for ids in train["input_ids"])
    target = sum(sum(1 for t in labels if t != -100) for labels in train["labels"])
    questions = len(set(train["id"]))  # a long context may give a question several rows (windows)
    return {
        "description": described,
        "file": str(squad) if squad else None,
        "train_questions": questions,
        "train_rows": len(train),
        "validation_questions": prepared.rows("validation"),
        "tokenizer_pieces": len(prepared.tokenizer),
        "mean_source_tokens_per_row": source / len(train),
        "mean_target_tokens_per_row": target / len(train),
        "mean_tokens_per_question": (source + target) / questions,
        "tokenize_settings": prepared.settings.as_dict(),
    }


def build(architecture: dict, tokenizer):
    """The project's scratch model at a t5 shape, its embedding widened to the checkpoints' 32,128 rows (the LM head
    over all of them is real work in every decoder step)."""
    from t5qa.model.scratch_model import build_model

    model = build_model(tokenizer, architecture, seed=0)
    model.resize_token_embeddings(MODEL_VOCAB, mean_resizing=False)
    return model


def flop_terms(model) -> dict:
    def weights(stack) -> int:
        return sum(p.numel() for n, p in stack.named_parameters() if "embed_tokens" not in n)

    return {
        "parameters": model.num_parameters(),
        "encoder": weights(model.encoder),
        "decoder": weights(model.decoder),
        "lm_head": model.config.d_model * model.config.vocab_size,
    }


# ----------------------------------------------------------------------------- throughput


def collated_batches(data, tokenizer, setup: str, batch_size: int, count: int) -> list[dict]:
    """The first `count` batches of one batching set-up (epochs repeat when the data is small). Collated before
    the clock starts, so that the timed loop measures the model, not the collator (the pipeline collates in
    DataLoader workers on a GPU)."""
    from torch.utils.data import RandomSampler
    from transformers import DataCollatorForSeq2Seq
    from transformers.trainer_pt_utils import LengthGroupedSampler

    generator = torch.Generator().manual_seed(0)
    if setup == "pipeline":  # as t5qa.model.train: dynamic padding to a multiple of 8, length-grouped batches
        collator = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100, pad_to_multiple_of=8)
        sampler = LengthGroupedSampler(batch_size, dataset=data, lengths=data["length"], generator=generator)
    else:  # run_seq2seq_qa.py: every input padded (and cut) to 384, every answer to 30, random order
        collator = DataCollatorForSeq2Seq(
            tokenizer, label_pad_token_id=-100, padding="max_length", max_length=BASELINE_SOURCE
        )
        sampler = RandomSampler(data, generator=generator)
    order: list[int] = []
    while len(order) < count * batch_size:
        order.extend(iter(sampler))
    rows = data.select_columns(["input_ids", "attention_mask", "labels"])
    batches = []
    for start in range(0, count * batch_size, batch_size):
        features = [rows[i] for i in order[start : start + batch_size]]
        if setup == "pipeline":
            batches.append(collator(features))
            continue
        inputs = [{"input_ids": f["input_ids"][:BASELINE_SOURCE]} for f in features]
        batch = collator(inputs)
        labels = torch.full((len(features), BASELINE_TARGET), -100)
        for row, f in enumerate(features):
            kept = f["labels"][:BASELINE_TARGET]
            labels[row, : len(kept)] = torch.tensor(kept)
        batch["labels"] = labels
        batches.append(batch)
    return [dict(batch) for batch in batches]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def measure_training(model, batches: list[dict], warmup: int, plan: Plan, device: torch.device, bf16: bool) -> dict:
    """Optimizer steps as the pipeline's Trainer takes them (bf16 autocast over fp32 weights, grad-norm clipping at
    1.0, fused AdamW on CUDA): `warmup` untimed, then timed ones until the batches or `plan.row_cap_s` run out."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    losses = []

    def step(batch: dict) -> None:
        batch = {key: value.to(device, non_blocking=True) for key, value in batch.items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.detach())  # no .item() here: that would wait for the GPU every step

    def graphs() -> int:  # graphs torch.compile has built so far (a recompile for a new shape adds one)
        return torch._dynamo.utils.counters["stats"]["unique_graphs"]

    started, graphs_before = time.perf_counter(), graphs()
    for batch in batches[:warmup]:
        step(batch)
    synchronize(device)
    warmup_s, graphs_warm = time.perf_counter() - started, graphs()
    started = time.perf_counter()
    timed = []
    for batch in batches[warmup : warmup + plan.steps]:
        step(batch)
        timed.append(batch)
        if time.perf_counter() - started > plan.row_cap_s:
            break
    synchronize(device)
    seconds = time.perf_counter() - started
    values = torch.stack(losses).float().cpu().tolist()
    return {
        "steps": len(timed),
        "seconds": seconds,
        "warmup_steps": warmup,
        "warmup_s": warmup_s,
        # Compiled rows: a graph built while timing means its compile time is in the rate (reported, not hidden).
        "graphs_compiled_in_warmup": graphs_warm - graphs_before,
        "graphs_compiled_while_timed": graphs() - graphs_warm,
        "examples": sum(len(b["input_ids"]) for b in timed),
        "source_tokens": sum(int(b["attention_mask"].sum()) for b in timed),
        "target_tokens": sum(int((b["labels"] != -100).sum()) for b in timed),
        "padded_tokens": sum(b["input_ids"].numel() + b["labels"].numel() for b in timed),
        "loss_first": values[0],
        "loss_last": values[-1],
        "loss_finite": all(math.isfinite(v) for v in values),
    }


def throughput_row(row: dict, model, terms: dict, batches, plan: Plan, device, bf16: bool, peak) -> dict:
    row.update(batch_size=plan.batch_size, precision="bf16 autocast" if bf16 else "fp32")
    free_memory(device)
    runner = torch.compile(model) if row["compile"] else model  # as Trainer's torch_compile: default mode
    warmup = plan.compile_warmup_steps if row["compile"] else plan.warmup_steps
    try:
        measured = measure_training(runner, batches, warmup, plan, device, bf16)
    except torch.OutOfMemoryError:
        return {**row, "status": f"FAILED: out of memory at batch size {plan.batch_size}"}
    finally:
        if row["compile"]:
            torch.compiler.reset()  # frees the compiled graphs; the next model compiles afresh
    row.update(measured)
    tokens = measured["source_tokens"] + measured["target_tokens"]
    flops = model_flops(terms, measured["source_tokens"], measured["target_tokens"], 6)
    row.update(
        status="ok" if measured["loss_finite"] else "FAILED: a non-finite training loss",
        examples_per_s=measured["examples"] / measured["seconds"],
        tokens_per_s=tokens / measured["seconds"],
        padding_share=1 - tokens / measured["padded_tokens"],
        achieved_tflops=flops / measured["seconds"] / 1e12,
        mfu=flops / measured["seconds"] / peak if peak else None,
        peak_memory_mb=gpu_peak_mb(device),
    )
    return row


def gpu_peak_mb(device) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None


# ----------------------------------------------------------------------------- the pipeline's own train and predict


def pipeline_train_settings(plan: Plan, compiled: bool):
    from t5qa.settings import TrainSettings

    return TrainSettings.from_dict(
        {
            "learning_rate": 1e-3,
            "max_steps": plan.pipeline_steps,
            "batch_size": plan.batch_size,
            "save_steps": 10_000,  # no checkpoint: the run is short
            "logging_steps": max(1, plan.pipeline_steps // 4),
            "eval_steps": plan.pipeline_steps,  # one evaluation, at the last step: generation is checked too
            "eval_examples": plan.eval_examples,
            "torch_compile": compiled,
        }
    )


def summarise_training(row: dict, model_dir: Path, data: dict, terms: dict, peak: float | None) -> dict:
    """From what the pipeline wrote beside the model: losses, the evaluation, and a rate without evaluation time."""
    history = json.loads((model_dir / "log_history.json").read_text())
    metrics = json.loads((model_dir / "train_metrics.json").read_text())
    losses = [entry["loss"] for entry in history["log_history"] if "loss" in entry]
    evaluations = [entry for entry in history["log_history"] if "eval_loss" in entry]
    training_s = metrics["train_runtime"] - sum(entry["eval_runtime"] for entry in evaluations)
    examples = history["final_step"] * row["batch_size"] * row["processes"]
    # Tokens: the data's mean per row (the Trainer does not count them); every row is drawn once per epoch.
    source = examples * data["mean_source_tokens_per_row"]
    target = examples * data["mean_target_tokens_per_row"]
    finite = bool(losses) and all(math.isfinite(v) for v in losses + [e["eval_loss"] for e in evaluations])
    status = "ok"
    if not finite:
        status = "FAILED: a non-finite training or validation loss"
    elif not (evaluations and "eval_f1" in evaluations[-1]):
        status = "FAILED: no evaluation with EM/F1 was logged"
    row.update(
        status=status,
        steps=history["final_step"],
        seconds=training_s,
        train_runtime_s=metrics["train_runtime"],
        examples_per_s=examples / training_s,
        tokens_per_s=(source + target) / training_s,
        mfu=model_flops(terms, source, target, 6) / training_s / peak if peak else None,
        loss_first=losses[0] if losses else None,
        loss_last=losses[-1] if losses else None,
        loss_finite=finite,
        eval_f1=evaluations[-1].get("eval_f1") if evaluations else None,
        notes="rate: train_runtime less evaluation"
        + (" (compiling included: a short run)" if row["compile"] else "")
        + "; tokens: the data's mean per row",
    )
    return row


def pipeline_train(row: dict, work: Path, plan: Plan, data: dict, terms: dict, device, peak) -> dict:
    """t5qa.model.train.train in this process, as workflow/scripts/train.py calls it for one GPU."""
    from t5qa.model.model_io import use_bf16
    from t5qa.model.train import train

    row.update(batch_size=plan.batch_size, precision="bf16 autocast" if use_bf16("auto") else "fp32")
    free_memory(device)
    settings = pipeline_train_settings(plan, compiled=False)
    workers = 1 if device.type == "cuda" else 0  # what the workflow gives a 2-thread train job
    status = train(
        settings,
        work / "tokenized",
        work / "tokenize_stats.json",
        str(work / "init-t5-small"),
        work / "model",
        work / "checkpoints",
        dataloader_workers=workers,
    )
    if status:
        return {**row, "status": "FAILED: training stopped by a signal"}
    row["peak_memory_mb"] = gpu_peak_mb(device)
    return summarise_training(row, work / "model", data, terms, peak)


def read_predictions(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def pipeline_predict(row: dict, work: Path, terms: dict, device, peak) -> dict:
    """t5qa.model.predict.predict in this process, called by keyword (its signature may grow), on the model trained
    above; writes predictions.jsonl."""
    import datasets
    from transformers import AutoTokenizer

    from t5qa.data.tokenize_stats import read_tokenize_stats
    from t5qa.model.model_io import auto_max_new_tokens
    from t5qa.model.predict import predict
    from t5qa.settings import PredictSettings

    tokenized_with, longest = read_tokenize_stats(work / "tokenize_stats.json")
    max_new_tokens = auto_max_new_tokens(longest, tokenized_with.max_target_length)  # the script's "auto"
    settings = PredictSettings.from_dict({"max_new_tokens": max_new_tokens})
    row["batch_size"] = settings.batch_size
    free_memory(device)
    output = work / "predictions.jsonl"
    started = time.perf_counter()
    predict(
        model_dir=work / "model",
        tokenized_dir=work / "tokenized",
        output=output,
        settings=settings,
        unanswerable=tokenized_with.unanswerable_target,
        split="validation",
    )
    seconds = time.perf_counter() - started
    predictions = read_predictions(output)
    validation = datasets.load_from_disk(str(work / "tokenized"))["validation"]
    questions = set(validation["id"])
    source = sum(len(ids) for ids in validation["input_ids"])
    tokenizer = AutoTokenizer.from_pretrained(work / "model")
    # Generated tokens, re-tokenized from the text (+ the end token): the useful ones, not the padded batch's.
    generated = sum(len(tokenizer(p.get("generated", p["prediction"]))["input_ids"]) for p in predictions)
    complete = {p["id"] for p in predictions} == questions and len(predictions) == len(questions)
    row.update(
        status="ok" if complete else f"FAILED: {len(predictions)} predictions for {len(questions)} questions",
        examples=len(predictions),
        seconds=seconds,
        examples_per_s=len(predictions) / seconds,
        tokens_per_s=(source + generated) / seconds,
        mfu=model_flops(terms, source, generated, 2) / seconds / peak if peak else None,
        peak_memory_mb=gpu_peak_mb(device),
        notes=f"time includes loading the model; generated tokens re-tokenized; max_new_tokens {max_new_tokens}",
    )
    return row


def run_script(command: list[str], log_file: Path, timeout: float) -> tuple[int | None, float]:
    """A workflow script as Snakemake runs it; (exit status or None on timeout, wall seconds). On timeout the
    whole process group goes: accelerate launch's workers must not keep a GPU."""
    started = time.perf_counter()
    with log_file.open("w") as out:
        process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            status = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            status = None
    return status, time.perf_counter() - started


def script_failure(status: int | None, seconds: float, log_file: Path) -> str:
    tail = " | ".join(log_file.read_text(errors="replace").strip().splitlines()[-3:])
    what = f"did not finish in {seconds:.0f} s (the time budget; --budget-s)" if status is None else f"exit {status}"
    return f"FAILED: {what} ({log_file.name}: {tail})"


def launcher(processes: int) -> list[str]:
    """The workflow's launcher (workflow/rules/common.smk): plain python for one process, else accelerate launch
    (torchrun underneath; gloo on CPU, NCCL on GPUs)."""
    if processes == 1:
        return [sys.executable]
    return [
        *(sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes)),
        *("--num_machines", "1", "--main_process_port", "0", "--mixed_precision", "no", "--dynamo_backend", "no"),
    ]


def run_step(processes: int, script: str, args: list[str], log_file: Path, budget: Budget) -> tuple[str | None, float]:
    """workflow/scripts/<script> through the workflow's launcher, within the budget: (why it failed or None, wall s)."""
    command = [*launcher(processes), str(REPO / "workflow" / "scripts" / script), *args]
    status, wall = run_script(command, log_file, timeout=max(30.0, budget.left() - 30))
    return (None if status == 0 else script_failure(status, wall, log_file)), wall


def script_train(row: dict, work: Path, plan: Plan, data: dict, terms: dict, peak, budget: Budget) -> dict:
    """workflow/scripts/train.py in its own process(es), from the same starting model: torch_compile on, or
    several processes."""
    from t5qa.model.model_io import use_bf16

    row.update(batch_size=plan.batch_size, precision="bf16 autocast" if use_bf16("auto") else "fp32")
    name = f"model-{row['processes']}p{'-compiled' if row['compile'] else ''}"
    settings = pipeline_train_settings(plan, row["compile"]).as_dict()
    args = [
        *("--tokenized", str(work / "tokenized"), "--stats", str(work / "tokenize_stats.json")),
        *("--model", str(work / "init-t5-small"), "--output", str(work / name)),
        *("--checkpoints", str(work / f"checkpoints-{name}"), "--settings", json.dumps(settings)),
        *("--dataloader-workers", "1" if torch.cuda.is_available() else "0"),
    ]
    failure, wall = run_step(row["processes"], "train.py", args, work / f"{name}.log", budget)
    if failure:
        return {**row, "status": failure}
    row["wall_s"] = wall
    return summarise_training(row, work / name, data, terms, peak)


def script_predict(row: dict, work: Path, budget: Budget) -> dict:
    """workflow/scripts/predict.py in several processes, on the model trained in this process: the predictions must
    be those of one process (the pipeline deals fixed batches out to the processes)."""
    output = work / f"predictions-{row['processes']}p.jsonl"
    args = [
        *("--model", str(work / "model"), "--tokenized", str(work / "tokenized")),
        *("--stats", str(work / "tokenize_stats.json"), "--output", str(output)),
    ]
    failure, wall = run_step(row["processes"], "predict.py", args, work / f"predict-{row['processes']}p.log", budget)
    if failure:
        return {**row, "status": failure}
    expected = {p["id"]: p["prediction"] for p in read_predictions(work / "predictions.jsonl")}
    got = {p["id"]: p["prediction"] for p in read_predictions(output)}
    same = sum(got.get(key) == value for key, value in expected.items())
    row.update(
        status="ok" if same == len(expected) == len(got) else f"FAILED: {same}/{len(expected)} as one process",
        examples=len(got),
        wall_s=wall,
        notes=f"identical to 1 process: {same}/{len(expected)}; wall includes process start-up",
    )
    return row


def same_first_loss(row: dict, one_process: dict) -> dict:
    """Both runs start from the same random init, whose first loss is about ln(vocabulary) whatever the batch: the
    first logged loss of N processes must match one process's. A loss scaled by the process count (which scales
    the gradient too, and so where clipping bites) shows up here."""
    if row["status"] != "ok" or one_process["status"] != "ok":
        return row
    ratio = row["loss_first"] / one_process["loss_first"]
    if not 0.8 < ratio < 1.25:
        row["status"] = (
            f"FAILED: first logged loss {row['loss_first']:.2f} is {ratio:.2f}x one process's "
            f"{one_process['loss_first']:.2f}"
        )
    return row


# ----------------------------------------------------------------------------- the run


def new_row(kind: str, model: str, setup: str, compile: bool = False, processes: int = 1) -> dict:
    return {"kind": kind, "model": model, "setup": setup, "compile": compile, "processes": processes}


def skipped(row: dict, why: str) -> dict:
    return {**row, "status": f"skipped: {why}"}


def failed(row: dict) -> bool:
    return row["status"].startswith("FAILED")


def guarded(row: dict, measure: Callable[[dict], dict]) -> dict:
    """One row's measurement. An exception fails that row only: a check that got a GPU for a few minutes must
    still report everything else."""
    from t5qa.cli import first_line

    try:
        return measure(row)
    except Exception as err:
        log.exception("%s %s %s failed", row["kind"], row["model"], row["setup"])
        return {**row, "status": f"FAILED: {type(err).__name__}: {first_line(err)}"}


def peak_rss_mb() -> float | None:
    """This process's peak resident memory (VmHWM), for CPU runs, where there is no per-row GPU peak."""
    status = Path("/proc/self/status")
    for line in status.read_text().splitlines() if status.exists() else []:
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def run_all(args, plan: Plan, budget: Budget, work: Path) -> dict:
    import datasets
    from transformers import AutoTokenizer

    from t5qa.model.model_io import use_bf16
    from t5qa.progress import quiet_library_bars

    quiet_library_bars()  # in a log file, no carriage-return bars from loading and saving
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    bf16 = use_bf16("auto")  # the pipeline's own choice
    if bf16:
        torch.backends.cuda.matmul.allow_tf32 = True  # as the Trainer's tf32=True
        torch.backends.cudnn.allow_tf32 = True
    result = {"mode": "quick" if args.quick else "full", "budget_s": plan.budget_s, "plan": dataclasses.asdict(plan)}
    result["machine"] = machine()
    peak = result["machine"]["peak_flops"]
    progress(budget, "device %s, torch %s, peak FLOP/s %s", result["machine"]["device"], torch.__version__, peak)

    squad = Path(args.squad) if not args.quick and Path(args.squad).is_file() else None
    if not args.quick and squad is None:
        progress(budget, "%s not found: using the embedded demo data", args.squad)
    data = result["data"] = prepare_data(squad, work, plan)
    progress(budget, "data: %s; tokenizer %d pieces", data["description"], data["tokenizer_pieces"])
    tokenizer = AutoTokenizer.from_pretrained(work / "tokenizer")
    shapes = REDUCED if plan.reduced else ARCHITECTURES
    models, terms = {}, {}
    result["models"] = {}
    for name, architecture in shapes.items():
        models[name] = build(architecture, tokenizer)
        terms[name] = flop_terms(models[name])
        label = f"{name} reduced for a CPU" if plan.reduced else name
        result["models"][name] = {"label": label, "architecture": architecture, "vocab": MODEL_VOCAB, **terms[name]}
        progress(budget, "built %s: %.1fM parameters", label, terms[name]["parameters"] / 1e6)
    models["t5-small"].save_pretrained(work / "init-t5-small")  # the pipeline's starting model
    tokenizer.save_pretrained(work / "init-t5-small")

    train_rows = datasets.load_from_disk(str(work / "tokenized"))["train"]
    count = max(plan.warmup_steps, plan.compile_warmup_steps) + plan.steps
    batches = {
        setup: collated_batches(train_rows, tokenizer, setup, plan.batch_size, count)
        for setup in ("pipeline", "seq2seq_qa_384")
    }
    rows = []

    def add(row: dict, measure: Callable[[dict], dict]) -> dict:
        rows.append(guarded(row, measure))
        rate = f", {rows[-1]['tokens_per_s']:,.0f} tokens/s" if rows[-1].get("tokens_per_s") else ""
        progress(budget, "%s, %s, %s: %s%s", row["kind"], row["model"], row["setup"], rows[-1]["status"], rate)
        return rows[-1]

    def throughput(row: dict) -> dict:
        model = models[row["model"]].to(device).train()
        try:
            batched = batches[row["setup"]]
            return throughput_row(row, model, terms[row["model"]], batched, plan, device, bf16, peak)
        finally:
            models[row["model"]] = model.to("cpu")  # the next row's peak memory is its own
            free_memory(device)

    # 1. Eager throughput, the pipeline's batching against the baseline's. The first step of each model is the
    # check that a bf16 (CPU: fp32) training step gives a finite loss.
    for name in shapes:
        ours = add(new_row("train throughput", name, "pipeline"), throughput)
        theirs = add(new_row("train throughput", name, "seq2seq_qa_384"), throughput)
        if ours["status"] == theirs["status"] == "ok":
            theirs["pipeline_speedup"] = ours["tokens_per_s"] / theirs["tokens_per_s"]

    # 2. The pipeline's own train and predict, in this process.
    trained = add(
        new_row("pipeline train", "t5-small", "t5qa.model.train.train (Seq2SeqTrainer)"),
        lambda row: pipeline_train(row, work, plan, data, terms["t5-small"], device, peak),
    )
    predicted = add(
        new_row("pipeline predict", "t5-small", "t5qa.model.predict.predict (length-sorted batches, greedy)"),
        lambda row: pipeline_predict(row, work, terms["t5-small"], device, peak),
    )

    # 3. Two processes, as the workflow launches them for a job with 2 GPUs. Without a GPU, 2 CPU processes (gloo)
    # through the same launcher: no speed to learn, but the code path is checked before a GPU node runs it.
    gpus = torch.cuda.device_count()
    how = "accelerate launch" if gpus else "accelerate launch, 2 CPU processes (no GPU: checks the code path)"
    two_train = new_row("pipeline train", "t5-small", f"workflow/scripts/train.py, {how}", processes=2)
    two_predict = new_row("pipeline predict", "t5-small", f"workflow/scripts/predict.py, {how}", processes=2)
    why = f"{gpus} GPU visible" if gpus == 1 else budget.lacks(plan.needs_s["two processes"])
    if why:
        rows += [skipped(two_train, why), skipped(two_predict, why)]
        progress(budget, "two processes: skipped: %s", why)
    else:

        def two_processes(row: dict) -> dict:
            return same_first_loss(script_train(row, work, plan, data, terms["t5-small"], peak, budget), trained)

        add(two_train, two_processes)
        if predicted["status"] == "ok":
            add(two_predict, lambda row: script_predict(row, work, budget))
        else:
            rows.append(skipped(two_predict, "one process's predictions failed: nothing to compare with"))

    # 4. torch.compile, most telling first: t5-base (the projection's model), the pipeline's setting, t5-small.
    compiled = [
        ("compile t5-base", new_row("train throughput", "t5-base", "pipeline", compile=True), throughput),
        (
            "compile pipeline",
            new_row("pipeline train", "t5-small", "workflow/scripts/train.py", compile=True),
            lambda row: script_train(row, work, plan, data, terms["t5-small"], peak, budget),
        ),
        ("compile t5-small", new_row("train throughput", "t5-small", "pipeline", compile=True), throughput),
    ]
    for key, row, measure in compiled:
        why = plan.compile_skipped or budget.lacks(plan.needs_s[key])
        if why:
            rows.append(skipped(row, why))
            progress(budget, "%s: skipped: %s", key, why)
        else:
            add(row, measure)

    result["rows"] = rows
    result["flops_formula"] = FLOPS_FORMULA
    result["projection"] = projection(rows, data, plan)
    return result


def projection(rows: list[dict], data: dict, plan: Plan) -> dict:
    """3 epochs over SQuAD 2.0 train at the measured t5-base rates, on one GPU, evaluation and loading aside."""
    tokens = PROJECTED_EPOCHS * SQUAD2_TRAIN_QUESTIONS * data["mean_tokens_per_question"]
    hours = {}
    for row in rows:
        if row["kind"] == "train throughput" and row["model"] == "t5-base" and row["status"] == "ok":
            label = {"pipeline": "pipeline batching", "seq2seq_qa_384": "(a) pad to 384"}[row["setup"]]
            label += ", compiled" if row["compile"] else ""
            hours[label] = tokens / row["tokens_per_s"] / 3600
    return {
        "epochs": PROJECTED_EPOCHS,
        "questions": SQUAD2_TRAIN_QUESTIONS,
        "tokens_per_question": data["mean_tokens_per_question"],
        "tokens_per_question_from": data["description"],
        "hours": hours,
        "seed_hours": SEED_HOURS,
        "caveat": "t5-base reduced for a CPU: not a real projection" if plan.reduced else None,
    }


# ----------------------------------------------------------------------------- report


def fmt(value, spec: str, scale: float = 1, unit: str = "") -> str:
    return "" if value is None else format(value * scale, spec) + unit


def markdown(result: dict) -> str:
    m, d = result["machine"], result["data"]
    device = m["device"] if m["device"] == "cpu" else f"{m['device']} (compute {m['capability']}, {m['memory_gb']} GB)"
    models = "; ".join(
        f"{info['label']}: {info['parameters'] / 1e6:.1f}M parameters, d_model {info['architecture']['d_model']}, "
        f"{info['architecture']['num_layers']}+{info['architecture']['num_decoder_layers']} layers"
        for info in result["models"].values()
    )
    lines = [
        f"GPU check ({result['mode']} mode, {result['wall_s']:.0f} s of a {result['budget_s']:.0f} s budget). "
        f"Device: {device}, {m['gpus_visible']} GPU(s) visible; torch {m['torch']}, CUDA {m['cuda_runtime']}, "
        f"transformers {m['transformers']}. Peak for MFU: "
        + (f"{m['peak_flops'] / 1e12:.0f} TFLOP/s ({m['peak_flops_source']})." if m["peak_flops"] else "unknown.")
        + (f" Process peak RSS {m['process_peak_rss_mb']:,.0f} MB." if m["device"] == "cpu" else ""),
        f"Data: {d['description']}; {d['train_questions']} training questions, {d['validation_questions']} predicted; "
        f"tokenizer: {d['tokenizer_pieces']} sentencepiece pieces trained on it. Models (random init, vocab "
        f"{MODEL_VOCAB}): {models}.",
        "",
        "| step | model | set-up | compile | procs | status | examples/s | non-pad tokens/s | MFU | padding "
        "| peak GPU mem MB | loss first → last | notes |",
        "|---|---|---|---|---:|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in result["rows"]:
        loss = f"{r['loss_first']:.3f} → {r['loss_last']:.3f}" if r.get("loss_first") is not None else ""
        notes = r.get("notes", "")
        if r.get("eval_f1") is not None:
            notes = f"eval F1 {r['eval_f1']:.1f}; {notes}"
        if r.get("warmup_s") is not None:
            notes = f"{r['steps']} steps timed after {r['warmup_steps']} warm-up ({r['warmup_s']:.1f} s)"
            if r["compile"]:
                notes += (
                    f"; graphs compiled: {r['graphs_compiled_in_warmup']} in warm-up, "
                    f"{r['graphs_compiled_while_timed']} while timed"
                )
        if r.get("pipeline_speedup"):
            notes += f"; the pipeline's batching: {r['pipeline_speedup']:.2f}x these tokens/s"
        lines.append(
            f"| {r['kind']} | {result['models'][r['model']]['label']} | {SETUPS.get(r['setup'], r['setup'])} "
            f"| {'on' if r['compile'] else 'off'} | {r['processes']} | {r['status']} "
            f"| {fmt(r.get('examples_per_s'), '.1f')} "
            f"| {fmt(r.get('tokens_per_s'), ',.0f')} | {fmt(r.get('mfu'), '.1f', 100, '%')} "
            f"| {fmt(r.get('padding_share'), '.0f', 100, '%')} | {fmt(r.get('peak_memory_mb'), ',.0f')} "
            f"| {loss} | {notes} |"
        )
    p = result["projection"]
    estimates = "; ".join(f"{setup}: {hours:.1f} h" for setup, hours in p["hours"].items()) or "no t5-base rate"
    lines += [
        "",
        f"MFU: {FLOPS_FORMULA}",
        "",
        f"Projection, 3 epochs over SQuAD 2.0 train ({p['questions']:,} questions x {p['tokens_per_question']:.0f} "
        f"non-pad tokens per question, the mean of {p['tokens_per_question_from']}), t5-base on one GPU, training "
        f"only: {estimates} — beside the seed's {p['seed_hours']} h. (Token counts are the scratch tokenizer's; "
        "t5's own vocabulary splits text somewhat differently.)" + (f" ({p['caveat']}.)" if p["caveat"] else ""),
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    from t5qa.atomic import write_json, write_text
    from t5qa.cli import setup_logging

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", default=str(DEFAULT_SQUAD), help="a SQuAD 2.0 file (default: the shared sample)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "out"), help="folder for gpu_check.json and .md")
    parser.add_argument("--quick", action="store_true", help="the embedded demo data, fewer steps (CPU: tiny models)")
    parser.add_argument("--budget-s", type=float, help="the time budget in seconds (default: the mode's)")
    args = parser.parse_args()
    setup_logging()
    plan = PLANS[("cuda" if torch.cuda.is_available() else "cpu", args.quick)]
    if args.budget_s:
        plan = dataclasses.replace(plan, budget_s=args.budget_s)
    budget = Budget(plan.budget_s)
    with tempfile.TemporaryDirectory(prefix="t5qa-gpu-check-") as work:
        result = run_all(args, plan, budget, Path(work))
    result["wall_s"] = budget.elapsed()
    result["machine"]["process_peak_rss_mb"] = peak_rss_mb()
    result["failed"] = [f"{r['kind']} {r['model']} {r['setup']}: {r['status']}" for r in result["rows"] if failed(r)]
    out = Path(args.out)
    write_json(out / "gpu_check.json", result)
    report = markdown(result)
    write_text(out / "gpu_check.md", report)
    print(report)
    for line in result["failed"]:
        log.error("%s", line)
    return 1 if result["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
