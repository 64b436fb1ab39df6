"""Generate answers for a dataset's validation (or test) split, one JSON line each.

The `t5qa predict` command, t5qa.commands.predict: --help for its options; the workflow runs this file."""

from t5qa import cli
from t5qa.commands.predict import main

if __name__ == "__main__":
    cli.run(main)
