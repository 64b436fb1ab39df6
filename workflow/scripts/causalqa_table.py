"""The workflow's `causalqa-table` step: the Webis-CausalQA-22 fine-tuning table from the metrics files.

Runs t5qa.commands.causalqa_table: `t5qa causalqa-table --help` lists its options.
Written by `make docs` from the command's declaration: edit that, not this file."""

from t5qa import cli
from t5qa.commands.causalqa_table import main

if __name__ == "__main__":
    cli.run(main)
