"""Extract a model folder from a downloaded zip (a model archive://NAME/FOLDER) on the login node.

The `t5qa prefetch-archive-model` command, t5qa.commands.prefetch_archive_model: --help for its options; the
workflow runs this file."""

from t5qa import cli
from t5qa.commands.prefetch_archive_model import main

if __name__ == "__main__":
    cli.run(main)
