"""Throughput benchmark over several length distributions: the pipeline's train and predict steps (and, on the
SQuAD sample, tokenize) against the reference set-ups, on this machine, in one command.

  python benchmarks/run.py [--threads 1 --clock cpu] [--squad ../shared/data/squad2-dev-sample.json] [--out DIR]

Distributions (each with its own scratch tokenizer and model, tokenized with the same settings: max_source_length
512, windows beyond it; 200 validation questions at most, 48 for the one-at-a-time reference):
  squad_sample  the SQuAD 2.0 sample in ../shared/data/ (a hash holdout of 25 % is the validation split)
  demo          resources/demo: short contexts, the SQuAD JSON and the CausalQA CSV sources together
  demo_long     resources/demo_long: contexts 2-4 times 96 scratch tokens (here about 160-340 tokens)
Set-ups:
  train pipeline    QATrainer as the train step runs it, batch_tokens 2,048 (length-bucketed batches, padding to a
                    multiple of 8); the share of step time in forward+backward is measured. Also at batch_tokens
                    6,144, the padded tokens of one (a) batch, which shows what padding alone gains
  train (a)         like HF run_seq2seq_qa.py defaults: every input padded (and cut) to 384, answers to 30, batch 16,
                    no length grouping
  train (b)         the CausalQA reference (Webis train_unifiedqa.py): every input padded to 2,048, answers to
                    100, batch size 2
  predict pipeline  t5qa.model.answering.generate_batch (greedy, with the answer's score and no-answer probability) over
                    token-budget batches of length-sorted inputs (2,048 tokens; also 6,144), max_new_tokens auto
  predict (a)       pad (and cut) to 384, batches of 16 in dataset order, max_length 30
  predict (b)       as Webis evaluate_unifiedqa.py: one input at a time, padding='longest' (so none), no cut,
                    max_length=500 (the first 48 questions)
Prediction throughput counts questions (a question over several windows counts once) and the non-pad input tokens each
set-up feeds the model; identical greedy predictions are checked on the inputs every set-up sees whole (one window, at
most 384 tokens for (a)). The set-ups all read the same tokenized inputs: a question longer than max_source_length is
windows for (b) too, where the Webis scripts feed it whole. Each measurement runs in a fresh process (its own peak
memory). On a machine others use too, `--threads 1 --clock cpu` measures each set-up with one thread and divides by its
CPU time: OpenMP threads competing with other work for the cores measure the contention, not the set-up. Writes
results.json and results.md (results.partial.json after each distribution, in case a later one fails).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/: the shared preparation
from prepare import prepare as prepare_data  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ARCHITECTURE = {
    "d_model": 256,
    "d_ff": 1024,
    "d_kv": 32,
    "num_heads": 8,
    "num_layers": 4,
    "num_decoder_layers": 4,
    "dropout_rate": 0.1,
}
TOKENIZE = {
    "template": "question: {question} context: {context}",
    "unanswerable_target": "unanswerable",
    "max_source_length": 512,
    "max_target_length": 32,
}
BATCH = 16  # the references' batch size; (a) pads it to 384 tokens
# The pipeline's budgets, chosen for this CPU: per token, batches of about 2,048 padded tokens run faster here than
# larger ones (on the long inputs, 1.9x against 1.6x for 6,144 in training, one thread). Each distribution also
# measures the pipeline at EQUAL_TOKENS, the padded tokens of one (a) batch, so the gain of padding alone shows.
TRAIN_TOKENS = 2048
PREDICT_TOKENS = 2048
EQUAL_TOKENS = BATCH * 384
DEMO = REPO / "resources" / "demo"
DEMO_LONG = REPO / "resources" / "demo_long"


def distributions(squad: Path) -> dict[str, dict]:
    """name -> {split: [(source, file, format)]} (holdout: the validation split is carved out of train)."""
    return {
        "squad_sample": {"train": [("squad", squad, "squad_v2_json")], "holdout": 0.25},
        "demo": {
            "train": [
                ("demo_squad", DEMO / "squad_train.json", "squad_v2_json"),
                ("demo_causalqa", DEMO / "causalqa_train.csv", "causalqa_csv"),
            ],
            "validation": [
                ("demo_squad", DEMO / "squad_validation.json", "squad_v2_json"),
                ("demo_causalqa", DEMO / "causalqa_validation.csv", "causalqa_csv"),
            ],
        },
        "demo_long": {
            "train": [("demo_long_squad", DEMO_LONG / "squad_train.json", "squad_v2_json")],
            "validation": [("demo_long_squad", DEMO_LONG / "squad_validation.json", "squad_v2_json")],
        },
    }


# ----------------------------------------------------------------------------- set-up (main process)


def prepare(spec: dict, work: Path, validation_limit: int, finetune_steps: int = 40) -> dict:
    """The shared preparation (benchmarks/prepare.py: normalise, a scratch tokenizer and model, tokenize), then a
    short fine-tune, so that generation stops at the end token as it does for a trained model."""
    from t5qa.model.train import train
    from t5qa.settings import TrainSettings

    sources = {split: spec[split] for split in ("train", "validation") if split in spec}
    prepared = prepare_data(
        work,
        sources,
        holdout=spec.get("holdout"),
        validation_questions=validation_limit,
        tokenize=TOKENIZE,
        architecture=ARCHITECTURE,
    )
    settings = TrainSettings.from_dict(
        {
            "learning_rate": 3e-3,
            "epochs": 1,
            "max_steps": finetune_steps,
            "batch_size": BATCH,
            "seed": 0,
            "save_steps": 10_000,
            "logging_steps": 40,
            "warmup_ratio": 0.0,  # as this benchmark's short fine-tune always had
            "weight_decay": 0.0,
            "eval_steps": 0,  # only a starting point for the measurements
        }
    )
    train(
        settings, prepared.tokenized, prepared.stats_file, str(prepared.model_dir), work / "model", work / "checkpoints"
    )
    stats = prepared.stats
    lengths = stats["validation"]["source_length"]
    return {
        "train_rows": prepared.rows("train"),
        "validation_questions": prepared.rows("validation"),
        "validation_of": prepared.validation_of,
        "source_length": {k: lengths[k] for k in ("mean", "max") if k in lengths},
        "train_source_length": {k: stats["train"]["source_length"][k] for k in ("mean", "max")},
    }


def encoder_flops(shapes: list[tuple[int, int]]) -> float:
    """Forward FLOPs of the benchmark model's encoder over padded batches of (rows, padded length): the linear layers
    grow with the padded positions, attention with their square. What no batching can avoid doing."""
    a = ARCHITECTURE
    inner = a["num_heads"] * a["d_kv"]
    per_position = 2 * (4 * a["d_model"] * inner + 2 * a["d_model"] * a["d_ff"])
    per_pair = 2 * 2 * inner  # the query-key scores and the weighted sum of the values
    return a["num_layers"] * sum(rows * (n * per_position + n * n * per_pair) for rows, n in shapes)


# ----------------------------------------------------------------------------- measurements (child processes)


def clock() -> float:
    """The measurements' clock: wall time, or with --clock cpu this process's CPU time (all its threads), which
    other work on a shared machine does not inflate when each measurement runs one thread (--threads 1)."""
    return time.process_time() if os.environ.get("T5QA_BENCH_CLOCK") == "cpu" else time.perf_counter()


def _peak_rss_mb() -> float:
    """This process's own peak resident memory (VmHWM: unlike ru_maxrss, not inherited across fork/exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pipeline_attention(model) -> None:
    """The attention the train and predict steps run (the merged bias), unless --stock-attention asked for the
    stock one."""
    from t5qa.model import attention

    if not os.environ.get("T5QA_BENCH_STOCK_ATTENTION"):
        attention.use_merged_bias(model)


def pipeline_trainer(work: Path, batch_tokens: int | None, max_steps: int, trainer_class, callbacks, output: Path):
    """A subclass of the train step's own QATrainer over the prepared data in `work` (the fine-tuned model, the
    tokenized train split), set up as train() sets it up: no evaluation, checkpoint or logging within the run."""
    from transformers import DataCollatorForSeq2Seq

    from t5qa.model.model_io import load_model
    from t5qa.model.train import training_arguments
    from t5qa.model.training_data import load_splits, load_train_split
    from t5qa.settings import TrainSettings

    settings = TrainSettings.from_dict(
        {
            "learning_rate": 1e-4,
            "max_steps": max_steps,
            "batch_size": BATCH,
            "batch_tokens": batch_tokens,
            "seed": 0,
            "save_steps": 100_000,
            "logging_steps": 100_000,
            "eval_steps": 0,
        }
    )
    tokenizer, model = load_model(work / "model")
    pipeline_attention(model)
    return trainer_class(
        model=model,
        args=training_arguments(settings, output, 33),
        train_dataset=load_train_split(load_splits(work / "tokenized"), work / "tokenized"),
        data_collator=DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100, pad_to_multiple_of=8),
        processing_class=tokenizer,
        batch_tokens=batch_tokens,
        callbacks=callbacks,
    )


def measure_pipeline_training(work: str, batch_tokens: int | None, steps: int, warmup: int) -> dict:
    """`steps` optimizer steps (after `warmup`) of the train step's own QATrainer, set up as train() sets it up;
    the time inside training_step (forward + backward) against the whole step (data, collation, optimizer,
    scheduler, gradient clipping, callbacks, logging)."""
    import torch
    from transformers import TrainerCallback

    from t5qa.model.trainer import QATrainer

    work = Path(work)
    timing = {"step_ends": [], "model": 0.0, "examples": 0, "tokens": 0}

    class Timed(QATrainer):
        def training_step(self, model, inputs, num_items_in_batch=None):
            started = clock()
            loss = super().training_step(model, inputs, num_items_in_batch)
            if self.state.global_step >= warmup:
                timing["model"] += clock() - started
                timing["examples"] += inputs["input_ids"].shape[0]
                timing["tokens"] += int(inputs["attention_mask"].sum() + (inputs["labels"] != -100).sum())
            return loss

    class StepClock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            timing["step_ends"].append(clock())

    trainer = pipeline_trainer(work, batch_tokens, warmup + steps, Timed, [StepClock()], work / "bench-checkpoints")
    torch.manual_seed(0)
    trainer.train()
    ends = timing["step_ends"]
    seconds = ends[-1] - ends[warmup - 1]
    return {
        "examples_per_s": timing["examples"] / seconds,
        "tokens_per_s": timing["tokens"] / seconds,
        "steps": steps,
        "batch": f"{batch_tokens} tokens" if batch_tokens else f"{BATCH} examples",
        "examples_per_step": timing["examples"] / steps,
        "seconds": seconds,
        "forward_backward_share": timing["model"] / seconds,
        "peak_rss_mb": _peak_rss_mb(),
    }


def measure_reference_training(work: str, strategy: str, batch_size: int, steps: int, warmup: int) -> dict:
    """A plain loop over one reference set-up: random order, fixed padding; `steps` steps after `warmup`."""
    import datasets
    import torch
    from torch.utils.data import DataLoader, RandomSampler
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, DataCollatorForSeq2Seq

    torch.manual_seed(0)
    work = Path(work)
    data = datasets.load_from_disk(str(work / "tokenized"))["train"].select_columns(
        ["input_ids", "attention_mask", "labels"]
    )
    tokenizer = AutoTokenizer.from_pretrained(work / "model")
    model = AutoModelForSeq2SeqLM.from_pretrained(work / "model").train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    max_source, max_target = (384, 30) if strategy == "seq2seq_qa_384" else (2048, 100)
    collator = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100, padding="max_length", max_length=max_source)
    sampler = RandomSampler(data, generator=torch.Generator().manual_seed(0))

    def collate(features):  # the references truncate (and pad) inputs and targets to fixed lengths
        features = [
            {
                "input_ids": f["input_ids"][:max_source],
                "attention_mask": f["attention_mask"][:max_source],
                "labels": f["labels"][:max_target],
            }
            for f in features
        ]
        batch = collator([{k: v for k, v in f.items() if k != "labels"} for f in features])
        labels = torch.full((len(features), max_target), -100)
        for row, f in enumerate(features):
            labels[row, : len(f["labels"])] = torch.tensor(f["labels"])
        batch["labels"] = labels
        return batch

    loader = DataLoader(data, batch_size=batch_size, sampler=sampler, collate_fn=collate)
    examples = tokens = 0
    in_model = 0.0
    started = None
    for step, batch in enumerate(loader):
        if step == warmup:
            started = clock()
        before = clock()
        loss = model(**batch).loss
        loss.backward()
        after = clock()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step >= warmup:
            in_model += after - before
            examples += batch["input_ids"].shape[0]
            tokens += int(batch["attention_mask"].sum() + (batch["labels"] != -100).sum())
        if step + 1 == warmup + steps:
            break
    seconds = clock() - started
    return {
        "examples_per_s": examples / seconds,
        "tokens_per_s": tokens / seconds,
        "steps": steps,
        "batch": f"{batch_size} examples",
        "examples_per_step": examples / steps,
        "seconds": seconds,
        "forward_backward_share": in_model / seconds,
        "peak_rss_mb": _peak_rss_mb(),
    }


def measure_prediction(work: str, strategy: str, questions: int | None, budget: int = PREDICT_TOKENS) -> dict:
    """Predict the first `questions` validation questions (all: None) with one set-up. Returns per-row generated
    texts (for the identical-prediction check) and questions/s and non-pad input tokens/s."""
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from t5qa.data.batching import token_budget_batches
    from t5qa.data.tokenize_stats import read_tokenize_stats
    from t5qa.model.answering import choose_answer, generate_batch, group_windows
    from t5qa.model.model_io import auto_max_new_tokens
    from t5qa.model.predict import load_validation
    from t5qa.settings import PredictSettings

    torch.manual_seed(0)
    work = Path(work)
    validation = load_validation(work / "tokenized")
    grouped = group_windows(validation)
    keys = list(grouped)[:questions] if questions else list(grouped)
    rows = [r for key in keys for r in grouped[key]]
    inputs = [validation["input_ids"][r] for r in rows]
    tokenizer = AutoTokenizer.from_pretrained(work / "model")
    model = AutoModelForSeq2SeqLM.from_pretrained(work / "model").eval()
    tokenized_with, longest = read_tokenize_stats(work / "tokenize_stats.json")
    unanswerable = tokenized_with.unanswerable_target
    texts: dict[int, str] = {}
    started = clock()
    if strategy == "pipeline":
        pipeline_attention(model)
        max_new_tokens = auto_max_new_tokens(longest, tokenized_with.max_target_length)
        settings = PredictSettings.from_dict({"batch_tokens": budget, "max_new_tokens": max_new_tokens})
        na_ids = tokenizer(text_target=unanswerable)["input_ids"]
        batches = token_budget_batches([len(x) for x in inputs], settings.batch_tokens)
        generated = {}
        with torch.inference_mode():
            for batch in batches:
                out = generate_batch(model, tokenizer, [inputs[i] for i in batch], settings, na_ids, "cpu")
                generated.update(zip(batch, out))
        position = {r: i for i, r in enumerate(rows)}
        for key in keys:  # each question's answer over its windows, as the predict step chooses it
            choose_answer([generated[position[r]] for r in grouped[key]], unanswerable)
        texts = {i: g.text for i, g in generated.items()}
        shapes = [(len(b), max(len(inputs[i]) for i in b)) for b in batches]
        pad_to = None
        tokens = sum(len(x) for x in inputs)
    else:
        if strategy == "pad384_dataset_order":
            batches = [list(range(i, min(i + BATCH, len(inputs)))) for i in range(0, len(inputs), BATCH)]
            pad_to, generation = 384, {"max_length": 30}
        else:  # the CausalQA reference: one at a time, padding='longest' (none at batch 1), no cut, max_length=500
            batches = [[i] for i in range(len(inputs))]
            pad_to, generation = None, {"max_length": 500}
        for batch in batches:
            features = [{"input_ids": inputs[i][:pad_to]} for i in batch]
            padding = "max_length" if pad_to else "longest"
            padded = tokenizer.pad(features, padding=padding, max_length=pad_to, return_tensors="pt")
            with torch.inference_mode():
                out = model.generate(**padded, do_sample=False, num_beams=1, **generation)
            texts.update(zip(batch, tokenizer.batch_decode(out, skip_special_tokens=True)))
        shapes = [(len(b), pad_to or max(len(inputs[i]) for i in b)) for b in batches]
        tokens = sum(len(x[:pad_to]) for x in inputs)
    seconds = clock() - started
    windows = {r: len(grouped[key]) for key in keys for r in grouped[key]}
    generated_lengths = [len(ids) for ids in tokenizer(list(texts.values()))["input_ids"]]
    return {
        # What the model generates sets the decoding work: a briefly trained model answers in a few tokens.
        "generated_tokens_mean": sum(generated_lengths) / len(generated_lengths),
        "distinct_answers": len(set(texts.values())),
        "examples_per_s": len(keys) / seconds,
        "tokens_per_s": tokens / seconds,
        "questions": len(keys),
        "model_inputs": len(inputs),
        "encoder_gflops": encoder_flops(shapes) / 1e9,
        "seconds": seconds,
        "peak_rss_mb": _peak_rss_mb(),
        "texts": [texts[i] for i in range(len(inputs))],
        # Inputs every set-up sees whole: one window, and within the reference's padding.
        "whole": [windows[r] == 1 and (pad_to is None or len(x) <= pad_to) for r, x in zip(rows, inputs)],
    }


def measure_tokenization(work: str, num_proc: int, copies: int) -> dict:
    """The sample repeated `copies` times: large enough that process start-up does not dominate."""
    import pandas as pd
    from transformers import AutoTokenizer

    from t5qa.data.tokenize_data import tokenize_dataset
    from t5qa.settings import TokenizeSettings

    work = Path(work)
    tokenizer = AutoTokenizer.from_pretrained(work / "tokenizer")
    with tempfile.TemporaryDirectory() as tmp:
        tables = {}
        for split in ("train", "validation"):
            for original_path in sorted((work / "norm").glob(f"{split}-*.parquet")):
                original = pd.read_parquet(original_path)
                # Each copy gets its own ids: tokenization refuses a table with an id twice.
                copied = [original.assign(id=original["id"] + f"#{n}") for n in range(copies)]
                table = pd.concat(copied, ignore_index=True)
                table.to_parquet(Path(tmp) / original_path.name)
                source = original_path.stem.split("-", 1)[1]
                tables.setdefault(split, []).append((source, Path(tmp) / original_path.name))
        started = time.perf_counter()
        settings = TokenizeSettings.from_dict(TOKENIZE)
        stats = tokenize_dataset(tables, tokenizer, settings, Path(tmp) / "out", num_proc=num_proc)
        seconds = time.perf_counter() - started
    rows = stats["train"]["rows"] + stats["validation"]["rows"]
    return {
        "examples_per_s": rows / seconds,
        "rows": rows,
        "num_proc": num_proc,
        "seconds": seconds,
        "peak_rss_mb": _peak_rss_mb(),
    }


def in_child(function, *args):
    """Run one measurement in a fresh process: its own timing and its own peak memory."""
    started = time.perf_counter()
    with mp.get_context("spawn").Pool(1) as pool:
        result = pool.apply(function, args)
    print(f"  {function.__name__}{args[1:]}: {time.perf_counter() - started:.0f} s", flush=True)
    return result


def snakemake_overhead() -> dict:
    """`snakemake -n` over every real dataset, and a no-op run of the demo when it is built and up to date. It never
    builds anything in the repository's results/ (another run may be using them)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}

    def run(*args: str) -> tuple[float, str]:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "snakemake", *args], cwd=REPO, check=True, capture_output=True, text=True, env=env
        )
        return time.perf_counter() - started, done.stdout + done.stderr

    import yaml

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    targets = [f"results/metrics/{d}.json" for d in config["datasets"] if d != "causalqa_eli5"]
    out = {"dry_run_full_config_s": run("-n", *targets)[0], "dry_run_targets": len(targets)}
    demo = ("results/metrics/demo.json", "--configfile", "config/demo.yaml")
    try:
        if "Nothing to be done" in run("-n", *demo)[1]:
            seconds, log = run("--cores", "1", *demo)
            if "Nothing to be done" in log:
                out["noop_rerun_demo_s"] = seconds
    except subprocess.CalledProcessError as err:  # e.g. locked by a run in progress
        out["noop_rerun_error"] = (err.stderr or "").strip().splitlines()[-1:]
    return out


# ----------------------------------------------------------------------------- one distribution


def same(first: dict, second: dict) -> str:
    """Identical generated texts over the inputs both set-ups see whole."""
    pairs = [(p, q) for p, q, a, b in zip(first["texts"], second["texts"], first["whole"], second["whole"]) if a and b]
    return f"{sum(p == q for p, q in pairs)}/{len(pairs)}"


def run_distribution(name: str, spec: dict, args) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"t5qa-bench-{name}-"))
    started = time.perf_counter()
    data = prepare(spec, work, args.validation_questions, args.finetune_steps)
    print(f"[{name}] work folder {work}", flush=True)
    print(f"[{name}] prepared in {time.perf_counter() - started:.0f} s: {data}", flush=True)
    w, steps = str(work), args.train_steps
    train = {
        "pipeline": in_child(measure_pipeline_training, w, TRAIN_TOKENS, steps, 2),
        "pipeline_equal": in_child(measure_pipeline_training, w, EQUAL_TOKENS, steps, 2),
        "seq2seq_qa_384": in_child(measure_reference_training, w, "seq2seq_qa_384", BATCH, steps, 2),
        # Its steps cost the same whatever the data (everything is 2,048 tokens): fewer of them measure it as well.
        "causalqa_2048_bs2": in_child(measure_reference_training, w, "causalqa_2048", 2, max(2, steps // 2), 1),
    }
    n = args.reference_predictions
    predict = {
        "pipeline": in_child(measure_prediction, w, "pipeline", None),
        "pipeline_equal": in_child(measure_prediction, w, "pipeline", None, EQUAL_TOKENS),
        "pad384_dataset_order": in_child(measure_prediction, w, "pad384_dataset_order", None),
        "pipeline_first_n": in_child(measure_prediction, w, "pipeline", n),
        "causalqa_bs1_longest_max500": in_child(measure_prediction, w, "causalqa", n),
    }
    predict["identical_predictions"] = {
        "vs_pad384": same(predict["pipeline"], predict["pad384_dataset_order"]),
        "equal_vs_pad384": same(predict["pipeline_equal"], predict["pad384_dataset_order"]),
        "vs_bs1_longest": same(predict["pipeline_first_n"], predict["causalqa_bs1_longest_max500"]),
    }
    for row in predict.values():
        row.pop("texts", None)
        row.pop("whole", None)
    result = {"data": data, "train": train, "predict": predict}
    result["ratios"] = ratios(result)
    result["seconds"] = time.perf_counter() - started
    print(f"[{name}] measured in {result['seconds']:.0f} s: {json.dumps(result['ratios'])}", flush=True)
    return result


def ratios(r: dict) -> dict:
    t, p = r["train"], r["predict"]
    return {
        "train_tokens_vs_a": t["pipeline"]["tokens_per_s"] / t["seq2seq_qa_384"]["tokens_per_s"],
        "train_examples_vs_a": t["pipeline"]["examples_per_s"] / t["seq2seq_qa_384"]["examples_per_s"],
        "train_tokens_vs_b": t["pipeline"]["tokens_per_s"] / t["causalqa_2048_bs2"]["tokens_per_s"],
        "train_examples_vs_b": t["pipeline"]["examples_per_s"] / t["causalqa_2048_bs2"]["examples_per_s"],
        "predict_vs_a": p["pipeline"]["examples_per_s"] / p["pad384_dataset_order"]["examples_per_s"],
        "predict_tokens_vs_a": p["pipeline"]["tokens_per_s"] / p["pad384_dataset_order"]["tokens_per_s"],
        "predict_vs_b": p["pipeline_first_n"]["examples_per_s"] / p["causalqa_bs1_longest_max500"]["examples_per_s"],
        "predict_tokens_vs_b": p["pipeline_first_n"]["tokens_per_s"] / p["causalqa_bs1_longest_max500"]["tokens_per_s"],
        "equal_train_tokens_vs_a": t["pipeline_equal"]["tokens_per_s"] / t["seq2seq_qa_384"]["tokens_per_s"],
        "equal_predict_vs_a": p["pipeline_equal"]["examples_per_s"] / p["pad384_dataset_order"]["examples_per_s"],
        # How much less encoder work the pipeline does per question than (a): the speed-up padding alone can give.
        "predict_encoder_work_a_vs_pipeline": (
            p["pad384_dataset_order"]["encoder_gflops"] / p["pipeline"]["encoder_gflops"]
        ),
    }


TARGETS = {"predict_vs_a": 3.0, "predict_vs_b": 20.0, "train_tokens_vs_a": 2.0}


# ----------------------------------------------------------------------------- report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--squad",
        default=str(REPO.parent / "shared" / "data" / "squad2-dev-sample.json"),
        help="a SQuAD 2.0 file in the official format (the squad_sample distribution)",
    )
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "out"))
    parser.add_argument("--distributions", nargs="+", help="a subset of the distributions (default: all)")
    parser.add_argument("--train-steps", type=int, default=8)
    parser.add_argument(
        "--finetune-steps", type=int, default=40, help="the fine-tune before the measurements (batches of 16)"
    )
    parser.add_argument("--validation-questions", type=int, default=200, help="at most this many per distribution")
    parser.add_argument(
        "--reference-predictions", type=int, default=48, help="questions for the one-at-a-time reference (it is slow)"
    )
    parser.add_argument("--no-extras", action="store_true", help="skip the tokenize and Snakemake measurements")
    parser.add_argument(
        "--threads",
        type=int,
        help="torch threads of every measurement (OMP_NUM_THREADS; default: every core). On a shared machine, 1 keeps "
        "other work from stalling OpenMP's barriers, which would measure the contention instead of the set-up",
    )
    parser.add_argument(
        "--stock-attention",
        action="store_true",
        help="the pipeline without its merged attention bias (t5qa.model.attention), to measure what that brings",
    )
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="what the train and predict rates divide by: wall time, or the measuring process's CPU time (with "
        "--threads 1 on a busy machine); tokenization is always timed by the wall clock",
    )
    args = parser.parse_args()
    os.environ["T5QA_BENCH_CLOCK"] = args.clock
    if args.stock_attention:
        os.environ["T5QA_BENCH_STOCK_ATTENTION"] = "1"  # read by the measurements in their child processes
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before torch is imported here or in a child
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import torch

    started = time.perf_counter()
    specs = distributions(Path(args.squad))
    chosen = args.distributions or list(specs)
    results = {
        "machine": {
            "platform": platform.platform(),
            "cpus": mp.cpu_count(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "clock": args.clock,
            "pipeline_attention": "stock SDPA" if args.stock_attention else "merged bias (t5qa.model.attention)",
            "cuda": torch.cuda.is_available(),
            "load_average_at_start": os.getloadavg(),
        },
        "model": ARCHITECTURE,
        "settings": {
            "batch": BATCH,
            "train_batch_tokens": TRAIN_TOKENS,
            "predict_batch_tokens": PREDICT_TOKENS,
            "equal_batch_tokens": EQUAL_TOKENS,
            "train_steps": args.train_steps,
            "finetune_steps": args.finetune_steps,
            "reference_predictions": args.reference_predictions,
            "tokenize": TOKENIZE,
        },
        "squad_file": args.squad,
        "distributions": {},
    }
    for name in chosen:
        results["distributions"][name] = run_distribution(name, specs[name], args)
        (out / "results.partial.json").write_text(json.dumps(results, indent=2) + "\n")  # kept if a later step fails
    if not args.no_extras:
        work = Path(tempfile.mkdtemp(prefix="t5qa-bench-tokenize-"))
        spec = specs["squad_sample"]  # the normalised sample and its tokenizer: what the measurement reads
        prepare_data(work, {"train": spec["train"]}, holdout=spec["holdout"], tokenize=TOKENIZE, tokenized=False)
        tokenize = {f"num_proc_{p}": in_child(measure_tokenization, str(work), p, 20) for p in (1, 2)}
        tokenize["speedup_2_vs_1"] = tokenize["num_proc_2"]["examples_per_s"] / tokenize["num_proc_1"]["examples_per_s"]
        results["tokenize"] = tokenize
        results["snakemake"] = snakemake_overhead()
    results["targets"] = {
        name: {key: (round(r["ratios"][key], 2), r["ratios"][key] >= goal) for key, goal in TARGETS.items()}
        for name, r in results["distributions"].items()
    }
    results["seconds"] = time.perf_counter() - started
    results["machine"]["load_average_at_end"] = os.getloadavg()
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(markdown(results))
    (out / "results.partial.json").unlink(missing_ok=True)
    print(markdown(results))


def fmt_load(load) -> str:
    return "/".join(f"{x:.1f}" for x in load)


def markdown(r: dict) -> str:
    m = r["machine"]
    s = r["settings"]
    lines = [
        f"Machine: {m['platform']}, {m['cpus']} CPUs, torch {m['torch']} ({m['torch_threads']} threads per "
        f"measurement; rates per second of {'CPU time' if m['clock'] == 'cpu' else 'wall time'}; pipeline attention: "
        f"{m.get('pipeline_attention', 'merged bias')}), "
        f"CUDA {m['cuda']}. Model: scratch T5 d_model {r['model']['d_model']}, {r['model']['num_layers']}+"
        f"{r['model']['num_decoder_layers']} layers, a tokenizer and a {s['finetune_steps']}-step fine-tune per "
        f"distribution. Load average (1/5/15 min) {fmt_load(m['load_average_at_start'])} at the start, "
        f"{fmt_load(m['load_average_at_end'])} at the end (other work on the machine slows every set-up). "
        f"Pipeline budgets: train batch_tokens {s['train_batch_tokens']}, predict batch_tokens "
        f"{s['predict_batch_tokens']} (faster per token on this CPU than larger batches), and for comparison "
        f"{s['equal_batch_tokens']}, the padded tokens of one (a) batch ({s['batch']} x 384). "
        f"Train: {s['train_steps']} steps after 2 warm-up steps "
        f"((b): {max(2, s['train_steps'] // 2)} after 1). "
        f"Whole run {r['seconds'] / 60:.1f} min.",
        "",
        "| data (validation questions; mean / max input tokens) | step | set-up | questions or examples/s | "
        "non-pad tokens/s | peak RSS MB | pipeline speed-up | notes |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for name, d in r["distributions"].items():
        data, t, p, x = d["data"], d["train"], d["predict"], d["ratios"]
        length = data["source_length"]
        label = (
            f"{name} ({data['validation_questions']} of {data['validation_of']}; "
            f"{length.get('mean', 0):.0f} / {length.get('max', 0)})"
        )

        def row(step, setup, m, speedup="", notes="", label=label):
            return (
                f"| {label} | {step} | {setup} | {m['examples_per_s']:.2f} | {m['tokens_per_s']:.0f} | "
                f"{m['peak_rss_mb']:.0f} | {speedup} | {notes} |"
            )

        share = "forward+backward {:.0%} of step time"
        lines += [
            row(
                "train",
                f"pipeline (batch_tokens {s['train_batch_tokens']}, {t['pipeline']['examples_per_step']:.1f} "
                "examples/step)",
                t["pipeline"],
                notes=share.format(t["pipeline"]["forward_backward_share"]),
            ),
            row(
                "train",
                f"pipeline at one (a) batch's tokens (batch_tokens {s['equal_batch_tokens']}, "
                f"{t['pipeline_equal']['examples_per_step']:.1f} examples/step)",
                t["pipeline_equal"],
                f"{x['equal_train_tokens_vs_a']:.2f}x tokens/s vs (a)",
                share.format(t["pipeline_equal"]["forward_backward_share"]),
            ),
            row(
                "train",
                "(a) pad to 384, no grouping, batch 16",
                t["seq2seq_qa_384"],
                f"**{x['train_tokens_vs_a']:.2f}x tokens/s**, {x['train_examples_vs_a']:.2f}x examples/s",
                share.format(t["seq2seq_qa_384"]["forward_backward_share"]),
            ),
            row(
                "train",
                "(b) pad to 2,048, answers to 100, batch 2",
                t["causalqa_2048_bs2"],
                f"{x['train_tokens_vs_b']:.1f}x tokens/s, {x['train_examples_vs_b']:.1f}x examples/s",
                share.format(t["causalqa_2048_bs2"]["forward_backward_share"]),
            ),
            row(
                "predict",
                f"pipeline (batch_tokens {s['predict_batch_tokens']}, length-sorted, max_new_tokens auto)",
                p["pipeline"],
                notes=f"{p['pipeline']['model_inputs']} model inputs; answers: "
                f"{p['pipeline']['generated_tokens_mean']:.1f} tokens on average, {p['pipeline']['distinct_answers']} "
                "distinct",
            ),
            row(
                "predict",
                f"pipeline at one (a) batch's tokens (batch_tokens {s['equal_batch_tokens']})",
                p["pipeline_equal"],
                f"{x['equal_predict_vs_a']:.2f}x vs (a)",
                f"identical predictions to (a) {p['identical_predictions']['equal_vs_pad384']}",
            ),
            row(
                "predict",
                "(a) pad to 384, dataset order, batch 16",
                p["pad384_dataset_order"],
                f"**{x['predict_vs_a']:.2f}x** ({x['predict_tokens_vs_a']:.2f}x tokens/s)",
                f"identical predictions {p['identical_predictions']['vs_pad384']}",
            ),
            row(
                "predict",
                f"(b) batch 1, no padding, max_length 500 (first {p['pipeline_first_n']['questions']})",
                p["causalqa_bs1_longest_max500"],
                f"**{x['predict_vs_b']:.1f}x** ({x['predict_tokens_vs_b']:.1f}x tokens/s)",
                f"identical predictions {p['identical_predictions']['vs_bs1_longest']}",
            ),
        ]
    lines += ["", "Targets (prediction >= 3x (a) and >= 20x (b) in questions/s, training >= 2x (a) in tokens/s):", ""]
    lines += [
        "| data | predict vs (a) | predict vs (b) | train tokens/s vs (a) | encoder work of (a) per question, "
        "against the pipeline's | predict vs (a) per unit of encoder work |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, targets in r["targets"].items():
        cells = [f"{value:.2f}x {'met' if met else 'MISSED'}" for value, met in targets.values()]
        x = r["distributions"][name]["ratios"]
        work = x["predict_encoder_work_a_vs_pipeline"]
        cells += [f"{work:.2f}x", f"{x['predict_vs_a'] / work:.2f}x"]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    lines += [
        "",
        "Encoder work: forward FLOPs of the encoder over each set-up's padded batches (linear layers per padded "
        "position, attention per query-key pair). On inputs as long as (a)'s padding, (a) wastes little and the "
        "pipeline's speed-up can only come from doing each unit of work faster (smaller batches that stay in cache, "
        "the attention mask merged once per pass).",
    ]
    if "tokenize" in r:
        k = r["tokenize"]
        lines += [
            "",
            f"Tokenize (SQuAD sample x 20, {k['num_proc_1']['rows']} rows): 1 process "
            f"{k['num_proc_1']['examples_per_s']:.0f} rows/s ({k['num_proc_1']['peak_rss_mb']:.0f} MB), 2 processes "
            f"{k['num_proc_2']['examples_per_s']:.0f} rows/s ({k['speedup_2_vs_1']:.2f}x).",
        ]
    if "snakemake" in r:
        sm = r["snakemake"]
        lines += [
            "",
            f"Snakemake: `snakemake -n` over all {sm['dry_run_targets']} real datasets "
            f"{sm['dry_run_full_config_s']:.2f} s"
            + (
                f"; no-op rerun of the built demo {sm['noop_rerun_demo_s']:.2f} s."
                if "noop_rerun_demo_s" in sm
                else " (the demo is not built and up to date here: no no-op rerun timed)."
            ),
        ]
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
