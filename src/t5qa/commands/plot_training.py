r"""Plot a training run: training and validation loss, validation F1 and EM, and the best step, against the step.

Example:
  python workflow/scripts/plot_training.py --log-history results/models/squad2/log_history.json \
      --output results/models/squad2/training_curves.png --title "squad2, t5-small"
While a run trains, a checkpoint's trainer_state.json works too:
  python workflow/scripts/plot_training.py \
      --log-history results/checkpoints/squad2/checkpoint-1500/trainer_state.json --output progress.png
"""

import logging

from t5qa import cli
from t5qa.model.plot_training import load_training_log, plot_training

COMMAND = cli.Command("plot-training", "plot a training run's curves")

log = logging.getLogger("t5qa.model.plot_training")


def main(argv: list[str] | None = None) -> None:
    parser = COMMAND.parser(__doc__)
    parser.add_argument("--log-history", required=True, help="log_history.json of a model, or a trainer_state.json")
    parser.add_argument("--output", required=True, help="the PNG to write")
    parser.add_argument("--title", help="the figure's title; default the log's path")
    args = parser.parse_args(argv)
    cli.check_paths({"--log-history": args.log_history}, {"--output": args.output})
    training_log = load_training_log(args.log_history)
    plot_training(training_log, args.output, args.title or args.log_history)
    log.info("plotted %d log entries to %s", len(training_log["log_history"]), args.output)


if __name__ == "__main__":
    cli.run(main)
