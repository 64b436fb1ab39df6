"""Fetch a hub model or tokenizer into the local Hugging Face cache (on a login node with network).

The `t5qa prefetch` command, t5qa.commands.prefetch: --help for its options; the workflow runs this file."""

from t5qa import cli
from t5qa.commands.prefetch import main

if __name__ == "__main__":
    cli.run(main)
