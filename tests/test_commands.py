"""Each command is declared once, in its module (`COMMAND = cli.Command(...)`): `t5qa`'s subcommands and the workflow
scripts follow from those declarations."""

import importlib
import subprocess
import sys

from t5qa import cli
from t5qa.commands import HERE, declared, workflow_scripts

from .conftest import REPO

MODULES = sorted(path.stem for path in HERE.glob("*.py") if not path.stem.startswith("__"))


def test_every_command_module_declares_itself_and_the_cheap_reading_matches_the_import():
    commands = declared()
    for module_name in MODULES:
        command = importlib.import_module(f"t5qa.commands.{module_name}").COMMAND
        assert isinstance(command, cli.Command), module_name
        entry = commands[command.name]
        declared_here = (entry["module"], entry["summary"], entry["workflow"])
        assert declared_here == (module_name, command.summary, command.workflow)
        for alias in command.aliases:
            assert commands[alias]["module"] == module_name
    assert {entry["module"] for entry in commands.values()} == set(MODULES)


def test_the_workflow_scripts_are_the_ones_the_declarations_write():
    """`make docs` writes them (python -m t5qa.commands --write workflow/scripts); none is missing, stale or extra."""
    expected = workflow_scripts()
    folder = REPO / "workflow" / "scripts"
    assert sorted(path.name for path in folder.glob("*.py")) == sorted(expected)
    for name, text in expected.items():
        assert (folder / name).read_text(encoding="utf-8") == text, f"{name}: run make docs"


def test_t5qa_help_lists_every_declared_command_and_each_runs_its_module():
    listing = subprocess.run([sys.executable, "-m", "t5qa.main", "--help"], capture_output=True, text=True, check=True)
    for name, entry in declared().items():
        assert f"  {name}" in listing.stdout and entry["summary"] in listing.stdout
    shown = subprocess.run(
        [sys.executable, "-m", "t5qa.main", "plot-training", "--help"], capture_output=True, text=True, check=True
    )
    assert shown.stdout.startswith("usage: t5qa plot-training") and "--log-history" in shown.stdout


def test_a_command_with_settings_lists_them_under_its_options():
    parser = cli.Command("x", "y", settings=importlib.import_module("t5qa.settings").PredictSettings).parser("doc")
    text = parser.format_help()
    assert "--settings" in text and "settings:\n" in text and "batch_size" in text
