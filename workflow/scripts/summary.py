"""The workflow's `summary` step: compare experiments: one table over many metrics files, mean ± std over seeds.

Runs t5qa.commands.summary: `t5qa summary --help` lists its options.
Written by `make docs` from the command's declaration: edit that, not this file."""

from t5qa import cli
from t5qa.commands.summary import main

if __name__ == "__main__":
    cli.run(main)
