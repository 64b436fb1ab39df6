"""Normalise one split of one source into the uniform table (parquet) and its stats (JSON).

Example:
  python workflow/scripts/normalize.py --format squad_v2_json --input dev-v2.0.json --output dev.parquet
"""

import argparse
import json
import logging

from t5qa import cli
from t5qa.atomic import atomic_path
from t5qa.errors import InputError
from t5qa.normalize import FORMATS, holdout_mask, normalize_file

log = logging.getLogger("t5qa.normalize")


def parse_columns(text: str) -> dict:
    """--columns is one JSON object; normalize_file checks its keys and values."""
    try:
        columns = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise InputError(f"--columns: not valid JSON ({err})") from err
    if not isinstance(columns, dict):
        raise InputError(f"--columns: must be a JSON object (uniform column -> source field), not {text[:80]!r}")
    return columns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--format", required=True, choices=FORMATS, help="the source's file format")
    parser.add_argument("--input", required=True, help="the raw file")
    parser.add_argument("--output", required=True, help="the uniform table (.parquet)")
    parser.add_argument("--stats", help="where to write row counts and problems (JSON); default OUTPUT.stats.json")
    parser.add_argument("--columns", default="{}", help="JSON mapping uniform column -> source field (generic formats)")
    parser.add_argument("--strict", action="store_true", help="fail on the first bad row instead of dropping it")
    parser.add_argument(
        "--holdout-fraction",
        type=float,
        default=0.0,
        help="carve a split out of INPUT by id hash (for sources without a validation split)",
    )
    parser.add_argument(
        "--holdout-part",
        choices=["train", "validation"],
        help="with --holdout-fraction: keep the held-out rows (validation) or the rest (train)",
    )
    args = parser.parse_args()

    table, stats = normalize_file(args.input, args.format, parse_columns(args.columns), args.strict)
    if args.holdout_fraction > 0:
        held_out = holdout_mask(table["id"], args.holdout_fraction)
        table = table[held_out if args.holdout_part == "validation" else ~held_out].reset_index(drop=True)
        stats["holdout"] = {"fraction": args.holdout_fraction, "part": args.holdout_part, "rows": len(table)}
    if table.empty:
        where = f" after holding out {args.holdout_part}" if args.holdout_fraction > 0 else ""
        hint = " (too few rows for --holdout-fraction: give the source a validation file)" if where else ""
        raise InputError(
            f"{args.input}: no usable rows{where}; {stats['rows_read']} read, "
            f"dropped {stats['dropped'] or 'none'}{hint}"
        )
    for kind, problem in stats["dropped"].items():
        log.warning("dropped %d rows (%s), e.g. ids %s", problem["count"], kind, problem["first_ids"])
    for kind, count in stats["kept"].items():
        log.info("kept %d rows with %s", count, kind.replace("_", " "))
    log.info("%s: %d rows read, %d written to %s", args.input, stats["rows_read"], len(table), args.output)
    # Both outputs appear together or not at all: each is renamed into place only once both are written.
    with atomic_path(args.output) as table_tmp, atomic_path(args.stats or f"{args.output}.stats.json") as stats_tmp:
        table.to_parquet(table_tmp, index=False)
        stats_tmp.write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    cli.run(main)
