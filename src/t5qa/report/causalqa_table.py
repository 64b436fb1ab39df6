"""The Webis-CausalQA-22 fine-tuning table (their Table 4), laid out as theirs: a row per source; columns base
(the starting model scored as it is, on the original split's validation set), fine-tuned on the original split,
fine-tuned on the random split, and the released models (original, random), each scored on its own split's
validation set; each column with the paper's EM, F1 and ROUGE-L (the metrics files' `causalqa_measures`, 0-100).

`cells` (from the config's `causalqa_table` section and the experiments' paths) says which metrics file fills which
cell; a cell without a file (no released model declared for that row) is empty.
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


def table_cells(table: dict, metrics_path) -> dict[str, dict[str, str]]:
    """row -> column -> metrics file, from the config's `causalqa_table` section; `metrics_path(experiment,
    dataset)` names an experiment's metrics file on its own dataset."""
    cells = {}
    for row, spec in table.get("rows", {}).items():
        cells[row] = {
            "base": metrics_path(table["base"], spec["original"]),
            "finetuned_original": metrics_path(table["finetuned"], spec["original"]),
            "finetuned_random": metrics_path(table["finetuned"], spec["random"]),
        }
        for family in ("original", "random"):
            if spec.get(f"released_{family}"):
                cells[row][f"released_{family}"] = metrics_path(spec[f"released_{family}"], spec[family])
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
        elif name not in experiments:
            problems.append(f"{where}.{key}: {name!r} is not a declared experiment")
        elif experiments[name]["finetune"] != finetune:
            problems.append(f"{where}.{key}: experiment {name!r} must have finetune: {str(finetune).lower()}")
    for row, spec in table["rows"].items():
        for family in ("original", "random"):
            if spec[family] not in datasets:
                problems.append(f"{where}.rows.{row}.{family}: dataset {spec[family]!r} is not declared")
            name = spec.get(f"released_{family}")
            if name is not None and name not in experiments:
                problems.append(f"{where}.rows.{row}.released_{family}: {name!r} is not a declared experiment")
            elif name is not None and experiments[name]["finetune"]:
                problems.append(f"{where}.rows.{row}.released_{family}: experiment {name!r} must have finetune: false")
    return problems


def read_measures(path: Path) -> dict[str, float]:
    try:
        metrics = json.loads(Path(path).read_text(encoding="utf-8"))
        measures = metrics["causalqa_measures"]
        return {name: float(measures[key]) for name, key in MEASURES.items()}
    except FileNotFoundError as err:
        raise InputError(f"{path}: metrics file not found") from err
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise InputError(f"{path}: not a metrics file with causalqa_measures ({err})") from err


def build_table(cells: dict[str, dict[str, str]]) -> pd.DataFrame:
    """One row per source, a column `<column> <measure>` per cell and measure (NaN where no file), plus the
    metrics file of every cell (`<column> metrics`)."""
    rows = []
    for row, files in cells.items():
        record = {"source": row}
        for column in COLUMNS:
            measures = read_measures(files[column]) if column in files else {}
            for measure in MEASURES:
                record[f"{column} {measure}"] = measures.get(measure, float("nan"))
        for column in COLUMNS:
            record[f"{column} metrics"] = files.get(column, "")
        rows.append(record)
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    """Their layout: two heading rows folded into one (column, then EM / F1 / ROUGE-L), scores to 2 decimals."""
    head = ["source"] + [f"{label} {measure}" for label in COLUMNS.values() for measure in MEASURES]
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
        lines.append("| " + " | ".join(values) + " |")
    note = (
        "\nEM, F1 and ROUGE-L as the Webis-CausalQA-22 paper computes them (0-100, "
        "t5qa.evaluate.causalqa_measures); each model scored on the validation split of the family it names "
        "(base: the original split).\n"
    )
    return "\n".join(lines) + "\n" + note


def write_table(table: pd.DataFrame, csv_path, markdown_path) -> None:
    with atomic_paths(csv_path, markdown_path) as (csv_tmp, md_tmp):
        table.to_csv(csv_tmp, index=False)
        md_tmp.write_text(markdown(table), encoding="utf-8")
