"""Estimate a run's cost before submitting it: per train and predict job of the same config and targets as the run,
the tokens it processes, its FLOPs (the formula is printed) and its hours on a named GPU at a stated utilisation,
with a warning where the Slurm profile's `runtime` for the rule is shorter.

  t5qa estimate results/metrics/squad2.json --configfile config/squad2_t5base.yaml --profile profiles/slurm
  t5qa estimate --configfile config/demo.yaml --gpu cpu          # this machine: its measured matmul rate
  t5qa estimate ... --utilisation-from benchmarks/out/gpu_check.json   # the utilisation gpu_check measured

Run it from the workflow's folder (where `snakemake` runs): tokens come from the tokenize stats when the data is
tokenized, else from the normalized tables; before either, the jobs are listed with their tokens unknown.
"""

from __future__ import annotations

from pathlib import Path

import torch

from t5qa import cli
from t5qa.errors import InputError
from t5qa.plan.estimate import (
    DEFAULT_UTILISATION,
    estimate_jobs,
    measured_cpu_flops,
    peak_flops,
    planned_jobs,
    report,
    utilisation_from,
)

REPO = Path(__file__).resolve().parents[3]

COMMAND = cli.Command(
    "estimate", "tokens, FLOPs and GPU hours of a run's train and predict jobs, before submitting", workflow=False
)


def main(argv: list[str] | None = None) -> int:
    parser = COMMAND.parser(__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("targets", nargs="*", help="the run's targets (default: the config's default_datasets)")
    parser.add_argument("--configfile", nargs="+", default=[], help="the run's config files, as snakemake takes them")
    parser.add_argument("--profile", help="a Snakemake profile folder: warn where its runtime is too short")
    parser.add_argument("--gpu", default="a100", help="a100, h100, h200, l40s, v100, or cpu (this machine)")
    parser.add_argument(
        "--utilisation",
        type=float,
        help=f"model FLOPs utilisation, 0-1 (default {DEFAULT_UTILISATION}: assumed, not measured)",
    )
    parser.add_argument("--utilisation-from", help="a benchmarks/gpu_check.py gpu_check.json: its measured MFU")
    parser.add_argument("--snakefile", default=str(REPO / "Snakefile"), help="the workflow (default: this one's)")
    args = parser.parse_args(argv)

    if args.gpu == "cpu":
        peak = measured_cpu_flops()
        device = f"this CPU ({torch.get_num_threads()} threads: its measured fp32 matmul rate as the peak)"
    else:
        peak, source = peak_flops(args.gpu)
        if peak is None:
            raise InputError(f"--gpu {args.gpu}: no peak known for it; give a100, h100, h200, l40s, v100 or cpu")
        device = f"one {args.gpu.upper()} per GPU of a job ({source})"
    if args.utilisation is not None and args.utilisation_from:
        raise InputError("give --utilisation or --utilisation-from, not both")
    if args.utilisation_from:
        utilisation = utilisation_from(Path(args.utilisation_from))
        origin = f"measured by gpu_check: {args.utilisation_from}"
    elif args.utilisation is not None:
        if not 0 < args.utilisation <= 1:
            raise InputError(f"--utilisation must be above 0 and at most 1, not {args.utilisation}")
        utilisation, origin = args.utilisation, "given"
    else:
        utilisation, origin = DEFAULT_UTILISATION, "assumed: --utilisation or --utilisation-from to change it"
    workdir = Path.cwd()
    profile = Path(args.profile) if args.profile else None
    if profile is not None and not (profile / "config.yaml").is_file():
        raise InputError(f"--profile {profile}: no config.yaml in it")
    try:
        jobs = planned_jobs(args.configfile, args.targets, Path(args.snakefile), workdir)
    except RuntimeError as err:
        raise InputError(str(err)) from err
    print(report(estimate_jobs(jobs, workdir, peak, utilisation, profile), device, peak, utilisation, origin))
    return 0
