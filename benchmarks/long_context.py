"""Long contexts: sliding windows against truncation at the same max_source_length.

  python benchmarks/long_context.py [--squad ../shared/data/squad2-dev-sample.json] [--out benchmarks/out] [--skip-dag]

1. Visibility on real data: on the SQuAD 2.0 sample, the share of answerable questions whose answer lies past the
   cut at 128/256/384/512 tokens, and the share no window holds whole with windows (stride auto: a quarter).
   `--tokenizer t5-small` uses T5's own vocabulary (from the hub cache); the default, for machines without it, is a
   32k-piece scratch sentencepiece trained on the sample itself (benchmarks/prepare.py, as the workflow's
   scratch_tokenizer step trains one), which needs fewer pieces per word than T5's: with it the inputs are shorter
   and the shares past the cut smaller.
2. Accuracy on the long-context demo (config/demo_long.yaml: the demo's questions with their context hidden among
   neutral sentences, 2-3x max_source_length 96): the workflow trains the demo model and scores it on the long
   variant with windows and with truncation at 96 tokens (`snakemake ... --configfile config/demo.yaml
   config/demo_long.yaml`, skipped with --skip-dag when results/ already holds them): EM/F1 and the share of answers
   each lets the model see.
3. Prediction speed on the long-context demo's validation split, with that model, one process:
   the pipeline's windows (all windows of a question, scores and no-answer probability included), the pipeline on
   truncated inputs, and the reference set-up (b) (as Webis evaluate_unifiedqa.py: the whole input, one question at
   a time, padding='longest' (so none), no cut, max_length 500). Questions/s and non-pad input tokens/s.
Writes long_context.json and long_context.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/: the shared preparation
from prepare import normalize, prepare  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIGS = ["config/demo.yaml", "config/demo_long.yaml"]
# What config/demo_long.yaml builds: the demo model trained at max_source_length 96 (the demo's inputs all fit, so
# both experiments tokenize the training data to the same bytes and train the same model), scored on demo_long.
MODEL = REPO / "results/experiments/truncate96/models/demo"
DAG_METRICS = REPO / "results/experiments/truncate96/metrics/demo.on.demo_long.json"
LONG_VALIDATION = REPO / "results/normalized/demo_long_squad/validation.parquet"
TOKENIZE = {"max_source_length": 96, "max_target_length": 32, "stride": 48}  # as config/demo_long.yaml


def tokenize_table(table, tokenizer, settings) -> dict:
    """Every window of every question (as the validation split keeps them), as one dict of columns."""
    from t5qa.features import make_tokenize_fn

    tokenize = make_tokenize_fn(tokenizer, settings, all_windows=True)
    columns = {name: list(table[name]) for name in ("id", "question", "context", "answer")}
    return tokenize(columns)


def visibility(table, tokenizer, settings) -> dict:
    """Answerable questions whose answer is a span of the context, and how many of them the model cannot see."""
    from t5qa.text import split_answers

    out = tokenize_table(table, tokenizer, settings)
    primary = [i for i, p in enumerate(out["primary"]) if p]
    spans = sum(
        any(g in context for g in split_answers(answer)) for answer, context in zip(table["answer"], table["context"])
    )
    return {
        "questions": len(primary),
        "answerable_spans": spans,
        "inputs_over_limit": sum(out["input_truncated"][i] for i in primary),
        "model_inputs": len(out["input_ids"]),
        "answers_past_cut": sum(out["answer_past_cut"][i] for i in primary),
        "answers_unseen": sum(out["answer_truncated"][i] for i in primary),
    }


def squad_visibility(squad: Path, tokenizer_name: str | None = None) -> dict:
    from t5qa.features import load_tokenizer
    from t5qa.settings import TokenizeSettings

    sources = {"train": [("squad", squad, "squad_v2_json")]}
    if tokenizer_name:
        table = normalize(sources)["train"][0][1]
        tokenizer = load_tokenizer(tokenizer_name)
    else:
        with tempfile.TemporaryDirectory(prefix="t5qa-long-context-") as work:
            prepared = prepare(Path(work), sources, tokenized=False, vocab_size=32000)
        table, tokenizer = prepared.tables["train"][0][1], prepared.tokenizer
    rows = {}
    for limit in (128, 256, 384, 512):
        for mode in ("truncate", "windows"):
            settings = TokenizeSettings.from_dict({"max_source_length": limit, "long_inputs": mode})
            rows[f"{limit}/{mode}"] = {"max_source_length": limit, "long_inputs": mode} | visibility(
                table, tokenizer, settings
            )
    words = sum(len(c.split()) for c in table["context"])
    pieces = sum(len(ids) for ids in tokenizer(list(table["context"]))["input_ids"])
    return {
        "file": str(squad),
        "tokenizer": tokenizer_name or "scratch, trained on the sample",
        "tokenizer_pieces": len(tokenizer),
        "context_tokens_per_word": round(pieces / words, 3),
        "rows": rows,
    }


def run_demo_dag(cores: int) -> float:
    started = time.perf_counter()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    subprocess.run(["snakemake", "--cores", str(cores), "--configfile", *DEMO_CONFIGS], cwd=REPO, env=env, check=True)
    return time.perf_counter() - started


def demo_accuracy(predictions: dict[str, Path]) -> dict:
    """EM/F1 of each set-up's predictions (from `prediction_speed`) and the share of answers it lets the model see;
    the truncation row is checked against the workflow's own metrics file."""
    from transformers import AutoTokenizer

    from t5qa.cli import read_table
    from t5qa.metrics import evaluate
    from t5qa.settings import TokenizeSettings

    table = read_table(LONG_VALIDATION, ["id", "question", "context", "answer"])
    tokenizer = AutoTokenizer.from_pretrained(MODEL)
    out = {}
    for mode, path in predictions.items():
        metrics = evaluate(path, [("demo_long_squad", LONG_VALIDATION)])
        keys = ("exact", "f1", "HasAns_f1", "NoAns_f1", "best_f1", "best_f1_thresh")
        settings = TokenizeSettings.from_dict({**TOKENIZE, "long_inputs": mode})
        out[mode] = {key: metrics[key] for key in keys} | visibility(table, tokenizer, settings)
    if DAG_METRICS.is_file():
        dag = json.loads(DAG_METRICS.read_text())
        out["truncate"]["workflow_f1"] = dag["f1"]  # the same model and inputs through the workflow's predict step
    return out


def prediction_speed(out: Path) -> dict:
    """Questions/s and non-pad input tokens/s of the three set-ups on the long demo's validation split; the
    pipeline's predictions are written to out/long_context.<mode>.jsonl."""
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from t5qa.atomic import write_text
    from t5qa.cli import read_table
    from t5qa.predict import choose_answer, generate_batch, group_windows, length_sorted_batches
    from t5qa.settings import PredictSettings, TokenizeSettings

    torch.manual_seed(0)
    table = read_table(LONG_VALIDATION, ["id", "question", "context", "answer"])
    tokenizer = AutoTokenizer.from_pretrained(MODEL)
    model = AutoModelForSeq2SeqLM.from_pretrained(MODEL).eval()
    settings = PredictSettings.from_dict({"batch_size": 64, "max_new_tokens": 16})  # the demo's answers: <= 9 tokens
    unanswerable = TokenizeSettings.from_dict({}).unanswerable_target
    na_ids = tokenizer(text_target=unanswerable)["input_ids"]
    results = {}
    for mode in ("windows", "truncate"):
        tokenized = tokenize_table(table, tokenizer, TokenizeSettings.from_dict({**TOKENIZE, "long_inputs": mode}))
        inputs = tokenized["input_ids"]
        started = time.perf_counter()
        by_row = {}
        for batch in length_sorted_batches([len(x) for x in inputs], settings.batch_size):
            with torch.inference_mode():
                generated = generate_batch(model, tokenizer, [inputs[i] for i in batch], settings, na_ids, "cpu")
            by_row.update(zip(batch, generated))
        rows = {"id": tokenized["id"], "source": ["demo"] * len(inputs), "window": tokenized["window"]}
        questions = group_windows(rows)
        answers = [choose_answer([by_row[r] for r in rs], unanswerable) for rs in questions.values()]
        seconds = time.perf_counter() - started
        results[mode] = speed_row(len(answers), sum(map(len, inputs)), seconds, len(inputs))
        lines = [
            json.dumps({"id": id_, "prediction": a.prediction, "score": a.score, "na_prob": a.na_prob})
            for (_, id_), a in zip(questions, answers)
        ]
        write_text(out / f"long_context.{mode}.jsonl", "\n".join(lines) + "\n")
    # (b), as Webis evaluate_unifiedqa.py: the whole input, one question at a time, padding='longest' (none at batch
    # 1), no cut, greedy with max_length 500.
    whole = [tokenizer(f"question: {q} context: {c}")["input_ids"] for q, c in zip(table["question"], table["context"])]
    started = time.perf_counter()
    for ids in whole:
        padded = tokenizer.pad({"input_ids": [ids]}, padding="longest", return_tensors="pt")
        with torch.inference_mode():
            model.generate(**padded, do_sample=False, num_beams=1, max_length=500)
    results["reference_b"] = speed_row(len(whole), sum(map(len, whole)), time.perf_counter() - started, len(whole))
    return results


def speed_row(questions: int, tokens: int, seconds: float, inputs: int) -> dict:
    return {
        "questions": questions,
        "model_inputs": inputs,
        "seconds": round(seconds, 2),
        "questions_per_s": round(questions / seconds, 2),
        "non_pad_tokens_per_s": round(tokens / seconds, 1),
    }


def markdown(r: dict) -> str:
    lines = [f"Long contexts, measured on {r['machine']} with `python benchmarks/long_context.py`.", ""]
    if r.get("squad"):
        lines += [
            f"SQuAD 2.0 sample ({Path(r['squad']['file']).name}), tokenizer: {r['squad']['tokenizer']} "
            f"({r['squad']['tokenizer_pieces']} pieces, {r['squad']['context_tokens_per_word']} tokens per context "
            "word). Shares of the answerable questions whose answer is a context span:",
            "",
            "| max_source_length | inputs over it | answers past the cut (truncate) "
            "| answers no window holds (windows, stride auto) | model inputs (windows) |",
            "|---|---|---|---|---|",
        ]
        for limit in (128, 256, 384, 512):
            t, w = r["squad"]["rows"][f"{limit}/truncate"], r["squad"]["rows"][f"{limit}/windows"]
            n = t["answerable_spans"]
            past, unseen = t["answers_past_cut"], w["answers_unseen"]
            lines.append(
                f"| {limit} | {t['inputs_over_limit']} of {t['questions']} | {past} ({100 * past / n:.1f} %) "
                f"| {unseen} ({100 * unseen / n:.1f} %) | {w['model_inputs']} |"
            )
        lines.append("")
    a = r["demo_accuracy"]
    lines += [
        "Long-context demo (validation, 200 questions; contexts 2-3x max_source_length 96), the demo model "
        f"(truncation through the workflow's predict step: F1 {a['truncate'].get('workflow_f1', float('nan')):.2f}):",
        "",
        "| set-up | answers the model can see | EM | F1 | HasAns F1 | NoAns F1 | best F1 (threshold) |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode in ("truncate", "windows"):
        m = a[mode]
        seen = m["answerable_spans"] - (m["answers_unseen"])
        lines.append(
            f"| {mode} | {seen} of {m['answerable_spans']} ({100 * seen / m['answerable_spans']:.0f} %) "
            f"| {m['exact']:.1f} | {m['f1']:.1f} | {m['HasAns_f1']:.1f} | {m['NoAns_f1']:.1f} "
            f"| {m['best_f1']:.1f} ({m['best_f1_thresh']:.3g}) |"
        )
    s = r["prediction_speed"]
    lines += [
        "",
        "Prediction on the long-context demo's validation split (one process):",
        "",
        "| set-up | model inputs | questions/s | non-pad tokens/s |",
        "|---|---|---|---|",
    ]
    for name, label in (
        ("windows", "pipeline, windows"),
        ("truncate", "pipeline, truncated"),
        ("reference_b", "(b) batch 1, no padding, max_length 500"),
    ):
        lines.append(
            f"| {label} | {s[name]['model_inputs']} | {s[name]['questions_per_s']:.1f} "
            f"| {s[name]['non_pad_tokens_per_s']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, default=REPO.parent / "shared/data/squad2-dev-sample.json")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/out")
    parser.add_argument(
        "--tokenizer", help="for the SQuAD shares: a hub id or folder (e.g. t5-small); default: scratch, on the sample"
    )
    parser.add_argument("--skip-dag", action="store_true", help="use the long demo's results already in results/")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    from t5qa.atomic import write_json, write_text

    report = {"machine": f"{platform.machine()} {os.cpu_count()} cores"}
    if args.squad.is_file():
        print("visibility on", args.squad, flush=True)
        report["squad"] = squad_visibility(args.squad, args.tokenizer)
    if not args.skip_dag:
        print("the long-context demo DAG (windows and truncate experiments)", flush=True)
        report["dag_seconds"] = round(run_demo_dag(args.cores), 1)
    print("prediction speed", flush=True)
    report["prediction_speed"] = prediction_speed(args.out)
    report["demo_accuracy"] = demo_accuracy({m: args.out / f"long_context.{m}.jsonl" for m in ("windows", "truncate")})
    write_json(args.out / "long_context.json", report)
    write_text(args.out / "long_context.md", markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
