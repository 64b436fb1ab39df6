"""Throughput benchmark: the pipeline's train/predict/tokenize steps against the reference set-ups.

  python benchmarks/run.py [--squad ../shared/data/squad2-dev-sample.json] [--out benchmarks/out]

Everything runs on this machine, with one model, one data set and (but for the CausalQA reference's own batch
size of 2) one batch size, each measurement in a fresh process so peak memory is its own. Baselines:
  train (a)   like HF run_seq2seq_qa.py defaults: pad every input to 384 (answers to 30), no length grouping
  train (b)   the CausalQA reference: pad every input to 2,048, batch size 2
  predict (a) pad to 384, batches in dataset order
  predict (b) one example at a time, input padded to 2,048, max_length=500
The model is a scratch T5 (random init + sentencepiece on the benchmark text, briefly trained so that it
stops generating like a fine-tuned model does): no hub download is needed. Writes results.json and results.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


# ----------------------------------------------------------------------------- set-up (main process)


def prepare(squad: Path, work: Path) -> dict:
    """Normalise the SQuAD sample, train a tokenizer, build and briefly train a model, tokenize."""
    from transformers import AutoTokenizer

    from t5qa.normalize import holdout_mask, normalize_file
    from t5qa.scratch_model import build_model, train_tokenizer
    from t5qa.settings import NormalizeSettings, TokenizeSettings, TrainSettings
    from t5qa.tokenize_data import tokenize_dataset
    from t5qa.train import train

    table, _ = normalize_file(squad, NormalizeSettings.from_dict({"format": "squad_v2_json"}))
    held_out = holdout_mask(table["id"], 0.25)
    (work / "norm").mkdir(parents=True, exist_ok=True)
    table[~held_out].to_parquet(work / "norm" / "train.parquet")
    table[held_out].to_parquet(work / "norm" / "validation.parquet")
    texts = table["question"].tolist() + table["context"].tolist() + table["answer"].tolist() + ["unanswerable"]
    tokenizer = train_tokenizer(texts, vocab_size=8000, seed=0)
    tokenizer.save_pretrained(work / "tokenizer")
    build_model(tokenizer, ARCHITECTURE, seed=0).save_pretrained(work / "init")
    tokenizer.save_pretrained(work / "init")
    tables = {s: [("squad", work / "norm" / f"{s}.parquet")] for s in ("train", "validation")}
    tokenizer = AutoTokenizer.from_pretrained(work / "tokenizer")
    tokenize_settings = TokenizeSettings.from_dict(TOKENIZE)
    stats = tokenize_dataset(tables, tokenizer, tokenize_settings, work / "tokenized")
    (work / "tokenize_stats.json").write_text(json.dumps({**stats, "settings": tokenize_settings.as_dict()}))
    # A short fine-tune, so that generation stops at the end token as it does for a trained model.
    settings = TrainSettings.from_dict(
        {
            "learning_rate": 3e-3,
            "epochs": 1,
            "max_steps": 120,
            "batch_size": 16,
            "seed": 0,
            "save_steps": 10_000,
            "logging_steps": 40,
            "warmup_ratio": 0.0,  # as this benchmark's short fine-tune always had
            "weight_decay": 0.0,
            "eval_steps": 0,  # only a starting point for the measurements
        }
    )
    stats_file = work / "tokenize_stats.json"
    train(settings, work / "tokenized", stats_file, str(work / "init"), work / "model", work / "checkpoints")
    return {
        "rows": len(table),
        "train_rows": int((~held_out).sum()),
        "validation_rows": int(held_out.sum()),
    }


# ----------------------------------------------------------------------------- measurements (child processes)


def _peak_rss_mb() -> float:
    """This process's own peak resident memory (VmHWM: unlike ru_maxrss, not inherited across fork/exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_training(work: str, strategy: str, batch_size: int, steps: int, warmup: int) -> dict:
    """Time `steps` optimizer steps (after `warmup`) of one batching strategy; count the non-pad tokens."""
    import datasets
    import torch
    from torch.utils.data import DataLoader, RandomSampler
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, DataCollatorForSeq2Seq
    from transformers.trainer_pt_utils import LengthGroupedSampler

    torch.manual_seed(0)
    work = Path(work)
    data = datasets.load_from_disk(str(work / "tokenized"))["train"].select_columns(
        ["input_ids", "attention_mask", "labels", "length"]
    )
    tokenizer = AutoTokenizer.from_pretrained(work / "model")
    model = AutoModelForSeq2SeqLM.from_pretrained(work / "model").train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    if strategy == "pipeline":
        collator = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100, pad_to_multiple_of=8)
        sampler = LengthGroupedSampler(
            batch_size, dataset=data, lengths=data["length"], generator=torch.Generator().manual_seed(0)
        )
        max_source, max_target = None, None
    else:
        max_source, max_target = (384, 30) if strategy == "seq2seq_qa_384" else (2048, 500)
        collator = DataCollatorForSeq2Seq(
            tokenizer, label_pad_token_id=-100, padding="max_length", max_length=max_source
        )
        sampler = RandomSampler(data, generator=torch.Generator().manual_seed(0))
    data = data.remove_columns(["length"])

    def collate(features):
        if max_source:  # the references truncate (and pad) inputs and targets to fixed lengths
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
        return collator(features)

    loader = DataLoader(data, batch_size=batch_size, sampler=sampler, collate_fn=collate)
    examples = tokens = 0
    started = None
    for step, batch in enumerate(loader):
        if step == warmup:
            started = time.perf_counter()
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step >= warmup:
            examples += batch["input_ids"].shape[0]
            tokens += int(batch["attention_mask"].sum() + (batch["labels"] != -100).sum())
        if step + 1 == warmup + steps:
            break
    seconds = time.perf_counter() - started
    return {
        "examples_per_s": examples / seconds,
        "tokens_per_s": tokens / seconds,
        "steps": steps,
        "batch_size": batch_size,
        "seconds": seconds,
        "peak_rss_mb": _peak_rss_mb(),
    }


def measure_prediction(work: str, strategy: str, batch_size: int, limit: int | None) -> dict:
    import datasets
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from t5qa.predict import auto_max_new_tokens, length_sorted_batches

    torch.manual_seed(0)
    work = Path(work)
    validation = datasets.load_from_disk(str(work / "tokenized"))["validation"]
    if limit:
        validation = validation.select(range(min(limit, len(validation))))
    inputs = validation["input_ids"]
    tokenizer = AutoTokenizer.from_pretrained(work / "model")
    model = AutoModelForSeq2SeqLM.from_pretrained(work / "model").eval()
    stats = json.loads((work / "tokenize_stats.json").read_text())
    if strategy == "pipeline":
        batches = length_sorted_batches([len(x) for x in inputs], batch_size)
        longest = stats["train"]["target_length"]["max"]
        pad_to, generation = None, {"max_new_tokens": auto_max_new_tokens(longest, TOKENIZE["max_target_length"])}
    elif strategy == "pad384_dataset_order":
        batches = [list(range(i, min(i + batch_size, len(inputs)))) for i in range(0, len(inputs), batch_size)]
        pad_to, generation = 384, {"max_length": 30}
    else:  # the CausalQA reference: one at a time, padded to 2,048, max_length=500
        batches = [[i] for i in range(len(inputs))]
        pad_to, generation = 2048, {"max_length": 500}
    predictions = {}
    started = time.perf_counter()
    for batch in batches:
        features = [{"input_ids": inputs[i][:pad_to] if pad_to else inputs[i]} for i in batch]
        padded = tokenizer.pad(
            features, padding="max_length" if pad_to else True, max_length=pad_to, return_tensors="pt"
        )
        with torch.inference_mode():
            out = model.generate(**padded, do_sample=False, num_beams=1, **generation)
        for i, text in zip(batch, tokenizer.batch_decode(out, skip_special_tokens=True)):
            predictions[i] = text
    seconds = time.perf_counter() - started
    return {
        "examples_per_s": len(inputs) / seconds,
        "examples": len(inputs),
        "seconds": seconds,
        "peak_rss_mb": _peak_rss_mb(),
        "predictions": [predictions[i] for i in range(len(inputs))],
    }


def measure_tokenization(work: str, num_proc: int, copies: int) -> dict:
    """The sample repeated `copies` times: large enough that process start-up does not dominate."""
    import pandas as pd
    from transformers import AutoTokenizer

    from t5qa.settings import TokenizeSettings
    from t5qa.tokenize_data import tokenize_dataset

    work = Path(work)
    tokenizer = AutoTokenizer.from_pretrained(work / "tokenizer")
    with tempfile.TemporaryDirectory() as tmp:
        tables = {}
        for split in ("train", "validation"):
            original = pd.read_parquet(work / "norm" / f"{split}.parquet")
            # Each copy gets its own ids: tokenization refuses a table with an id twice.
            copied = [original.assign(id=original["id"] + f"#{n}") for n in range(copies)]
            table = pd.concat(copied, ignore_index=True)
            table.to_parquet(Path(tmp) / f"{split}.parquet")
            tables[split] = [("squad", Path(tmp) / f"{split}.parquet")]
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
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def snakemake_overhead() -> dict:
    def run(*args: str) -> tuple[float, str]:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "snakemake", *args], cwd=REPO, check=True, capture_output=True, text=True
        )
        return time.perf_counter() - started, done.stdout + done.stderr

    import yaml

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    targets = [f"results/metrics/{d}.json" for d in config["datasets"] if d != "causalqa_eli5"]
    out = {"dry_run_full_config_s": run("-n", *targets)[0], "dry_run_targets": len(targets)}
    if (REPO / "results" / "metrics" / "demo.json").exists():
        demo = ("--cores", "1", "results/metrics/demo.json", "--configfile", "config/demo.yaml")
        run(*demo)  # brings the demo up to date if the code changed since it was built
        seconds, log = run(*demo)
        if "Nothing to be done" in log:
            out["noop_rerun_demo_s"] = seconds
    return out


# ----------------------------------------------------------------------------- report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--squad",
        default=str(REPO.parent / "shared" / "data" / "squad2-dev-sample.json"),
        help="a SQuAD 2.0 file in the official format",
    )
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "out"))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--train-steps", type=int, default=8)
    parser.add_argument(
        "--reference-predictions", type=int, default=48, help="examples for the one-at-a-time reference (it is slow)"
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import torch

    work = Path(tempfile.mkdtemp(prefix="t5qa-bench-"))
    data = prepare(Path(args.squad), work)
    b = args.batch_size
    results = {
        "machine": {
            "platform": platform.platform(),
            "cpus": mp.cpu_count(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.is_available(),
        },
        "data": {"file": args.squad, **data},
        "model": ARCHITECTURE,
        "train": {
            "pipeline": in_child(measure_training, str(work), "pipeline", b, args.train_steps, 2),
            "seq2seq_qa_384": in_child(measure_training, str(work), "seq2seq_qa_384", b, args.train_steps, 2),
            "causalqa_2048_bs2": in_child(measure_training, str(work), "causalqa_2048", 2, args.train_steps, 2),
        },
    }
    n = args.reference_predictions
    predict = {
        "pipeline": in_child(measure_prediction, str(work), "pipeline", b, None),
        "pad384_dataset_order": in_child(measure_prediction, str(work), "pad384_dataset_order", b, None),
        "pipeline_first_n": in_child(measure_prediction, str(work), "pipeline", b, n),
        "causalqa_bs1_2048_max500": in_child(measure_prediction, str(work), "causalqa", 1, n),
    }
    same_a = sum(
        p == q for p, q in zip(predict["pipeline"]["predictions"], predict["pad384_dataset_order"]["predictions"])
    )
    same_b = sum(
        p == q
        for p, q in zip(predict["pipeline_first_n"]["predictions"], predict["causalqa_bs1_2048_max500"]["predictions"])
    )
    for row in predict.values():
        row.pop("predictions")
    predict["identical_predictions"] = {
        "vs_pad384": f"{same_a}/{predict['pipeline']['examples']}",
        "vs_bs1_2048": f"{same_b}/{predict['pipeline_first_n']['examples']}",
    }
    results["predict"] = predict
    results["tokenize"] = {f"num_proc_{p}": in_child(measure_tokenization, str(work), p, 20) for p in (1, 2)}
    results["snakemake"] = snakemake_overhead()
    train, pred = results["train"], results["predict"]
    results["ratios"] = {
        "train_tokens_vs_seq2seq_qa_384": train["pipeline"]["tokens_per_s"] / train["seq2seq_qa_384"]["tokens_per_s"],
        "train_tokens_vs_causalqa_2048_bs2": train["pipeline"]["tokens_per_s"]
        / train["causalqa_2048_bs2"]["tokens_per_s"],
        "train_examples_vs_seq2seq_qa_384": train["pipeline"]["examples_per_s"]
        / train["seq2seq_qa_384"]["examples_per_s"],
        "train_examples_vs_causalqa_2048_bs2": train["pipeline"]["examples_per_s"]
        / train["causalqa_2048_bs2"]["examples_per_s"],
        "predict_vs_pad384_dataset_order": pred["pipeline"]["examples_per_s"]
        / pred["pad384_dataset_order"]["examples_per_s"],
        "predict_vs_bs1_2048_max500": pred["pipeline_first_n"]["examples_per_s"]
        / pred["causalqa_bs1_2048_max500"]["examples_per_s"],
        "tokenize_2_procs_vs_1": results["tokenize"]["num_proc_2"]["examples_per_s"]
        / results["tokenize"]["num_proc_1"]["examples_per_s"],
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(markdown(results))
    print(markdown(results))


def markdown(r: dict) -> str:
    t, p, k, ratio = r["train"], r["predict"], r["tokenize"], r["ratios"]
    lines = [
        f"Machine: {r['machine']['platform']}, {r['machine']['cpus']} CPUs, torch {r['machine']['torch']}, "
        f"CUDA {r['machine']['cuda']}. Data: {Path(r['data']['file']).name} ({r['data']['rows']} questions). "
        f"Model: scratch T5 d_model {r['model']['d_model']}, {r['model']['num_layers']}+"
        f"{r['model']['num_decoder_layers']} layers.",
        "",
        "| step | set-up | examples/s | non-pad tokens/s | peak RSS MB | pipeline speed-up |",
        "|---|---|---:|---:|---:|---:|",
        f"| train | pipeline (dynamic padding, length-grouped, batch {t['pipeline']['batch_size']}) | "
        f"{t['pipeline']['examples_per_s']:.1f} | {t['pipeline']['tokens_per_s']:.0f} | "
        f"{t['pipeline']['peak_rss_mb']:.0f} | |",
        f"| train | (a) pad to 384, no grouping, batch {t['seq2seq_qa_384']['batch_size']} | "
        f"{t['seq2seq_qa_384']['examples_per_s']:.1f} | {t['seq2seq_qa_384']['tokens_per_s']:.0f} | "
        f"{t['seq2seq_qa_384']['peak_rss_mb']:.0f} | {ratio['train_tokens_vs_seq2seq_qa_384']:.2f}x tokens/s, "
        f"{ratio['train_examples_vs_seq2seq_qa_384']:.2f}x examples/s |",
        f"| train | (b) pad to 2,048, batch 2 | {t['causalqa_2048_bs2']['examples_per_s']:.1f} | "
        f"{t['causalqa_2048_bs2']['tokens_per_s']:.0f} | {t['causalqa_2048_bs2']['peak_rss_mb']:.0f} | "
        f"{ratio['train_tokens_vs_causalqa_2048_bs2']:.2f}x tokens/s, "
        f"{ratio['train_examples_vs_causalqa_2048_bs2']:.2f}x examples/s |",
        "| predict | pipeline (length-sorted batches, max_new_tokens auto) | "
        f"{p['pipeline']['examples_per_s']:.1f} | | "
        f"{p['pipeline']['peak_rss_mb']:.0f} | |",
        f"| predict | (a) pad to 384, dataset order | {p['pad384_dataset_order']['examples_per_s']:.1f} | | "
        f"{p['pad384_dataset_order']['peak_rss_mb']:.0f} | {ratio['predict_vs_pad384_dataset_order']:.2f}x "
        f"(identical predictions {p['identical_predictions']['vs_pad384']}) |",
        f"| predict | (b) batch 1, pad to 2,048, max_length 500 (first {p['pipeline_first_n']['examples']}) | "
        f"{p['causalqa_bs1_2048_max500']['examples_per_s']:.2f} | | "
        f"{p['causalqa_bs1_2048_max500']['peak_rss_mb']:.0f} | {ratio['predict_vs_bs1_2048_max500']:.1f}x "
        f"(identical predictions {p['identical_predictions']['vs_bs1_2048']}) |",
        f"| tokenize | 1 process ({k['num_proc_1']['rows']} rows) | {k['num_proc_1']['examples_per_s']:.0f} | | "
        f"{k['num_proc_1']['peak_rss_mb']:.0f} | |",
        f"| tokenize | 2 processes | {k['num_proc_2']['examples_per_s']:.0f} | | "
        f"{k['num_proc_2']['peak_rss_mb']:.0f} | "
        f"{ratio['tokenize_2_procs_vs_1']:.2f}x vs 1 process |",
        "",
        f"Snakemake: `snakemake -n` over all {r['snakemake']['dry_run_targets']} real datasets "
        f"{r['snakemake']['dry_run_full_config_s']:.2f} s"
        + (
            f"; no-op rerun of the built demo {r['snakemake']['noop_rerun_demo_s']:.2f} s."
            if "noop_rerun_demo_s" in r["snakemake"]
            else " (build the demo first to time a no-op rerun)."
        ),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
