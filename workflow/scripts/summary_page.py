"""Show a comparison table (the summary step's CSV) as one self-contained HTML page for the report.

The `t5qa summary-page` command, t5qa.commands.summary_page: --help for its options; the workflow runs this file."""

from t5qa import cli
from t5qa.commands.summary_page import main

if __name__ == "__main__":
    cli.run(main)
