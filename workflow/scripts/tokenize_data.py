"""The workflow's `tokenize-data` step: tokenize a dataset into an Arrow folder and its stats.

Runs t5qa.commands.tokenize_data: `t5qa tokenize-data --help` lists its options.
Written by `make docs` from the command's declaration: edit that, not this file."""

from t5qa import cli
from t5qa.commands.tokenize_data import main

if __name__ == "__main__":
    cli.run(main)
