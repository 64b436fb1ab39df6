"""Regenerate the embedded demo data (resources/demo/, resources/demo_long/).

The `t5qa demo-data` command, t5qa.commands.make_demo_data: --help for its options; the workflow runs this file."""

from t5qa import cli
from t5qa.commands.make_demo_data import main

if __name__ == "__main__":
    cli.run(main)
