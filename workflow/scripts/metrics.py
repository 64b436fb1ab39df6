"""The workflow's `metrics` step: score predictions as the official SQuAD v2.0 script does (+ ROUGE-L, per source).

Runs t5qa.commands.metrics: `t5qa metrics --help` lists its options.
Written by `make docs` from the command's declaration: edit that, not this file."""

from t5qa import cli
from t5qa.commands.metrics import main

if __name__ == "__main__":
    cli.run(main)
