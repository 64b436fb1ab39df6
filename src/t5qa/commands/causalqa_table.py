r"""The Webis-CausalQA-22 fine-tuning table (their Table 4): a row per source; columns base / fine-tuned original /
fine-tuned random / released original / released random, each with the paper's EM, F1 and ROUGE-L and its rows
(in the validation CSV / scored).

Example:
  python workflow/scripts/causalqa_table.py --csv results/causalqa_table.csv --markdown results/causalqa_table.md \
      --cells '[{"row": "paq", "cells": {"base": {
          "metrics": "results/experiments/base/metrics/causalqa_paq_original.json",
          "stats": ["results/normalized/causalqa_paq_original/validation.stats.json"]}, ...}}]'
Columns: base, finetuned_original, finetuned_random, released_original, released_random (any may be left out); the
rows come out in the order given.
"""

import logging

from t5qa import cli
from t5qa.errors import InputError
from t5qa.report.causalqa_table import COLUMNS, build_table, write_table

COMMAND = cli.Command("causalqa-table", "the Webis-CausalQA-22 fine-tuning table from the metrics files")

log = logging.getLogger("t5qa.report.causalqa_table")


def main(argv: list[str] | None = None) -> None:
    parser = COMMAND.parser(__doc__)
    parser.add_argument("--cells", required=True, help="JSON: [{row, cells: {column: {metrics, stats: [...]}}}]")
    parser.add_argument("--csv", required=True, help="the table, every number as computed, and each cell's file")
    parser.add_argument("--markdown", required=True, help="the table for reading, scores to 2 decimals")
    args = parser.parse_args(argv)
    cells = cli.load_json(args.cells, "--cells")
    shape = "a non-empty JSON list of {row, cells: {column: {metrics: FILE, stats: [FILE, ...]}}}"
    if not isinstance(cells, list) or not cells:
        raise InputError(f"--cells: {shape}")
    for number, entry in enumerate(cells, 1):
        files = entry.get("cells") if isinstance(entry, dict) else None
        if not isinstance(entry.get("row") if files is not None else None, str) or not isinstance(files, dict):
            raise InputError(f"--cells: entry {number} is not {{row, cells}}; {shape}")
        if set(files) - set(COLUMNS):
            raise InputError(f"--cells: row {entry['row']!r}: columns among {', '.join(COLUMNS)} only")
        for column, cell in files.items():
            if not (
                isinstance(cell, dict) and isinstance(cell.get("metrics"), str) and isinstance(cell.get("stats"), list)
            ):
                raise InputError(f"--cells: row {entry['row']!r}, {column}: {{metrics: FILE, stats: [FILE, ...]}}")
    inputs = [path for entry in cells for cell in entry["cells"].values() for path in [cell["metrics"], *cell["stats"]]]
    cli.check_paths({"--cells": inputs}, {"--csv": args.csv, "--markdown": args.markdown})
    table = build_table(cells)
    write_table(table, args.csv, args.markdown)
    log.info("%d rows: %s and %s", len(table), args.csv, args.markdown)


if __name__ == "__main__":
    cli.run(main)
