"""The workflow's `demo-data` step: regenerate the embedded demo data.

Runs t5qa.commands.make_demo_data: `t5qa demo-data --help` lists its options.
Written by `make docs` from the command's declaration: edit that, not this file."""

from t5qa import cli
from t5qa.commands.make_demo_data import main

if __name__ == "__main__":
    cli.run(main)
