"""The `t5qa` command's subcommands: one module each, with `main(argv)`; the workflow's step scripts call the same."""
