"""The workflow's `normalize` step: one split of one source into the uniform table and its stats.

Runs t5qa.commands.normalize: `t5qa normalize --help` lists its options.
Written by `make docs` from the command's declaration: edit that, not this file."""

from t5qa import cli
from t5qa.commands.normalize import main

if __name__ == "__main__":
    cli.run(main)
