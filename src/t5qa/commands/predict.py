"""Generate answers for a dataset's validation (or test) split: one {"id", "source", "prediction"} JSON line each.
Runs directly or under `accelerate launch --num_processes N` (batches are spread over processes).

Example:
  python workflow/scripts/predict.py --model results/models/demo --tokenized results/tokenized/demo \
      --stats results/tokenized/demo.stats.json --output results/predictions/demo.jsonl --settings '{...}'
"""

import argparse
import dataclasses
from pathlib import Path

from t5qa import cli
from t5qa.batching import use_job_threads
from t5qa.errors import InputError
from t5qa.model_io import auto_max_new_tokens
from t5qa.predict import predict
from t5qa.progress import echo_to
from t5qa.settings import PredictSettings
from t5qa.tokenize_stats import read_tokenize_stats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__,
        epilog=f"settings:\n{PredictSettings.describe()}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="the trained model folder")
    parser.add_argument("--tokenized", required=True, help="the tokenized Arrow folder")
    parser.add_argument(
        "--stats", required=True, help="the tokenize stats JSON (the unanswerable target; max_new_tokens: auto)"
    )
    parser.add_argument("--split", choices=["validation", "test"], default="validation", help="the split to predict")
    parser.add_argument("--output", required=True, help="the predictions JSONL")
    parser.add_argument("--settings", default="{}", help="JSON object of settings (below); omitted keys take defaults")
    parser.add_argument(
        "--threads",
        type=int,
        help="the job's CPU threads (torch's intra-op threads, shared by the processes of this machine; never more "
        "than the cores this process may run on); default: OMP_NUM_THREADS, else those cores",
    )
    parser.add_argument(
        "--echo-fd",
        type=int,
        help="also show this step's own log lines (progress, losses) on this open file descriptor; the rule passes "
        "the terminal as fd 3 (`3>&2`) before sending all output to the log file",
    )
    args = parser.parse_args(argv)
    echo_to(args.echo_fd, f"predict {Path(args.output).name}")
    cli.check_outputs_spare_inputs(
        {"--model": args.model, "--tokenized": args.tokenized, "--stats": args.stats}, {"--output": args.output}
    )
    if args.threads is not None and args.threads < 1:
        raise InputError(f"--threads must be 1 or more, not {args.threads}")
    use_job_threads(args.threads)
    settings = PredictSettings.from_json(args.settings)
    tokenized_with, longest_target = read_tokenize_stats(Path(args.stats))
    if settings.max_new_tokens == "auto":
        auto = auto_max_new_tokens(longest_target, tokenized_with.max_target_length)
        settings = dataclasses.replace(settings, max_new_tokens=auto)
    unanswerable = tokenized_with.unanswerable_target
    predict(Path(args.model), Path(args.tokenized), Path(args.output), settings, unanswerable, args.split)


if __name__ == "__main__":
    cli.run(main)
