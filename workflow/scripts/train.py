"""Fine-tune T5 on a tokenized dataset with Seq2SeqTrainer (one process, or under accelerate launch).

The `t5qa train` command, t5qa.commands.train: --help for its options; the workflow runs this file."""

from t5qa import cli
from t5qa.commands.train import main

if __name__ == "__main__":
    cli.run(main)
