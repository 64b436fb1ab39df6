"""`t5qa`: one command for every step of the pipeline, and for asking a trained model.

t5qa ask MODEL --question Q --context C      answer questions as the predict step would
t5qa <step> --help                           each step's own options (the workflow runs the same code)
"""

from __future__ import annotations

import importlib
import sys

from t5qa import cli
from t5qa.commands import declared

# subcommand -> its module under t5qa.commands and its line of help, as each command declares itself
COMMANDS = declared()


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {entry['summary']}" for name, entry in COMMANDS.items()]
    return "usage: t5qa COMMAND [options]   (t5qa COMMAND --help for its options)\n\ncommands:\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        sys.exit(0 if argv else 2)
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}\n{usage()}", file=sys.stderr)
        sys.exit(2)
    module = importlib.import_module(f"t5qa.commands.{COMMANDS[name]['module']}")
    cli.run(lambda: module.main(rest))


if __name__ == "__main__":
    main()
