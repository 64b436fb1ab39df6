r"""Compare experiments: one table (CSV and Markdown) over many metrics files, with each group's mean ± std over seeds
and, where the runs name their questions CSVs, each run's difference from a reference, question by question.

Example:
  python workflow/scripts/summary.py --csv results/summary.csv --markdown results/summary.md --runs \
      '[{"experiment": "lr0.001_seed1", "group": "lr0.001", "seed": 1, "trained_on": "demo",
         "evaluated_on": "demo", "split": "validation", "settings": {"train.learning_rate": 0.001},
         "metrics": "results/experiments/lr0.001_seed1/metrics/demo.json",
         "questions": "results/experiments/lr0.001_seed1/metrics/demo.questions.csv"}]'
--runs @runs.json reads the same list from a file. Several --csv (or --markdown) paths get the same table.
With `questions` (on every run), each run is compared with --reference on the questions both were scored on: the
difference in EM and F1 and its paired bootstrap 95 % interval (t5qa.report.paired).
"""

import logging
from pathlib import Path

from t5qa import cli
from t5qa.errors import InputError
from t5qa.report.paired import DEFAULT_RESAMPLES, DEFAULT_SEED, reference_group
from t5qa.report.summary import load_runs, summary_table, write_summary

COMMAND = cli.Command("summary", "compare experiments: one table over many metrics files, mean ± std over seeds")

log = logging.getLogger("t5qa.report.summary")


def main(argv: list[str] | None = None) -> None:
    parser = COMMAND.parser(__doc__)
    parser.add_argument(
        "--runs",
        required=True,
        help="JSON list of {experiment, group, seed, trained_on, evaluated_on, split, metrics[, settings,"
        " questions]}, or @PATH of a file",
    )
    parser.add_argument(
        "--reference",
        help="the experiment (or sweep cell) the others are compared with; default: the first run's",
    )
    parser.add_argument(
        "--bootstrap-resamples",
        type=int,
        default=DEFAULT_RESAMPLES,
        help="resamples of the questions for the 95%% intervals (default %(default)s)",
    )
    parser.add_argument(
        "--bootstrap-seed", type=int, default=DEFAULT_SEED, help="seed of the resampling (default %(default)s)"
    )
    parser.add_argument("--csv", nargs="+", required=True, help="the table, every number as computed")
    parser.add_argument("--markdown", nargs="+", required=True, help="the table for reading, scores to 2 decimals")
    args = parser.parse_args(argv)
    if args.bootstrap_resamples < 1:
        raise InputError(f"--bootstrap-resamples: must be at least 1, not {args.bootstrap_resamples}")
    if args.bootstrap_seed < 0:
        raise InputError(f"--bootstrap-seed: must be 0 or more, not {args.bootstrap_seed}")
    runs_file = args.runs[1:] if args.runs.startswith("@") else None
    cli.check_paths({"--runs": runs_file}, {"--csv": args.csv, "--markdown": args.markdown})
    runs = load_runs(read_runs_argument(args.runs))
    if args.reference is not None:
        if "questions" not in runs[0]:
            raise InputError("--reference: the runs name no questions CSVs, so nothing is compared")
        try:
            reference_group(runs, args.reference)
        except ValueError as err:
            raise InputError(f"--reference: {err}") from None
    table = summary_table(runs, args.reference, args.bootstrap_resamples, args.bootstrap_seed)
    write_summary(table, args.csv, args.markdown)
    log.info("compared %d runs in %d rows: %s", len(runs), len(table), ", ".join([*args.csv, *args.markdown]))


def read_runs_argument(argument: str):
    """The --runs JSON, given inline or, as @PATH, in a file (a long sweep's list can outgrow a command line)."""
    if not argument.startswith("@"):
        return cli.load_json(argument, "--runs")
    path = Path(argument[1:])
    if not path.is_file():
        raise InputError(f"--runs: {path} not found" if not path.exists() else f"--runs: {path} is not a file")
    try:
        return cli.load_json(path.read_text(encoding="utf-8-sig"), str(path))
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text ({err.reason})") from err


if __name__ == "__main__":
    cli.run(main)
