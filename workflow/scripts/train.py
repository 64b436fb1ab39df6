"""Fine-tune T5 on a tokenized dataset with Seq2SeqTrainer. Run it directly (one process, CPU or one GPU)
or under `accelerate launch --num_processes N` (several GPUs, or `--cpu` processes).

Example:
  accelerate launch --num_processes 1 workflow/scripts/train.py --tokenized results/tokenized/demo \
      --model results/scratch/demo/model --output results/models/demo \
      --checkpoints results/checkpoints/demo --settings '{"learning_rate": 1e-3, ...}'
"""

import argparse
import logging
from pathlib import Path

from t5qa import cli
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
        "--dataloader-workers",
        type=int,
        default=0,
        help="DataLoader worker processes (speed only, not a hyperparameter)",
    )
    args = parser.parse_args()
    settings = cli.parse_settings(args.settings)
    settings["dataloader_workers"] = args.dataloader_workers
    started = now()
    inputs = {"tokenized": args.tokenized}
    if Path(args.model).exists():
        inputs["model"] = args.model

    def manifest() -> dict:
        return build_manifest("train", {**settings, "model": args.model}, inputs, started)

    if not train(settings, Path(args.tokenized), args.model, Path(args.output), Path(args.checkpoints), manifest):
        log.warning("stopped by signal after saving a checkpoint; rerun to resume")
        return INTERRUPTED_EXIT_CODE
    return 0


if __name__ == "__main__":
    cli.run(main)
