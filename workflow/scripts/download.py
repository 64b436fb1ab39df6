"""The workflow's `download` step: fetch one raw file (URL, local path, zip member, hub split) with checksum checks.

Runs t5qa.commands.download: `t5qa download --help` lists its options.
Written by `make docs` from the command's declaration: edit that, not this file."""

from t5qa import cli
from t5qa.commands.download import main

if __name__ == "__main__":
    cli.run(main)
