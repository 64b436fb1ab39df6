"""`python -m t5qa.commands --write workflow/scripts`: write the workflow scripts from the commands' declarations
(`make docs` runs it; tests/test_commands.py checks that they match)."""

import argparse
from pathlib import Path

from t5qa.atomic import write_text
from t5qa.commands import workflow_scripts

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--write", required=True, help="the folder of the workflow scripts")
folder = Path(parser.parse_args().write)
for name, text in workflow_scripts().items():
    write_text(folder / name, text)
    print(f"wrote {folder / name}")
