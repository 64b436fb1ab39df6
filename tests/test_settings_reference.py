"""config/README.md's settings reference is the schema's, current: every setting, its type, default and description."""

import subprocess
import sys

import pytest

from t5qa.plan import settings_reference
from t5qa.settings import config_schema

from .workflow_helpers import REPO

README = REPO / "config" / "README.md"


def test_config_readme_settings_reference_is_current():
    assert settings_reference.is_current(README), (
        f"{README.relative_to(REPO)} is stale against src/t5qa/config.schema.yaml; regenerate it: "
        f"{settings_reference.REGENERATE}"
    )


def leaf_paths(node: dict, defs: dict, path: str) -> list[str]:
    node = settings_reference.resolve(node, defs)
    found = [path]
    if node.get("type") == "object" and "properties" in node:
        for key, child in node["properties"].items():
            found += leaf_paths(child, defs, f"{path}.{key}")
    return found


def test_every_setting_of_model_tokenize_train_predict_has_a_row():
    schema = config_schema()
    text = settings_reference.render(schema)
    for section in ("model", "tokenize", "train", "predict"):
        for path in leaf_paths(schema["properties"][section], schema["$defs"], section):
            assert f"| `{path}` |" in text, path
    assert "| `train.learning_rate` | number > 0 | `0.0003` | AdamW's peak learning rate |" in text
    assert "| `tokenize.long_inputs` | `windows` \\| `truncate` \\| `whole` | `windows` |" in text


def test_rewrites_only_the_block_and_check_mode(tmp_path):
    page = tmp_path / "README.md"
    page.write_text(f"# by hand\n\n{settings_reference.BEGIN}\nOLD-BLOCK\n{settings_reference.END}\n\nafter\n")
    run = [sys.executable, "-m", "t5qa.plan.settings_reference"]
    stale = subprocess.run([*run, "--check", str(page)], capture_output=True, text=True)
    assert stale.returncode == 1 and "make docs" in stale.stderr
    subprocess.run([*run, "--write", str(page)], check=True)
    text = page.read_text()
    assert text.startswith("# by hand\n\n") and text.endswith("\n\nafter\n") and "OLD-BLOCK" not in text
    assert subprocess.run([*run, "--check", str(page)]).returncode == 0


def test_a_page_without_markers_is_an_error():
    with pytest.raises(ValueError, match="marker"):
        settings_reference.replace_block("no markers here", settings_reference.block())
