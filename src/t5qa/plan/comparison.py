"""The comparison table's name and columns: which settings set the compared experiments apart (one column each),
and the table's name, a hash of the runs it compares."""

from __future__ import annotations

import hashlib
import json


def varied_settings(experiments: dict[str, dict], names: list[str]) -> dict[str, dict]:
    """name -> {dotted setting: its value} for the settings the named experiments set apart (those some one
    overrides, or a sweep's grid varies, and whose values differ between them), the summary's columns. train.seed
    has its own column; resources change no result. Values as the experiment runs them (defaults filled in);
    a list or mapping as JSON text."""
    keys = []
    for name in names:
        overrides = {key: value for key, value in experiments[name]["overrides"].items() if key != "resources"}
        keys += [key for key in _dotted_keys(overrides) if key != "train.seed"]
    values = {name: {key: _effective(experiments[name], key) for key in dict.fromkeys(keys)} for name in names}
    varied = [
        key for key in dict.fromkeys(keys) if len({json.dumps(v[key], sort_keys=True) for v in values.values()}) > 1
    ]
    return {name: {key: values[name][key] for key in varied} for name in names}


def _dotted_keys(nested: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in nested.items():
        dotted = f"{prefix}{key}"
        keys += _dotted_keys(value, dotted + ".") if isinstance(value, dict) and value else [dotted]
    return keys


def _effective(entry: dict, key: str):
    if key == "finetune":
        return entry["finetune"]
    value = entry["settings"]
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return json.dumps(value, sort_keys=True) if isinstance(value, list | dict) else value


def summary_name(runs: list[dict], experiments: dict[str, dict]) -> str:
    """The name of a config's comparison (results/summary/<name>.*): the experiments' groups it compares (a sweep's
    name for its members), readable, and a short hash of every row, so that configs comparing other things never
    overwrite each other's tables and the same config always writes the same files."""
    groups = dict.fromkeys(experiments[run["experiment"]]["sweep"] or run["group"] for run in runs)
    readable = "+".join(groups)
    if len(readable) > 40:
        readable = readable[:40].rstrip("+-._")
    digest = hashlib.sha256(json.dumps(runs, sort_keys=True).encode()).hexdigest()[:8]
    return f"{readable}-{digest}"  # experiment and sweep names are path components already
