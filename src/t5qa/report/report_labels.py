"""The labels of the report's entries (Snakemake's `report(..., labels=...)`), read at report time: the columns of
the report's lists, and what its landing page (workflow/report/workflow.rst) shows: each page's EM and F1, the
comparison's best F1. Small and stdlib only: the Snakefile imports it at every DAG build."""

from __future__ import annotations

import csv
import json
from pathlib import Path


def score_labels(metrics_path: str | Path, experiment: str, dataset: str) -> dict:
    """A dataset page's labels: which model, and its scores from its metrics file."""
    metrics = json.loads(Path(metrics_path).read_text(encoding="utf-8"))
    return {
        "experiment": experiment,
        "dataset": dataset,
        "EM": f"{metrics['exact']:.2f}",
        "F1": f"{metrics['f1']:.2f}",
        "questions": metrics["total"],
    }


def summary_labels(csv_path: str | Path, name: str) -> dict:
    """The comparison's labels: its name, its rows and its best F1 (a mean row speaks for its seeds: the best of
    the mean rows and the runs without seeds; a seed row only where no mean stands for it)."""
    with open(csv_path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    candidates = [row for row in rows if row["f1_std"] or not row["seed"]] or rows
    best = max(candidates, key=lambda row: float(row["f1"]))
    spread = f" ± {float(best['f1_std']):.2f}" if best["f1_std"] else ""
    return {
        "comparison": name,
        "rows": len(rows),
        "best F1": f"{float(best['f1']):.2f}{spread}",
        "best": f"{best['group']} on {best['evaluated_on']}",
    }
