"""`t5qa estimate` against a measured run: how far the estimate's hours are from the time a finished training took.

  python benchmarks/estimate_check.py WORKDIR [--configfile config/demo.yaml] [--out benchmarks/out]

WORKDIR holds a finished run of the config (the repository after `make demo`, or a folder of
benchmarks/demo_spread.py). The script asks the estimate's own functions (t5qa.plan.estimate) for every train job of
the run with this machine's measured fp32 matmul rate as the peak (what `t5qa estimate --gpu cpu` does) and reads the
seconds each training took (its model folder's train_metrics.json, `train_runtime`). It prints, per train job:
the FLOPs, the measured seconds, the utilisation they imply (FLOPs / (peak x seconds)), and the factor between the
estimate at the assumed utilisation (t5qa.plan.estimate.DEFAULT_UTILISATION) and the measured time. Writes
OUT/estimate_check.{json,md} with the machine, the date and this command. Run it on an otherwise idle machine: the
matmul rate is measured on the spot.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import torch
from long_context import machine

from t5qa.atomic import write_json, write_text
from t5qa.plan.estimate import DEFAULT_UTILISATION, estimate_jobs, measured_cpu_flops, planned_jobs

REPO = Path(__file__).resolve().parent.parent


def check(workdir: Path, configfiles: list[str]) -> dict:
    peak = measured_cpu_flops(seconds=3.0)
    jobs = planned_jobs(configfiles, [], REPO / "Snakefile", workdir)
    rows = []
    for estimate in estimate_jobs(jobs, workdir, peak, 1.0, None):
        if estimate.job.rule != "train" or estimate.flops is None:
            continue
        metrics = workdir / estimate.job.output / "train_metrics.json"
        if not metrics.is_file():
            raise SystemExit(f"error: {metrics}: no finished training here; run the config in {workdir} first")
        seconds = json.loads(metrics.read_text())["train_runtime"]
        ideal = estimate.flops / peak  # the estimate's seconds at 100 % utilisation
        rows.append(
            {
                "job": estimate.job.output,
                "flops": estimate.flops,
                "measured_seconds": seconds,
                "implied_utilisation": ideal / seconds,
                "estimate_seconds_at_assumed": ideal / DEFAULT_UTILISATION,
                "measured_over_estimate": seconds / (ideal / DEFAULT_UTILISATION),
                "what": estimate.what,
            }
        )
    if not rows:
        raise SystemExit(f"error: {workdir}: the config plans no train job with known tokens")
    return {"peak_flops": peak, "threads": torch.get_num_threads(), "rows": rows}


def markdown(report: dict) -> str:
    lines = [
        f"`t5qa estimate` against measured training, {report['date']} on {report['machine']}, `{report['command']}`: "
        f"peak = this CPU's fp32 matmul rate with {report['threads']} torch threads, "
        f"{report['peak_flops'] / 1e9:,.1f} GFLOP/s.",
        "",
        "| train job | FLOPs | measured | implied utilisation | estimate at the assumed "
        f"{DEFAULT_UTILISATION:.0%} | measured / estimate |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in report["rows"]:
        lines.append(
            f"| {row['job']} | {row['flops']:.3g} | {row['measured_seconds']:.0f} s | "
            f"{row['implied_utilisation']:.1%} | {row['estimate_seconds_at_assumed']:.0f} s | "
            f"{row['measured_over_estimate']:.1f}x |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workdir", type=Path, help="a folder holding a finished run of the config")
    parser.add_argument("--configfile", nargs="+", default=[str(REPO / "config/demo.yaml")])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/out")
    args = parser.parse_args()
    report = {
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "command": " ".join(["python benchmarks/estimate_check.py", *sys.argv[1:]]),
    } | check(args.workdir.resolve(), [str(Path(c).resolve()) for c in args.configfile])
    write_json(args.out / "estimate_check.json", report)
    write_text(args.out / "estimate_check.md", markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
