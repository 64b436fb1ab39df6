"""The Webis-CausalQA-22 fine-tuning table (their Table 4), laid out as theirs: a row per source; columns base
(the starting model scored as it is, on the original split's validation set), fine-tuned on the original split,
fine-tuned on the random split, and the released models (original, random), each scored on its own split's
validation set; each column with the paper's EM, F1 and ROUGE-L (the metrics files' `causalqa_measures`, 0-100).

`cells` (from the config's `causalqa_table` section and the experiments' paths) says, row by row in the declared
order, which metrics file fills which cell and which normalize stats files count the rows of the CSV it scores; a
cell without a file (no released model declared for that row) is empty. Each cell shows the rows of the CSV beside
the rows scored: their evaluation scores every row, normalize drops some (duplicate ids, empty questions, ...).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from t5qa.atomic import atomic_paths
from t5qa.errors import InputError

# Column -> its heading in the Markdown table, in their order.
COLUMNS = {
    "base": "base",
    "finetuned_original": "fine-tuned original",
    "finetuned_random": "fine-tuned random",
    "released_original": "released original",
    "released_random": "released random",
}
# The measure -> its key in a metrics file's causalqa_measures (t5qa.evaluate.causalqa_measures.aggregate).
MEASURES = {"EM": "exact", "F1": "f1", "ROUGE-L": "rougeL_f1"}


def table_cells(table: dict, metrics_path, stats_paths) -> list[dict]:
    """[{row, cells: {column: {metrics, stats}}}] in the rows' declared order, from the config's `causalqa_table`
    section: `metrics_path(experiment, dataset)` names an experiment's metrics file on its own dataset,
    `stats_paths(dataset)` the normalize stats of its sources' validation files."""
    cells = []
    for row, spec in table.get("rows", {}).items():
        experiments = {
            "base": (spec.get("base", table["base"]), spec["original"]),
            "finetuned_original": (table["finetuned"], spec["original"]),
            "finetuned_random": (table["finetuned"], spec["random"]),
        }
        for family in ("original", "random"):
            if spec.get(f"released_{family}"):
                experiments[f"released_{family}"] = (spec[f"released_{family}"], spec[family])
        cell = {
            column: {"metrics": metrics_path(experiment, dataset), "stats": stats_paths(dataset)}
            for column, (experiment, dataset) in experiments.items()
        }
        cells.append({"row": row, "cells": cell})
    return cells


def check_table(table: dict, experiments: dict, datasets: dict) -> list[str]:
    """Config mistakes in `causalqa_table`, one line each: undeclared experiments or datasets, a base or released
    model that would be trained, a fine-tuned one that would not."""
    problems, where = [], "causalqa_table"
    if not table.get("rows"):
        return [f"{where}: no rows"]
    for key, finetune in (("base", False), ("finetuned", True)):
        name = table.get(key)
        if name is None:
            problems.append(f"{where}.{key}: required (an experiment name)")
        else:
            problems += _experiment_problems(f"{where}.{key}", name, experiments, finetune)
    for row, spec in table["rows"].items():
        if "base" in spec:
            problems += _experiment_problems(f"{where}.rows.{row}.base", spec["base"], experiments, False)
        for family in ("original", "random"):
            if spec[family] not in datasets:
                problems.append(f"{where}.rows.{row}.{family}: dataset {spec[family]!r} is not declared")
            name = spec.get(f"released_{family}")
            if name is not None and name not in experiments:
                problems.append(f"{where}.rows.{row}.released_{family}: {name!r} is not a declared experiment")
            elif name is not None and experiments[name]["finetune"]:
                problems.append(f"{where}.rows.{row}.released_{family}: experiment {name!r} must have finetune: false")
    return problems


def _experiment_problems(where: str, name: str, experiments: dict, finetune: bool) -> list[str]:
    if name not in experiments:
        return [f"{where}: {name!r} is not a declared experiment"]
    if experiments[name]["finetune"] != finetune:
        return [f"{where}: experiment {name!r} must have finetune: {str(finetune).lower()}"]
    return []


def _read_json(path, what: str, keys: tuple[str, ...]) -> dict:
    try:
        found = json.loads(Path(path).read_text(encoding="utf-8"))
        for key in keys:
            found = found[key]
        return found
    except FileNotFoundError as err:
        raise InputError(f"{path}: {what} not found") from err
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise InputError(f"{path}: not a {what} ({err})") from err


def read_measures(path) -> dict[str, float]:
    """The paper's measures of a metrics file, and the questions they scored (`scored`)."""
    measures = _read_json(path, "metrics file with causalqa_measures", ("causalqa_measures",))
    try:
        return {name: float(measures[key]) for name, key in MEASURES.items()} | {"scored": int(measures["total"])}
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"{path}: not a metrics file with causalqa_measures ({err})") from err


def rows_in_files(paths: list) -> int:
    """The rows of the scored files as read (before normalize drops any), from their normalize stats."""
    total = 0
    for path in paths:
        rows = _read_json(path, "normalize stats file", ("rows_read",))
        if not isinstance(rows, int):
            raise InputError(f"{path}: rows_read is not a count")
        total += rows
    return total


def build_table(cells: list[dict]) -> pd.DataFrame:
    """One row per source in the given order, a column `<column> <measure>` per cell and measure (NaN where no
    file), each cell's rows in the CSV and rows scored, and its metrics file (`<column> metrics`)."""
    rows = []
    for entry in cells:
        record = {"source": entry["row"]}
        files = entry["cells"]
        for column in COLUMNS:
            measures = read_measures(files[column]["metrics"]) if column in files else {}
            for measure in MEASURES:
                record[f"{column} {measure}"] = measures.get(measure, float("nan"))
            record[f"{column} rows in CSV"] = rows_in_files(files[column]["stats"]) if column in files else pd.NA
            record[f"{column} rows scored"] = measures.get("scored", pd.NA)
        for column in COLUMNS:
            record[f"{column} metrics"] = files[column]["metrics"] if column in files else ""
        rows.append(record)
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    """Their layout: two heading rows folded into one (column, then EM / F1 / ROUGE-L), scores to 2 decimals."""
    head = ["source"] + [f"{label} {measure}" for label in COLUMNS.values() for measure in [*MEASURES, "rows"]]
    lines = [
        "| " + " | ".join(head) + " |",
        "|---|" + "---:|" * (len(head) - 1),
    ]
    for _, record in table.iterrows():
        values = [record["source"]]
        for column in COLUMNS:
            for measure in MEASURES:
                value = record[f"{column} {measure}"]
                values.append("—" if pd.isna(value) else f"{value:.2f}")
            rows = record[f"{column} rows in CSV"], record[f"{column} rows scored"]
            values.append("—" if pd.isna(rows[0]) else f"{rows[0]}/{rows[1]}")
        lines.append("| " + " | ".join(values) + " |")
    note = (
        "\nEM, F1 and ROUGE-L as the Webis-CausalQA-22 paper computes them (0-100, "
        "t5qa.evaluate.causalqa_measures), against the raw answer cell split on tabs; each model scored on the "
        "validation split of the family it names (base: "
        "the original split). rows: the rows of the validation CSV / the rows scored (normalize drops duplicate ids, "
        "empty questions and invalid text; their evaluation scores every row).\n"
    )
    return "\n".join(lines) + "\n" + note


def write_table(table: pd.DataFrame, csv_path, markdown_path) -> None:
    with atomic_paths(csv_path, markdown_path) as (csv_tmp, md_tmp):
        table.to_csv(csv_tmp, index=False)
        md_tmp.write_text(markdown(table), encoding="utf-8")
