"""Generate answers for a dataset's validation (or test) split: one {"id", "source", "prediction"} JSON line each.
Runs directly or under `accelerate launch --num_processes N` (batches are spread over processes).

Example:
  python workflow/scripts/predict.py --model results/models/demo --tokenized results/tokenized/demo \
      --stats results/tokenized/demo.stats.json --output results/predictions/demo.jsonl --settings '{...}'
"""

import dataclasses
from pathlib import Path

from t5qa import cli
from t5qa.data.batching import use_job_threads
from t5qa.data.tokenize_stats import read_tokenize_stats
from t5qa.model import attempts
from t5qa.model.model_io import auto_max_new_tokens
from t5qa.model.predict import predict
from t5qa.progress import echo_to
from t5qa.settings import PredictSettings

COMMAND = cli.Command("predict", "generate answers for a tokenized validation or test split", settings=PredictSettings)


def main(argv: list[str] | None = None) -> int:
    parser = COMMAND.parser(__doc__)
    parser.add_argument("--model", required=True, help="the trained model folder")
    parser.add_argument("--tokenized", required=True, help="the tokenized Arrow folder")
    parser.add_argument(
        "--stats", required=True, help="the tokenize stats JSON (the unanswerable target; max_new_tokens: auto)"
    )
    parser.add_argument("--split", choices=["validation", "test"], default="validation", help="the split to predict")
    parser.add_argument("--output", required=True, help="the predictions JSONL")
    cli.add_attempt_options(parser)
    cli.add_job_options(parser)
    args = parser.parse_args(argv)
    echo_to(args.echo_fd, f"predict {Path(args.output).name}")
    cli.check_paths(
        {"--model": args.model, "--tokenized": args.tokenized, "--stats": args.stats},
        {"--output": args.output, "--attempts": args.attempts},
    )
    with attempts.recorded(args.attempts, "predict", args.attempt) as attempt:
        cli.check_threads(args.threads)
        use_job_threads(args.threads)
        settings = attempt.settings = PredictSettings.from_json(args.settings)
        tokenized_with, longest_target = read_tokenize_stats(Path(args.stats))
        if settings.max_new_tokens == "auto":
            auto = auto_max_new_tokens(longest_target, tokenized_with.max_target_length)
            settings = dataclasses.replace(settings, max_new_tokens=auto)
        unanswerable = tokenized_with.unanswerable_target
        status = predict(Path(args.model), Path(args.tokenized), Path(args.output), settings, unanswerable, args.split)
        attempt.ended(status)
    return status


if __name__ == "__main__":
    cli.run(main)
