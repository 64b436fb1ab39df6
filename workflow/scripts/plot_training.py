"""Plot a training run's curves (loss, validation F1 and EM, the best step) against the step.

The `t5qa plot-training` command, t5qa.commands.plot_training: --help for its options; the workflow runs this file."""

from t5qa import cli
from t5qa.commands.plot_training import main

if __name__ == "__main__":
    cli.run(main)
