"""Tokenize a dataset (one or more sources) into an Arrow folder (`save_to_disk`) plus a stats JSON: its train and
validation splits, or (--test) its test split alone.

Example:
  python workflow/scripts/tokenize_data.py --tokenizer google-t5/t5-small \
      --train squad2=results/normalized/squad2/train.parquet \
      --validation squad2=results/normalized/squad2/validation.parquet \
      --output results/tokenized/squad2 --stats results/tokenized/squad2.stats.json --settings '{...}'
"""

import logging

from t5qa import cli
from t5qa.data.features import load_tokenizer
from t5qa.data.tokenize_data import tokenize_dataset
from t5qa.data.tokenize_stats import write_tokenize_stats
from t5qa.errors import InputError
from t5qa.settings import TokenizeSettings

COMMAND = cli.Command(
    "tokenize-data", "tokenize a dataset into an Arrow folder and its stats", settings=TokenizeSettings
)
log = logging.getLogger("t5qa.data.tokenize_data")


def main(argv: list[str] | None = None) -> None:
    parser = COMMAND.parser(__doc__)
    parser.add_argument("--tokenizer", required=True, help="hub id or local folder")
    parser.add_argument("--train", nargs="+", help="SOURCE=TABLE.parquet for each source")
    parser.add_argument("--validation", nargs="+", help="SOURCE=TABLE.parquet for each source")
    parser.add_argument("--test", nargs="+", help="SOURCE=TABLE.parquet for each source: a test-only folder")
    parser.add_argument(
        "--overlap-train",
        nargs="+",
        help="with --test: SOURCE=TABLE.parquet, the training tables the test rows are compared against "
        "(counted in the stats as test.overlap_with_train; never tokenized)",
    )
    parser.add_argument("--output", required=True, help="the Arrow folder to create")
    parser.add_argument("--stats", required=True, help="the stats JSON to write")
    parser.add_argument("--num-proc", type=int, default=1, help="tokenizer processes (does not change the output)")
    args = parser.parse_args(argv)
    settings = TokenizeSettings.from_json(args.settings)
    if args.num_proc < 1:
        raise InputError(f"--num-proc: must be at least 1, not {args.num_proc}")
    if not (
        (args.train and args.validation and not args.test) or (args.test and not args.train and not args.validation)
    ):
        raise InputError("give --train and --validation (a training folder), or --test alone (a test folder)")
    if args.overlap_train and not args.test:
        raise InputError("--overlap-train: only with --test (a training folder compares against its own --train)")
    given = {"train": args.train, "validation": args.validation, "test": args.test}
    tables = {split: [cli.named_path(a, f"--{split}") for a in values] for split, values in given.items() if values}
    overlap_train = [cli.named_path(a, "--overlap-train") for a in args.overlap_train or []]
    cli.check_paths(
        {
            "--tokenizer": args.tokenizer,
            **{f"--{split}": [path for _, path in tables[split]] for split in tables},
            "--overlap-train": [path for _, path in overlap_train],
        },
        {"--stats": args.stats},
        {"--output": args.output},
    )
    tokenizer = load_tokenizer(args.tokenizer)
    stats = tokenize_dataset(
        tables,
        tokenizer,
        settings,
        args.output,
        num_proc=args.num_proc,
        stats_path=args.stats,
        write_stats=lambda path, stats: write_tokenize_stats(path, stats, settings),
        overlap_train=overlap_train,
    )
    log.info("tokenized %s", {split: s["rows"] for split, s in stats.items()})


if __name__ == "__main__":
    cli.run(main)
