"""Build the offline stand-ins for a hub checkpoint: a scratch tokenizer, or a small random-init T5.

The `t5qa scratch-model` command, t5qa.commands.scratch_model: --help for its options; the workflow runs this file."""

from t5qa import cli
from t5qa.commands.scratch_model import main

if __name__ == "__main__":
    cli.run(main)
