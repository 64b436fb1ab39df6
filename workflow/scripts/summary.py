"""Compare experiments: one table (CSV and Markdown) over many metrics files, mean ± std over seeds.

The `t5qa summary` command, t5qa.commands.summary: --help for its options; the workflow runs this file."""

from t5qa import cli
from t5qa.commands.summary import main

if __name__ == "__main__":
    cli.run(main)
