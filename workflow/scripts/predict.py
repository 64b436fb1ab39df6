"""The workflow's `predict` step: generate answers for a tokenized validation or test split.

Runs t5qa.commands.predict: `t5qa predict --help` lists its options.
Written by `make docs` from the command's declaration: edit that, not this file."""

from t5qa import cli
from t5qa.commands.predict import main

if __name__ == "__main__":
    cli.run(main)
