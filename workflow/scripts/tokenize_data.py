"""Tokenize a dataset (one or more sources) into an Arrow folder plus a stats JSON.

The `t5qa tokenize-data` command, t5qa.commands.tokenize_data: --help for its options; the workflow runs this file."""

from t5qa import cli
from t5qa.commands.tokenize_data import main

if __name__ == "__main__":
    cli.run(main)
