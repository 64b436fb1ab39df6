r"""Show a comparison table (the summary step's CSV) as one self-contained HTML page for Snakemake's report: the
settings that set runs apart as columns, each mean row heading its seeds, sortable by any column (no network).

Example:
  python workflow/scripts/summary_page.py --csv results/summary.csv --output summary.html --title "lr sweep"
"""

import logging

from t5qa import cli
from t5qa.report.summary import read_summary_csv
from t5qa.report.summary_page import render_summary_page, write_page

COMMAND = cli.Command("summary-page", "a comparison table as one sortable HTML page")

log = logging.getLogger("t5qa.report.summary_page")


def main(argv: list[str] | None = None) -> None:
    parser = COMMAND.parser(__doc__)
    parser.add_argument("--csv", required=True, help="the summary table (workflow/scripts/summary.py --csv)")
    parser.add_argument("--output", required=True, help="the HTML page")
    parser.add_argument("--title", default="Experiments side by side", help="the page's heading")
    args = parser.parse_args(argv)
    cli.check_paths({"--csv": args.csv}, {"--output": args.output})
    table = read_summary_csv(args.csv)
    write_page(args.output, render_summary_page(table, args.title, csv_name=args.csv))
    log.info("wrote %d rows to %s", len(table), args.output)


if __name__ == "__main__":
    cli.run(main)
