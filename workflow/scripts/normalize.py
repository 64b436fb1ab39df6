"""Normalise one split of one source into the uniform table (parquet) and its stats (JSON).

The `t5qa normalize` command, t5qa.commands.normalize: --help for its options; the workflow runs this file."""

from t5qa import cli
from t5qa.commands.normalize import main

if __name__ == "__main__":
    cli.run(main)
