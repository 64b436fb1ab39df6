"""Generate answers for a dataset's validation split: one {"id", "source", "prediction"} JSON line each.
Runs directly or under `accelerate launch --num_processes N` (batches are spread over processes).

Example:
  python workflow/scripts/predict.py --model results/models/demo --tokenized results/tokenized/demo \
      --stats results/tokenized/demo.stats.json --output results/predictions/demo.jsonl --settings '{...}'
"""

import argparse
from pathlib import Path

from t5qa import cli
from t5qa.errors import InputError
from t5qa.predicting import max_new_tokens_from_stats, predict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="the trained model folder")
    parser.add_argument("--tokenized", required=True, help="the tokenized Arrow folder")
    parser.add_argument("--stats", help="the tokenize stats JSON (needed for max_new_tokens: auto)")
    parser.add_argument("--output", required=True, help="the predictions JSONL")
    parser.add_argument(
        "--settings",
        required=True,
        help="JSON: batch_size, num_beams, max_new_tokens (int or 'auto'), unanswerable_target",
    )
    args = parser.parse_args()
    settings = cli.require(
        cli.parse_settings(args.settings),
        {"batch_size": int, "max_new_tokens": (int, "auto"), "unanswerable_target": str},
        {"num_beams": int, "precision": ("auto", "fp32")},
    )
    # The upper bounds (as in the config schema) stop a typo from running out of memory or generating for days.
    cli.check_range(settings, {"batch_size": (1, None), "max_new_tokens": (1, 4096), "num_beams": (1, 64)})
    if settings["max_new_tokens"] == "auto":
        if not args.stats:
            raise InputError("--stats: needed for max_new_tokens 'auto'")
        settings["max_new_tokens"] = max_new_tokens_from_stats(Path(args.stats))
    predict(Path(args.model), Path(args.tokenized), Path(args.output), settings)


if __name__ == "__main__":
    cli.run(main)
