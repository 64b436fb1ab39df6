r"""Show a comparison table (the summary step's CSV) as one self-contained HTML page for Snakemake's report: the
settings that set runs apart as columns, each mean row heading its seeds, sortable by any column (no network).

Example:
  python workflow/scripts/summary_page.py --csv results/summary.csv --output summary.html --title "lr sweep"
"""

import argparse
import logging

from t5qa import cli
from t5qa.atomic import check_destination
from t5qa.report.summary import read_summary_csv
from t5qa.report.summary_page import render_summary_page, write_page

log = logging.getLogger("t5qa.report.summary_page")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", required=True, help="the summary table (workflow/scripts/summary.py --csv)")
    parser.add_argument("--output", required=True, help="the HTML page")
    parser.add_argument("--title", default="Experiments side by side", help="the page's heading")
    args = parser.parse_args(argv)
    cli.check_outputs_spare_inputs({"--csv": args.csv}, {"--output": args.output})
    check_destination(args.output)
    table = read_summary_csv(args.csv)
    write_page(args.output, render_summary_page(table, args.title, csv_name=args.csv))
    log.info("wrote %d rows to %s", len(table), args.output)


if __name__ == "__main__":
    cli.run(main)
