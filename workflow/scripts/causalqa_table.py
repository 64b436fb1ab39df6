"""The Webis-CausalQA-22 fine-tuning table (their Table 4) from the metrics files.

The `t5qa causalqa-table` command, t5qa.commands.causalqa_table: --help for its options; the workflow runs this file."""

from t5qa import cli
from t5qa.commands.causalqa_table import main

if __name__ == "__main__":
    cli.run(main)
