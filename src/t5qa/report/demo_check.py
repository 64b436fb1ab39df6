"""What `make demo` prints at the end: the demo's score beside the range it is expected in, and one line when it falls
outside it.

  python -m t5qa.report.demo_check results/metrics/demo.json benchmarks/demo_expected.json

The range is what benchmarks/demo_spread.py measured over seeds and torch threads (their different float rounding
stands in for another CPU's), widened by the margin the file states. A score outside it is not rounding any more: a
broken install or a changed config, so the line says where to look.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from t5qa import cli
from t5qa.errors import InputError

KEYS = {"exact": "exact", "f1": "F1"}


def demo_inputs_sha256(repo: Path) -> dict[str, str]:
    """What the demo's score depends on besides the libraries: its config and its data. The expected range records
    them, so a test says when it was measured on another demo."""
    data = hashlib.sha256()
    for path in sorted((repo / "resources/demo").iterdir()):
        data.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return {
        "config_sha256": hashlib.sha256((repo / "config/demo.yaml").read_bytes()).hexdigest(),
        "data_sha256": data.hexdigest(),
    }


def read_expected(path: Path) -> dict:
    expected = cli.require_object(
        cli.read_json_file(path, "expected demo range"), path, "expected demo range", ("margin", "runs"), ("scores",)
    )
    for key in KEYS:
        scores = cli.require_object(expected["scores"].get(key), path, f"scores.{key}", ("mean", "std", "min", "max"))
        if not all(isinstance(scores[k], int | float) for k in ("mean", "std", "min", "max")):
            raise InputError(f"{path}: scores.{key}: mean, std, min and max must be numbers")
    if not isinstance(expected["margin"], int | float) or expected["margin"] < 0:
        raise InputError(f"{path}: margin must be a number of points, 0 or more")
    return expected


def outside(metrics: dict, expected: dict) -> list[str]:
    """The scores beyond the measured range by more than the margin, as 'F1 57.25'."""
    margin = expected["margin"]
    return [
        f"{label} {metrics[key]:.2f}"
        for key, label in KEYS.items()
        if not expected["scores"][key]["min"] - margin <= metrics[key] <= expected["scores"][key]["max"] + margin
    ]


def versions(expected: dict) -> str:
    return ", ".join(f"{name} {version}" for name, version in expected.get("versions", {}).items()) or "?"


def report(metrics: dict, expected: dict, metrics_path: Path) -> list[str]:
    s = expected["scores"]
    ranges = ", ".join(
        f"{label} {s[key]['mean']:.1f} ± {s[key]['std']:.1f} ({s[key]['min']:.2f}-{s[key]['max']:.2f})"
        for key, label in KEYS.items()
    )
    lines = [
        f"demo: exact {metrics['exact']:.2f}  F1 {metrics['f1']:.2f}  on {metrics['total']} questions "
        f"-> {metrics_path}",
        f"demo: expected {ranges} over {expected['runs']} runs (seeds x torch threads; benchmarks/demo_spread.py)",
    ]
    off = outside(metrics, expected)
    if off:
        lines.append(
            f"demo: {' and '.join(off)}: more than {expected['margin']:g} points outside the expected range, more "
            "than rounding moves it: a sign of a broken install or a changed config; see logs/train/demo.log "
            "(validation during training), `git status config/ resources/`, and the versions in "
            f"results/models/demo/run_manifest.json (the range was measured with {versions(expected)})"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("metrics", type=Path, help="the demo's metrics file (results/metrics/demo.json)")
    parser.add_argument("expected", type=Path, help="the expected range (benchmarks/demo_expected.json)")
    args = parser.parse_args(argv)
    metrics = cli.require_object(
        cli.read_json_file(args.metrics, "metrics file"), args.metrics, "metrics file", ("exact", "f1", "total")
    )
    print("\n".join(report(metrics, read_expected(args.expected), args.metrics)))


if __name__ == "__main__":
    cli.run(main)
