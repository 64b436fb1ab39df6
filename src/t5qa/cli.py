"""What every step's CLI shares: logging to stderr and a clean one-line error for bad input."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from t5qa.errors import InputError


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)


def parse_settings(text: str) -> dict:
    """Step settings arrive as one JSON object (the rule's tracked params)."""
    try:
        settings = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"--settings is not valid JSON ({err})") from err
    if not isinstance(settings, dict):
        raise InputError("--settings must be a JSON object")
    return settings


def named_path(arg: str) -> tuple[str, Path]:
    """`NAME=PATH`, or a plain PATH named after its folder (results/normalized/<source>/validation.parquet)."""
    if "=" in arg:
        name, path = arg.split("=", 1)
        return name, Path(path)
    return Path(arg).parent.name, Path(arg)


def run(main: Callable[[], int | None]) -> None:
    setup_logging()
    try:
        sys.exit(main() or 0)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
