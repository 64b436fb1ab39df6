"""Generate answers for a dataset's validation split: one {"id", "source", "prediction"} JSON line each.
Runs directly or under `accelerate launch --num_processes N` (batches are spread over processes).

Example:
  python workflow/scripts/predict.py --model results/models/demo --tokenized results/tokenized/demo \
      --stats results/tokenized/demo.stats.json --output results/predictions/demo.jsonl --settings '{...}'
"""

import argparse
import json
from pathlib import Path

from t5qa import cli
from t5qa.predicting import auto_max_new_tokens, predict


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
    settings = cli.parse_settings(args.settings)
    if settings["max_new_tokens"] == "auto":
        stats = json.loads(Path(args.stats).read_text())
        settings["max_new_tokens"] = auto_max_new_tokens(stats, stats["settings"]["max_target_length"])
    predict(Path(args.model), Path(args.tokenized), Path(args.output), settings)


if __name__ == "__main__":
    cli.run(main)
