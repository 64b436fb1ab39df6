r"""Write a dataset's report page (one self-contained HTML file) from its metrics and the normalise and tokenize
steps' stats, for Snakemake's `--report`.

Example:
  python workflow/scripts/report_page.py --dataset demo --metrics results/metrics/demo.json \
      --normalize-stats demo_squad:train=results/normalized/demo_squad/train.stats.json \
                        demo_squad:validation=results/normalized/demo_squad/validation.stats.json \
      --tokenize-stats results/tokenized/demo.stats.json --output results/report/demo.html
"""

import logging
from pathlib import Path

from t5qa import cli
from t5qa.report.report_page import (
    load_report_inputs,
    parse_normalize_stats_arguments,
    render_report_page,
    write_report_page,
)

COMMAND = cli.Command("report-page", "a dataset's report page (scores, data stats) as one HTML file")

log = logging.getLogger("t5qa.report.report_page")


def main(argv: list[str] | None = None) -> None:
    parser = COMMAND.parser(__doc__)
    parser.add_argument("--dataset", required=True, help="the dataset's name, the page's title")
    parser.add_argument("--metrics", required=True, help="the metrics JSON")
    parser.add_argument(
        "--normalize-stats",
        nargs="+",
        required=True,
        metavar="SOURCE:SPLIT=PATH",
        help="the normalise step's stats JSON, one for each source and split",
    )
    parser.add_argument("--tokenize-stats", required=True, help="the tokenize step's stats JSON")
    parser.add_argument("--output", required=True, help="the HTML page")
    args = parser.parse_args(argv)
    cli.check_paths(
        {
            "--metrics": args.metrics,
            "--normalize-stats": [argument.partition("=")[2] for argument in args.normalize_stats],
            "--tokenize-stats": args.tokenize_stats,
        },
        {"--output": args.output},
    )
    normalize_stats_paths = parse_normalize_stats_arguments(args.normalize_stats)
    metrics, normalize_stats, tokenize_stats = load_report_inputs(
        Path(args.metrics), normalize_stats_paths, Path(args.tokenize_stats)
    )
    write_report_page(args.output, render_report_page(args.dataset, metrics, normalize_stats, tokenize_stats))
    log.info("wrote %s", args.output)


if __name__ == "__main__":
    cli.run(main)
