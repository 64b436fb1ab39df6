"""The workflow's `train` step: fine-tune T5 on a tokenized dataset.

Runs t5qa.commands.train: `t5qa train --help` lists its options.
Written by `make docs` from the command's declaration: edit that, not this file."""

from t5qa import cli
from t5qa.commands.train import main

if __name__ == "__main__":
    cli.run(main)
