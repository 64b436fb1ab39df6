"""Fine-tune T5 on a tokenized dataset with Seq2SeqTrainer. Run it directly (one process, CPU or one GPU)
or under `accelerate launch --num_processes N` (several GPUs, or `--cpu` processes).

Example:
  accelerate launch --num_processes 1 workflow/scripts/train.py --tokenized results/tokenized/demo \
      --stats results/tokenized/demo.stats.json --model results/scratch/demo/model --output results/models/demo \
      --checkpoints results/checkpoints/demo --settings '{"learning_rate": 1e-3, ...}'
"""

import logging
from pathlib import Path

from t5qa import cli
from t5qa.data.batching import use_job_threads
from t5qa.errors import InputError
from t5qa.manifest import build_manifest, now
from t5qa.model import attempts
from t5qa.model.train import train
from t5qa.progress import echo_to
from t5qa.settings import TrainSettings

COMMAND = cli.Command("train", "fine-tune T5 on a tokenized dataset", settings=TrainSettings)
log = logging.getLogger("t5qa.model.train")


def main(argv: list[str] | None = None) -> int:
    parser = COMMAND.parser(__doc__)
    parser.add_argument("--tokenized", required=True, help="the tokenized Arrow folder")
    parser.add_argument(
        "--stats",
        required=True,
        help="the tokenize step's stats JSON (its settings, the longest answer, the row counts for the model card)",
    )
    parser.add_argument("--model", required=True, help="hub id or local folder of the starting model")
    parser.add_argument("--output", required=True, help="where the final model is saved (save_pretrained)")
    parser.add_argument(
        "--checkpoints",
        required=True,
        help="where resumable checkpoints live (not a Snakemake output; removed at the end)",
    )
    parser.add_argument(
        "--dataloader-workers",
        type=int,
        default=0,
        help="DataLoader worker processes (speed only, not a hyperparameter)",
    )
    cli.add_attempt_options(parser)
    cli.add_job_options(parser)
    args = parser.parse_args(argv)
    echo_to(args.echo_fd, f"train {Path(args.output).name}")
    cli.check_paths(
        {"--tokenized": args.tokenized, "--stats": args.stats, "--model": args.model},
        {"--attempts": args.attempts},
        {"--output": args.output, "--checkpoints": args.checkpoints},
    )
    with attempts.recorded(args.attempts, "train", args.attempt) as attempt:
        settings = attempt.settings = TrainSettings.from_json(args.settings)
        if args.dataloader_workers < 0:
            raise InputError(f"--dataloader-workers must be 0 or more, not {args.dataloader_workers}")
        cli.check_threads(args.threads)
        threads = use_job_threads(args.threads)
        started = now()
        log.info("=== train %s -> %s, started %s, %d torch threads", args.tokenized, args.output, started, threads)
        inputs = {"tokenized": args.tokenized, "stats": args.stats}
        if Path(args.model).exists():
            inputs["model"] = args.model

        def manifest() -> dict:
            return build_manifest("train", {**settings.as_dict(), "model": args.model}, inputs, started)

        status = train(
            settings,
            Path(args.tokenized),
            Path(args.stats),
            args.model,
            Path(args.output),
            Path(args.checkpoints),
            dataloader_workers=args.dataloader_workers,
            manifest=manifest,
        )
        attempt.ended(status, f": {args.output}" if not status else " after saving a checkpoint")
    return status


if __name__ == "__main__":
    cli.run(main)
