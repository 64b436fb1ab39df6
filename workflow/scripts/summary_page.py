"""The workflow's `summary-page` step: a comparison table as one sortable HTML page.

Runs t5qa.commands.summary_page: `t5qa summary-page --help` lists its options.
Written by `make docs` from the command's declaration: edit that, not this file."""

from t5qa import cli
from t5qa.commands.summary_page import main

if __name__ == "__main__":
    cli.run(main)
