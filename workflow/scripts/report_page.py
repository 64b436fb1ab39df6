"""Write a dataset's report page (one self-contained HTML file) for Snakemake's --report.

The `t5qa report-page` command, t5qa.commands.report_page: --help for its options; the workflow runs this file."""

from t5qa import cli
from t5qa.commands.report_page import main

if __name__ == "__main__":
    cli.run(main)
