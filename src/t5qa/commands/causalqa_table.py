r"""The Webis-CausalQA-22 fine-tuning table (their Table 4): a row per source; columns base / fine-tuned original /
fine-tuned random / released original / released random, each with the paper's EM, F1 and ROUGE-L.

Example:
  python workflow/scripts/causalqa_table.py --csv results/causalqa_table.csv --markdown results/causalqa_table.md \
      --cells '{"paq": {"base": "results/experiments/base/metrics/causalqa_paq_original.json",
                        "finetuned_original": "...", "finetuned_random": "..."}}'
Columns: base, finetuned_original, finetuned_random, released_original, released_random (any may be left out).
"""

import logging

from t5qa import cli
from t5qa.errors import InputError
from t5qa.report.causalqa_table import COLUMNS, build_table, write_table

COMMAND = cli.Command("causalqa-table", "the Webis-CausalQA-22 fine-tuning table from the metrics files")

log = logging.getLogger("t5qa.report.causalqa_table")


def main(argv: list[str] | None = None) -> None:
    parser = COMMAND.parser(__doc__)
    parser.add_argument("--cells", required=True, help="JSON: row -> column -> metrics file")
    parser.add_argument("--csv", required=True, help="the table, every number as computed, and each cell's file")
    parser.add_argument("--markdown", required=True, help="the table for reading, scores to 2 decimals")
    args = parser.parse_args(argv)
    cells = cli.load_json(args.cells, "--cells")
    if not isinstance(cells, dict) or not cells:
        raise InputError("--cells: a non-empty JSON object, row -> {column: metrics file}")
    for row, files in cells.items():
        if not isinstance(files, dict) or set(files) - set(COLUMNS):
            raise InputError(f"--cells: row {row!r}: an object whose keys are among {', '.join(COLUMNS)}")
    inputs = [path for files in cells.values() for path in files.values()]
    cli.check_paths({"--cells": inputs}, {"--csv": args.csv, "--markdown": args.markdown})
    table = build_table(cells)
    write_table(table, args.csv, args.markdown)
    log.info("%d rows: %s and %s", len(table), args.csv, args.markdown)


if __name__ == "__main__":
    cli.run(main)
