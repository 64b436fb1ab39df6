"""Score predictions with the official SQuAD v2.0 EM/F1 (plus ROUGE-L and a per-source breakdown).

The `t5qa metrics` command, t5qa.commands.metrics: --help for its options; the workflow runs this file."""

from t5qa import cli
from t5qa.commands.metrics import main

if __name__ == "__main__":
    cli.run(main)
