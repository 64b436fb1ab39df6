"""What validation during training costs: the demo's training with its evaluation settings (the defaults) against
the same training with evaluation off (eval_steps 0).

  python benchmarks/eval_overhead.py [--repeats 2] [--out benchmarks/out]

Builds the demo's inputs with Snakemake first (the tokenized data and the scratch model; nothing is rebuilt after
`make demo`), then trains the demo model 2 x repeats times, each run a fresh process, alternating off / on so that a
busy or throttled machine slows both alike. Reports each variant's median wall time (process start to exit, loading
and saving included) and the Trainer's train_runtime, and the overhead of evaluation in both. Writes
eval_overhead.json and eval_overhead.md into --out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DEMO = {"tokenized": "results/tokenized/demo", "stats": "results/tokenized/demo.stats.json"}
MODEL = "results/scratch/demo/model"


def demo_train_settings() -> dict:
    """The train settings `make demo` uses: config.yaml with demo.yaml over it, schema defaults filled in."""
    from t5qa.settings import TrainSettings

    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    demo = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    return TrainSettings.from_dict({**base.get("train", {}), **demo.get("train", {})}).as_dict()


def build_inputs() -> None:
    targets = [DEMO["tokenized"], DEMO["stats"], MODEL]
    command = ["snakemake", "--cores", "2", *targets, "--configfile", "config/demo.yaml"]
    subprocess.run(command, cwd=REPO, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})


def train_once(settings: dict, work: Path) -> dict:
    output = work / "model"
    command = [
        sys.executable,
        str(REPO / "workflow" / "scripts" / "train.py"),
        "--tokenized",
        DEMO["tokenized"],
        "--stats",
        DEMO["stats"],
        "--model",
        MODEL,
        "--output",
        str(output),
        "--checkpoints",
        str(work / "checkpoints"),
        "--settings",
        json.dumps(settings),
    ]
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True, capture_output=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - started
    runtime = json.loads((output / "train_metrics.json").read_text())["train_runtime"]
    log = json.loads((output / "log_history.json").read_text())
    evaluations = [e for e in log["log_history"] if "eval_loss" in e]
    return {
        "wall_s": round(wall, 2),
        "train_runtime_s": runtime,
        "evaluations": len(evaluations),
        "evaluation_s": round(sum(e["eval_runtime"] for e in evaluations), 2),
        "best": log["best"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each variant")
    parser.add_argument("--out", default="benchmarks/out", help="folder for eval_overhead.json and .md")
    args = parser.parse_args()
    build_inputs()
    with_eval = demo_train_settings()
    variants = {"evaluation off": {**with_eval, "eval_steps": 0}, "evaluation on (demo settings)": with_eval}
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    for repeat in range(args.repeats):
        for name, settings in variants.items():
            with tempfile.TemporaryDirectory(prefix="t5qa-eval-overhead-") as work:
                runs[name].append(train_once(settings, Path(work)))
            print(f"repeat {repeat + 1}/{args.repeats}, {name}: {runs[name][-1]}", flush=True)

    def median(name: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[name])

    off, on = variants
    summary = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "settings": {key: with_eval[key] for key in ("eval_steps", "eval_examples", "best_metric", "batch_size")},
        "runs": runs,
        "median_wall_s": {name: median(name, "wall_s") for name in variants},
        "median_train_runtime_s": {name: median(name, "train_runtime_s") for name in variants},
    }
    summary["overhead_wall_percent"] = round(100 * (median(on, "wall_s") / median(off, "wall_s") - 1), 1)
    summary["overhead_train_runtime_percent"] = round(
        100 * (median(on, "train_runtime_s") / median(off, "train_runtime_s") - 1), 1
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval_overhead.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [
        "| variant | median wall (s) | median train_runtime (s) | evaluations | time in evaluation (s) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in variants:
        evaluation = statistics.median(run["evaluation_s"] for run in runs[name])
        lines.append(
            f"| {name} | {median(name, 'wall_s'):.1f} | {median(name, 'train_runtime_s'):.1f} "
            f"| {runs[name][0]['evaluations']} | {evaluation:.1f} |"
        )
    lines.append(
        f"\nOverhead of evaluation: {summary['overhead_wall_percent']} % of the wall time, "
        f"{summary['overhead_train_runtime_percent']} % of train_runtime ({args.repeats} runs each)."
    )
    (out / "eval_overhead.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
