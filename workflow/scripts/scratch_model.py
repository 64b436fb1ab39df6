"""The workflow's `scratch-model` step: a scratch tokenizer or small random-init T5 (offline stand-ins).

Runs t5qa.commands.scratch_model: `t5qa scratch-model --help` lists its options.
Written by `make docs` from the command's declaration: edit that, not this file."""

from t5qa import cli
from t5qa.commands.scratch_model import main

if __name__ == "__main__":
    cli.run(main)
