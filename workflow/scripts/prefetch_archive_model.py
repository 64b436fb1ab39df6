"""The workflow's `prefetch-archive-model` step: extract a model folder from a downloaded zip.

Runs t5qa.commands.prefetch_archive_model: `t5qa prefetch-archive-model --help` lists its options.
Written by `make docs` from the command's declaration: edit that, not this file."""

from t5qa import cli
from t5qa.commands.prefetch_archive_model import main

if __name__ == "__main__":
    cli.run(main)
