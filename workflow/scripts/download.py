"""Fetch one raw file (a URL, a local path, a zip member or a hub dataset split) with checksum checks.

The `t5qa download` command, t5qa.commands.download: --help for its options; the workflow runs this file."""

from t5qa import cli
from t5qa.commands.download import main

if __name__ == "__main__":
    cli.run(main)
