"""The workflow's `report-page` step: a dataset's report page (scores, data stats) as one HTML file.

Runs t5qa.commands.report_page: `t5qa report-page --help` lists its options.
Written by `make docs` from the command's declaration: edit that, not this file."""

from t5qa import cli
from t5qa.commands.report_page import main

if __name__ == "__main__":
    cli.run(main)
