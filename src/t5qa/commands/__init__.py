"""The commands: one module per `t5qa` subcommand, each declaring itself once (`COMMAND = cli.Command(...)`).

`declared()` reads those declarations without importing the modules (a step's module loads torch: `t5qa --help`
would take seconds); `workflow_script()` is what workflow/scripts/<module>.py holds for a step the workflow runs."""

from __future__ import annotations

import ast
from pathlib import Path

HERE = Path(__file__).parent


def declared() -> dict[str, dict]:
    """subcommand -> {"module", "summary", "workflow"}, aliases included, from each module's COMMAND."""
    commands = {}
    for path in sorted(HERE.glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not (isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["COMMAND"]):
                continue
            call = node.value
            fields = dict(zip(("name", "summary"), call.args))
            fields.update({keyword.arg: keyword.value for keyword in call.keywords})
            literal = {key: ast.literal_eval(value) for key, value in fields.items() if key != "settings"}
            entry = {"module": path.stem, "summary": literal["summary"], "workflow": literal.get("workflow", True)}
            commands[literal["name"]] = entry
            for alias in literal.get("aliases", ()):
                commands[alias] = {**entry, "summary": f"the same as {literal['name']}", "workflow": False}
    return commands


def workflow_script(name: str, module: str, summary: str) -> str:
    """A workflow script: the rule runs this file, which runs the command's main()."""
    return (
        f'"""The workflow\'s `{name}` step: {summary}.\n\n'
        f"Runs t5qa.commands.{module}: `t5qa {name} --help` lists its options.\n"
        'Written by `make docs` from the command\'s declaration: edit that, not this file."""\n\n'
        "from t5qa import cli\n"
        f"from t5qa.commands.{module} import main\n\n"
        'if __name__ == "__main__":\n'
        "    cli.run(main)\n"
    )


def workflow_scripts() -> dict[str, str]:
    """file name -> text of every workflow script, one for each command the workflow runs."""
    return {
        f"{entry['module']}.py": workflow_script(name, entry["module"], entry["summary"])
        for name, entry in declared().items()
        if entry["workflow"]
    }
