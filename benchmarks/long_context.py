"""Long contexts: sliding windows against truncation at the same max_source_length.

  python benchmarks/long_context.py [--squad ../shared/data/squad2-dev-sample.json] [--out benchmarks/out]
                                    [--workdir DIR] [--skip-dag] [--skip-speed]

1. Visibility on real data: on the SQuAD 2.0 sample, the share of answerable questions whose answer lies past the
   cut at 128/256/384/512 tokens, and the share no window holds whole with windows (stride auto: a quarter).
   `--tokenizer t5-small` uses T5's own vocabulary (from the hub cache); the default, for machines without it, is a
   32k-piece scratch sentencepiece trained on the sample itself (benchmarks/prepare.py, as the workflow's
   scratch_tokenizer step trains one), which needs fewer pieces per word than T5's: with it the inputs are shorter
   and the shares past the cut smaller.
2. Accuracy on the long-context demo (config/demo_long.yaml: the demo's questions with their context hidden among
   neutral sentences, 2-3x max_source_length 96): the workflow trains models with windows and models with
   truncation at 96 tokens, one per seed, on the demo's SQuAD half and the long variant together, and scores each on
   the long variant's validation split (`snakemake --cores all --configfile config/demo.yaml config/demo_long.yaml`
   in --workdir, the repository root by default; skipped with --skip-dag when it already holds them): EM/F1 per
   seed, mean and sample std per set-up, whether windows lead at every seed, and the share of answers each set-up
   lets the model see.
3. Prediction speed on the long-context demo's validation split, with the seed-1 windows model, one process:
   the pipeline's windows (all windows of a question, scores and no-answer probability included), the pipeline on
   truncated inputs, and the reference set-up (b) (as Webis evaluate_unifiedqa.py: the whole input, one question at
   a time, padding='longest' (so none), no cut, max_length 500). Questions/s and non-pad input tokens/s.
Writes long_context.json and long_context.md (with the date, the machine and this command).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/: the shared preparation
from prepare import normalize, prepare  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIGS = ["config/demo.yaml", "config/demo_long.yaml"]
COMMAND = "python benchmarks/long_context.py"
TRAINED_ON, EVALUATED_ON = "demo_mix", "demo_long"  # as config/demo_long.yaml's evaluation
MODES = ("windows", "truncate")


def demo_long_runs() -> tuple[dict, list[int]]:
    """What config/demo_long.yaml's sweep builds: the tokenize settings shared by its experiments (but long_inputs),
    its seeds, and set-up -> seed -> experiment name (t5qa.plan.experiments' names)."""
    import yaml

    from t5qa.plan.experiments import expand_sweep

    (sweep,) = yaml.safe_load((REPO / "config/demo_long.yaml").read_text())["sweeps"]
    names = {mode: {} for mode in MODES}
    for name, entry in expand_sweep(sweep).items():
        names[entry["overrides"]["tokenize"]["long_inputs"]][entry["seed"]] = name
    tokenize = {k: v for k, v in sweep["overrides"]["tokenize"].items() if k != "long_inputs"}
    return {"tokenize": {"max_target_length": 32, **tokenize}, "names": names}, list(sweep["seeds"])


def machine() -> str:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{model}, {os.cpu_count()} cores, no GPU"
        if not gpu_name()
        else f"{model}, {os.cpu_count()} cores, {gpu_name()}"
    )


def gpu_name() -> str | None:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


LONG_VALIDATION = "results/normalized/demo_long_squad/validation.parquet"
METRICS = f"{TRAINED_ON}.on.{EVALUATED_ON}.json"


def tokenize_table(table, tokenizer, settings) -> dict:
    """Every window of every question (as the validation split keeps them), as one dict of columns."""
    from t5qa.data.features import make_tokenize_fn

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
    from t5qa.data.features import load_tokenizer
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


def run_demo_dag(cores: int, workdir: Path) -> float:
    """config/demo_long.yaml's sweep through the workflow, in workdir (resources/ linked there when it lacks one)."""
    started = time.perf_counter()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    workdir.mkdir(parents=True, exist_ok=True)
    if workdir.resolve() != REPO and not (workdir / "resources").exists():
        (workdir / "resources").symlink_to(REPO / "resources")
    command = ["snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", str(cores)]
    configs = [str(REPO / c) for c in DEMO_CONFIGS]
    subprocess.run([*command, "--configfile", *configs], cwd=REPO, env=env, check=True)
    return time.perf_counter() - started


def mean_std(values: list[float]) -> dict:
    return {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def demo_accuracy(workdir: Path, runs: dict, seeds: list[int]) -> dict:
    """Each set-up's scores on the long variant at each seed (the workflow's metrics files), their mean and sample
    std, at how many seeds windows lead, and the share of answers each set-up lets the model see."""
    from transformers import AutoTokenizer

    from t5qa.cli import read_table
    from t5qa.settings import TokenizeSettings

    keys = ("exact", "f1", "HasAns_f1", "NoAns_f1", "best_f1", "best_f1_thresh")
    table = read_table(workdir / LONG_VALIDATION, ["id", "question", "context", "answer"])
    out = {}
    for mode in MODES:
        per_seed = {}
        for seed in seeds:
            name = runs["names"][mode][seed]
            metrics = json.loads((workdir / f"results/experiments/{name}/metrics/{METRICS}").read_text())
            per_seed[seed] = {"experiment": name} | {key: metrics[key] for key in keys}
        model = workdir / f"results/experiments/{runs['names'][mode][seeds[0]]}/models/{TRAINED_ON}"
        settings = TokenizeSettings.from_dict({**runs["tokenize"], "long_inputs": mode})
        out[mode] = {
            "seeds": per_seed,
            **{key: mean_std([per_seed[seed][key] for seed in seeds]) for key in keys if key != "best_f1_thresh"},
        } | visibility(table, AutoTokenizer.from_pretrained(model), settings)
    lead = [out["windows"]["seeds"][s]["f1"] - out["truncate"]["seeds"][s]["f1"] for s in seeds]
    out["windows_lead_f1"] = {
        "per_seed": dict(zip(seeds, lead)),
        "min": min(lead),
        "seeds_ahead": sum(x > 0 for x in lead),
    }
    return out


def prediction_speed(workdir: Path, runs: dict, seed: int) -> dict:
    """Questions/s and non-pad input tokens/s of the three set-ups on the long demo's validation split, with the
    windows model of the given seed."""
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from t5qa.cli import read_table
    from t5qa.model.answering import choose_answer, generate_batch, group_windows, length_sorted_batches
    from t5qa.settings import PredictSettings, TokenizeSettings

    torch.manual_seed(0)
    model_dir = workdir / f"results/experiments/{runs['names']['windows'][seed]}/models/{TRAINED_ON}"
    table = read_table(workdir / LONG_VALIDATION, ["id", "question", "context", "answer"])
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSeq2SeqLM.from_pretrained(model_dir).eval()
    settings = PredictSettings.from_dict({"batch_size": 64, "max_new_tokens": 16})  # the demo's answers: <= 9 tokens
    unanswerable = TokenizeSettings.from_dict({}).unanswerable_target
    na_ids = tokenizer(text_target=unanswerable)["input_ids"]
    results = {"model": str(model_dir.relative_to(workdir))}
    for mode in MODES:
        tokenized = tokenize_table(
            table, tokenizer, TokenizeSettings.from_dict({**runs["tokenize"], "long_inputs": mode})
        )
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
    lines = [f"Long contexts, measured {r['date']} on {r['machine']} with `{r['command']}`.", ""]
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
    a, seeds = r["demo_accuracy"], r["seeds"]
    lines += [
        f"Long-context demo (validation, 200 questions; contexts 2-3x max_source_length "
        f"{r['tokenize']['max_source_length']}): models trained with windows and with truncation at that length "
        f"(config/demo_long.yaml), seeds {', '.join(map(str, seeds))}; mean ± sample std over the seeds:",
        "",
        "| set-up | answers the model can see | EM | F1 | HasAns F1 | NoAns F1 | best F1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode in MODES:
        m = a[mode]
        seen = m["answerable_spans"] - m["answers_unseen"]
        cells = " | ".join(
            f"{m[k]['mean']:.1f} ± {m[k]['std']:.1f}" for k in ("exact", "f1", "HasAns_f1", "NoAns_f1", "best_f1")
        )
        lines.append(
            f"| {mode} | {seen} of {m['answerable_spans']} ({100 * seen / m['answerable_spans']:.0f} %) | {cells} |"
        )
    lead = a["windows_lead_f1"]
    lines += [
        "",
        "F1 per seed:",
        "",
        "| seed | " + " | ".join(MODES) + " | windows − truncate |",
        "|---|---|---|---|",
    ]
    for seed in seeds:
        cells = " | ".join(f"{a[mode]['seeds'][seed]['f1']:.2f}" for mode in MODES)
        lines.append(f"| {seed} | {cells} | {lead['per_seed'][seed]:+.2f} |")
    lines += [
        "",
        f"Windows ahead at {lead['seeds_ahead']} of {len(seeds)} seeds (smallest lead {lead['min']:+.2f} F1).",
    ]
    s = r.get("prediction_speed")
    if not s:
        return "\n".join(lines) + "\n"
    lines += [
        "",
        f"Prediction on the long-context demo's validation split (one process, {s['model']}):",
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
    parser.add_argument(
        "--workdir",
        type=Path,
        default=REPO,
        help="where the long demo's DAG runs (snakemake --directory); default: here",
    )
    parser.add_argument("--skip-dag", action="store_true", help="use the long demo's results already in --workdir")
    parser.add_argument("--skip-speed", action="store_true", help="accuracy only: no prediction-speed measurement")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    from t5qa.atomic import write_json, write_text

    runs, seeds = demo_long_runs()
    report = {
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "command": " ".join([COMMAND, *sys.argv[1:]]),
        "tokenize": runs["tokenize"],
        "seeds": seeds,
    }
    if args.squad.is_file():
        print("visibility on", args.squad, flush=True)
        report["squad"] = squad_visibility(args.squad, args.tokenizer)
    if not args.skip_dag:
        print("the long-context demo DAG (windows and truncation, each seed)", flush=True)
        report["dag_seconds"] = round(run_demo_dag(args.cores, args.workdir), 1)
    if not args.skip_speed:
        print("prediction speed", flush=True)
        report["prediction_speed"] = prediction_speed(args.workdir, runs, seeds[0])
    done = [
        seed
        for seed in seeds
        if all(
            (args.workdir / f"results/experiments/{runs['names'][mode][seed]}/metrics/{METRICS}").is_file()
            for mode in MODES
        )
    ]
    if done != seeds:  # --skip-dag on a sweep not run to the end: say which seeds the figures cover
        print(f"only seeds {done} of {seeds} have both set-ups' metrics", file=sys.stderr)
        report["seeds"] = seeds = done
    report["demo_accuracy"] = demo_accuracy(args.workdir, runs, seeds)
    write_json(args.out / "long_context.json", report)
    write_text(args.out / "long_context.md", markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
