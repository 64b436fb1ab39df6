"""The workflow's `prefetch` step: fetch a hub model or tokenizer into the cache (on a login node with network).

Runs t5qa.commands.prefetch: `t5qa prefetch --help` lists its options.
Written by `make docs` from the command's declaration: edit that, not this file."""

from t5qa import cli
from t5qa.commands.prefetch import main

if __name__ == "__main__":
    cli.run(main)
