"""Fine-tune T5 on a tokenized dataset with Seq2SeqTrainer. Run it directly (one process, CPU or one GPU)
or under `accelerate launch --num_processes N` (several GPUs, or `--cpu` processes).

Example:
  accelerate launch --num_processes 1 workflow/scripts/train.py --tokenized results/tokenized/demo \
      --model results/scratch/demo/model --output results/models/demo \
      --checkpoints results/checkpoints/demo --settings '{"learning_rate": 1e-3, ...}'
"""

import argparse
import logging
import os
from pathlib import Path

from t5qa import cli
from t5qa.errors import InputError
from t5qa.manifest import build_manifest, now
from t5qa.training import INTERRUPTED_EXIT_CODE, train

log = logging.getLogger("t5qa.train")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokenized", required=True, help="the tokenized Arrow folder")
    parser.add_argument("--model", required=True, help="hub id or local folder of the starting model")
    parser.add_argument("--output", required=True, help="where the final model is saved (save_pretrained)")
    parser.add_argument(
        "--checkpoints",
        required=True,
        help="where resumable checkpoints live (not a Snakemake output; removed at the end)",
    )
    parser.add_argument("--settings", required=True, help="JSON: training hyperparameters")
    parser.add_argument(
        "--attempts",
        help="a log this run appends its start, stop and resume lines to (it outlives the retries of a preempted job)",
    )
    parser.add_argument(
        "--dataloader-workers",
        type=int,
        default=0,
        help="DataLoader worker processes (speed only, not a hyperparameter)",
    )
    args = parser.parse_args()
    settings = cli.require(
        cli.parse_settings(args.settings),
        {"learning_rate": float, "epochs": float, "batch_size": int, "seed": int, "save_steps": int},
        {
            "max_steps": int,
            "gradient_accumulation_steps": int,
            "warmup_ratio": float,
            "weight_decay": float,
            "lr_scheduler": str,
            "group_by_length": bool,
            "precision": ("auto", "bf16", "fp32"),
            "torch_compile": bool,
            "logging_steps": int,
        },
    )
    cli.check_range(
        settings,
        {
            "batch_size": (1, None),
            "save_steps": (1, None),
            "logging_steps": (1, None),
            "gradient_accumulation_steps": (1, None),
            "warmup_ratio": (0, 0.999999),
            "weight_decay": (0, None),
        },
    )
    for key in ("learning_rate", "epochs"):
        if not settings[key] > 0:
            raise InputError(f"--settings: {key} must be above 0, not {settings[key]}")
    if settings.get("max_steps", -1) not in (-1,) and settings["max_steps"] < 1:
        raise InputError(f"--settings: max_steps must be -1 (off) or at least 1, not {settings['max_steps']}")
    if args.dataloader_workers < 0:
        raise InputError(f"--dataloader-workers must be 0 or more, not {args.dataloader_workers}")
    settings["dataloader_workers"] = args.dataloader_workers
    if args.attempts and os.environ.get("RANK", "0") == "0":
        Path(args.attempts).parent.mkdir(parents=True, exist_ok=True)
        history = logging.FileHandler(args.attempts, mode="a", encoding="utf-8")
        history.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(history)
    started = now()
    job = f" (Slurm job {os.environ['SLURM_JOB_ID']})" if "SLURM_JOB_ID" in os.environ else ""
    log.info("=== train %s -> %s, started %s%s", args.tokenized, args.output, started, job)
    inputs = {"tokenized": args.tokenized}
    if Path(args.model).exists():
        inputs["model"] = args.model

    def manifest() -> dict:
        return build_manifest("train", {**settings, "model": args.model}, inputs, started)

    if not train(settings, Path(args.tokenized), args.model, Path(args.output), Path(args.checkpoints), manifest):
        log.warning("stopped by signal after saving a checkpoint; rerun to resume")
        return INTERRUPTED_EXIT_CODE
    log.info("finished: %s", args.output)
    return 0


if __name__ == "__main__":
    cli.run(main)
