r"""Normalise one split of one source into the uniform table (parquet) and its stats (JSON).

Example:
  python workflow/scripts/normalize.py --input dev-v2.0.json --output dev.parquet \
      --settings '{"format": "squad_v2_json"}'
"""

import json
import logging

from t5qa import cli
from t5qa.atomic import atomic_paths
from t5qa.data.formats import FORMATS
from t5qa.data.normalize import write_normalized
from t5qa.errors import InputError
from t5qa.settings import NormalizeSettings

COMMAND = cli.Command(
    "normalize", "one split of one source into the uniform table and its stats", settings=NormalizeSettings
)

log = logging.getLogger("t5qa.data.normalize")


def main(argv: list[str] | None = None) -> None:
    parser = COMMAND.parser(__doc__, epilog=f"formats: {', '.join(FORMATS)}", settings_required=True)
    parser.add_argument("--input", required=True, help="the raw file")
    parser.add_argument("--output", required=True, help="the uniform table (.parquet)")
    parser.add_argument("--stats", help="where to write row counts and problems (JSON); default OUTPUT.stats.json")
    args = parser.parse_args(argv)
    stats_path = args.stats or f"{args.output}.stats.json"
    cli.check_paths({"--input": args.input}, {"--output": args.output, "--stats": stats_path})
    settings = NormalizeSettings.from_json(args.settings)

    # Both outputs appear together or not at all: each is renamed into place only once both are written. The table
    # is written a chunk at a time as the rows are read (write_normalized), never held whole.
    with atomic_paths(args.output, stats_path) as (table_tmp, stats_tmp):
        rows, stats = write_normalized(args.input, settings, table_tmp)
        if not rows:
            holdout = settings.holdout
            where = f" after holding out {holdout['part']}" if holdout else ""
            hint = " (too few rows to carve out validation_fraction: give the source a validation file)"
            hint = hint if holdout else ""
            raise InputError(
                f"{args.input}: no usable rows{where}; {stats['rows_read']} read, "
                f"dropped {stats['dropped'] or 'none'}{hint}"
            )
        for kind, problem in stats["dropped"].items():
            log.warning("dropped %d rows (%s), e.g. ids %s", problem["count"], kind, problem["first_ids"])
        for kind, count in stats["kept"].items():
            if kind in stats.get("kept_first_ids", {}):
                ids = stats["kept_first_ids"][kind]
                log.warning("kept %d rows with %s (worth checking), e.g. ids %s", count, kind.replace("_", " "), ids)
            else:
                log.info("kept %d rows with %s", count, kind.replace("_", " "))
        log.info("%s: %d rows read, %d written to %s", args.input, stats["rows_read"], rows, args.output)
        stats_tmp.write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    cli.run(main)
