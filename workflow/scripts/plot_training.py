"""The workflow's `plot-training` step: plot a training run's curves.

Runs t5qa.commands.plot_training: `t5qa plot-training --help` lists its options.
Written by `make docs` from the command's declaration: edit that, not this file."""

from t5qa import cli
from t5qa.commands.plot_training import main

if __name__ == "__main__":
    cli.run(main)
