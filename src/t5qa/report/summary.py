"""One comparison table over many experiments' metrics: a row per run, side by side, and for the runs of one sweep
cell that differ only in their seed, a row of their mean and sample standard deviation.

A run is {"experiment", "group", "seed", "trained_on", "evaluated_on", "split", "metrics"[, "settings"]}: `group` is
the experiment's name without its seed suffix (an experiment without seeds is its own group, seed null), `metrics`
the path of the metrics step's JSON, `split` validation or test, `settings` the settings that set it apart from the
other runs ({"train.learning_rate": 0.001}: t5qa.plan.comparison.varied_settings), one column each, `questions` the
metrics step's questions CSV (every question's EM and F1), which adds the comparison with a reference experiment,
question by question (report.paired). Runs of one group trained on and evaluated on the same datasets and split, with
two or more seeds, are aggregated.

The table keeps every number as computed (the CSV); the Markdown and HTML renderings round to 2 decimals for
reading. The HTML page (for Snakemake's report) sorts by any column on a click, a mean row carrying its seeds.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pandas as pd

from t5qa.atomic import atomic_path
from t5qa.cli import json_kind, read_json_file
from t5qa.errors import InputError
from t5qa.report.paired import (
    COUNT_COLUMNS,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    PAIRED_COLUMNS,
    compare_runs,
    comparison_note,
    diff_text,
    has_comparisons,
)
from t5qa.settings import check_value

TEXT = {"type": "string"}
RUN_SCHEMA = {
    "type": "object",
    "properties": {
        **dict.fromkeys(["experiment", "group", "trained_on", "evaluated_on", "split", "metrics"], TEXT),
        "seed": {"type": ["integer", "null"]},
        "settings": {"type": "object"},
        "questions": TEXT,
    },
    "required": ["experiment", "group", "seed", "trained_on", "evaluated_on", "split", "metrics"],
    "additionalProperties": False,
}
NAME_COLUMNS = ["experiment", "group", "seed", "trained_on", "evaluated_on", "split"]
SETTING_KINDS = (str, int, float, bool, type(None))
# The official SQuAD v2.0 scores (HasAns_*/NoAns_* only where such questions exist) and ROUGE-L. `total` is a count,
# not a score: an aggregate row shows it but does not average it.
SCORE_KEYS = ["exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1", "rougeL_f1"]
REQUIRED_NUMBERS = ["exact", "f1", "total"]
STD_SUFFIX = "_std"
MISSING = "–"
# The Markdown's comparison columns: head -> the score it compares.
DIFF_HEADS = {"ΔEM vs reference [95 % CI]": "exact", "ΔF1 vs reference [95 % CI]": "f1"}


# --------------------------------------------------------------------------- the inputs


def load_runs(runs: list[dict], where: str = "--runs") -> list[dict]:
    """The runs, checked, each with `metrics` replaced by the metrics JSON it names (checked for what the table
    shows). Bad input is an InputError naming the run or the file and the problem."""
    if not isinstance(runs, list):
        raise InputError(f"{where}: must be a JSON list of runs, not {json_kind(runs)}")
    if not runs:
        raise InputError(f"{where}: no runs given")
    loaded = []
    for index, run in enumerate(runs):
        run_where = f"{where}[{index}]"
        if not isinstance(run, dict):
            raise InputError(f"{run_where}: a run must be a JSON object, not {json_kind(run)}")
        if isinstance(run.get("experiment"), str):
            run_where += f" ({run['experiment']!r})"
        check_value(run, RUN_SCHEMA, run_where)
        for key in ("experiment", "group", "trained_on", "evaluated_on", "split"):
            _require_utf8(run[key], f"{run_where}: {key}")
        for key, value in run.get("settings", {}).items():
            _require_utf8(key, f"{run_where}: settings")
            if key in _fixed_columns() or not isinstance(value, SETTING_KINDS):
                what = (
                    "is a column of its own"
                    if key in _fixed_columns()
                    else f"must be one value, not {json_kind(value)}"
                )
                raise InputError(f"{run_where}: settings {key!r} {what}")
        loaded.append({**run, "metrics": _read_metrics(Path(run["metrics"]))})
    _refuse_repeated_seeds(loaded, where)
    if len({"questions" in run for run in runs}) > 1:
        raise InputError(f"{where}: give every run its questions, or none (a comparison needs both sides' questions)")
    return loaded


def _read_metrics(path: Path) -> dict:
    metrics = read_json_file(path, "metrics")
    if not isinstance(metrics, dict):
        raise InputError(f"{path}: metrics must be a JSON object, not {json_kind(metrics)}")
    missing = [key for key in REQUIRED_NUMBERS if key not in metrics]
    if missing:
        raise InputError(f"{path}: metrics: missing {', '.join(missing)}")
    for key in [*REQUIRED_NUMBERS, *SCORE_KEYS]:
        _require_number(metrics, key, f"{path}: metrics")
    per_source = metrics.get("per_source", {})
    if not isinstance(per_source, dict):
        raise InputError(f"{path}: per_source must be a JSON object, not {json_kind(per_source)}")
    for source, scores in per_source.items():
        _require_utf8(source, f"{path}: per_source name")
        if not isinstance(scores, dict):
            raise InputError(f"{path}: per_source {source!r} must be a JSON object, not {json_kind(scores)}")
        _require_number(scores, "f1", f"{path}: per_source {source!r}")
    return metrics


def _require_number(scores: dict, key: str, where: str) -> None:
    """A key that may be absent, but when present holds a number (JSON's true is not one)."""
    value = scores.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where}: {key} must be a number, not {json_kind(value)}")


def _require_utf8(text: str, where: str) -> None:
    # JSON may hold a lone surrogate ("\ud800"), which no table or file can store.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise InputError(f"{where}: {text!r} is not valid text ({err.reason})") from err


def _refuse_repeated_seeds(runs: list[dict], where: str) -> None:
    """The same seed twice in one cell would count one run twice in its mean."""
    seen = {}
    for run in runs:
        if run["seed"] is None:
            continue
        key = (_cell_key(run), run["seed"])
        if key in seen:
            raise InputError(
                f"{where}: {seen[key]!r} and {run['experiment']!r} are both seed {run['seed']} of group "
                f"{run['group']!r}, trained on {run['trained_on']!r} and evaluated on {run['evaluated_on']!r}"
            )
        seen[key] = run["experiment"]


def _fixed_columns() -> set[str]:
    """Columns every table has: a setting may not take one's name."""
    return {*NAME_COLUMNS, "total", *SCORE_KEYS, *(key + STD_SUFFIX for key in SCORE_KEYS), *PAIRED_COLUMNS}


def _cell_key(run: dict) -> tuple[str, str, str, str]:
    """Runs that differ only in their seed share this key."""
    return run["group"], run["trained_on"], run["evaluated_on"], run["split"]


# --------------------------------------------------------------------------- the table


def summary_table(
    runs: list[dict], reference: str | None = None, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED
) -> pd.DataFrame:
    """A row per run (as load_runs returns them) and an aggregate row per sweep cell with two or more seeds, grouped:
    by what the models were trained and scored on (in the order first given), then by cell, each aggregate row
    first and its seeds right under it. Columns: experiment, group, seed, one column per setting (the runs'
    `settings`), trained_on, evaluated_on, split, total, the scores, f1[<source>] for every source any run breaks
    down, then a `<score>_std` column for each score, filled only on aggregate rows; where the runs name their
    questions, the paired comparison with the `reference` group (t5qa.report.paired.PAIRED_COLUMNS; default: the first
    run's group), its bootstrap drawing `resamples` resamples seeded with `seed`. ValueError: no such reference."""
    compared = "questions" in runs[0]
    per_run, per_cell = compare_runs(runs, reference, resamples, seed) if compared else ([{}] * len(runs), {})
    sources = list(dict.fromkeys(source for run in runs for source in run["metrics"].get("per_source", {})))
    score_columns = [*SCORE_KEYS, *(_source_column(source) for source in sources)]
    settings = list(dict.fromkeys(key for run in runs for key in run.get("settings", {})))

    # A run without a seed is a cell of its own (its group is its name); cells in the order first given.
    cells: dict[tuple, list[dict]] = {}
    for run, paired in zip(runs, per_run):
        key = _cell_key(run) if run["seed"] is not None else (*_cell_key(run), run["experiment"])
        cells.setdefault(key, []).append(_run_row(run) | paired)
    by_scoring: dict[tuple, list[tuple[tuple, list[dict]]]] = {}
    for key, rows in cells.items():
        by_scoring.setdefault(key[1:4], []).append((key, rows))
    ordered = []
    for key, cell_rows in ((key, rows) for scoring in by_scoring.values() for key, rows in scoring):
        if len(cell_rows) >= 2:
            ordered.append(_aggregate_row(cell_rows, score_columns) | per_cell.get(key, {}))
        ordered += cell_rows

    float_columns = [*score_columns, *(column + STD_SUFFIX for column in score_columns)]
    names = [*NAME_COLUMNS[:3], *settings, *NAME_COLUMNS[3:]]
    paired = PAIRED_COLUMNS if compared else []
    table = pd.DataFrame(ordered, columns=[*names, "total", *float_columns, *paired])
    # Nullable integers: an aggregate row has no seed, and a count stays a count in the CSV (400, not 400.0).
    counts = dict.fromkeys(["seed", "total", *(COUNT_COLUMNS if compared else [])], "Int64")
    return table.astype(counts | dict.fromkeys(float_columns, float))


def setting_columns(table: pd.DataFrame) -> list[str]:
    """The settings' columns: between seed and trained_on, in a table as summary_table makes it (or its CSV)."""
    columns = list(table.columns)
    return columns[columns.index("seed") + 1 : columns.index("trained_on")]


def _source_column(source: str) -> str:
    return f"f1[{source}]"


def _run_row(run: dict) -> dict:
    metrics = run["metrics"]
    row = {column: run[column] for column in NAME_COLUMNS} | run.get("settings", {})
    row["total"] = metrics["total"]
    row |= {key: metrics[key] for key in SCORE_KEYS if key in metrics}
    for source, scores in metrics.get("per_source", {}).items():
        if "f1" in scores:
            row[_source_column(source)] = scores["f1"]
    return row


def _aggregate_row(rows: list[dict], score_columns: list[str]) -> dict:
    first = rows[0]
    scores = pd.DataFrame(rows, columns=score_columns, dtype=float)
    totals = {row["total"] for row in rows}
    settings = {key: value for key, value in first.items() if key not in _fixed_columns() and key not in score_columns}
    return {
        "experiment": f"{first['group']} (mean ± std over {len(rows)} seeds)",
        "group": first["group"],
        **settings,
        "trained_on": first["trained_on"],
        "evaluated_on": first["evaluated_on"],
        "split": first["split"],
        # Seeds of one cell score the same questions; were the counts to differ, no one count is right.
        "total": totals.pop() if len(totals) == 1 else None,
        **scores.mean().to_dict(),
        **{column + STD_SUFFIX: std for column, std in scores.std(ddof=1).to_dict().items()},
    }


# --------------------------------------------------------------------------- the outputs


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub Markdown table of the names, settings and scores (no group, no std columns: an aggregate row shows
    each score as "mean ± std"). Scores with 2 decimals, counts as integers, an empty cell as "–". Where the table
    compares runs with a reference, ΔEM and ΔF1 with their intervals (paired.diff_text) and a note on them."""
    columns = [
        column
        for column in table.columns
        if column != "group" and not column.endswith(STD_SUFFIX) and column not in PAIRED_COLUMNS
    ]
    compared = has_comparisons(table)
    if compared:
        columns += list(DIFF_HEADS)
    text_columns = {"experiment", "trained_on", "evaluated_on", "split"}
    settings = set(setting_columns(table))
    lines = [
        _markdown_line([_escape(column) for column in columns]),
        _markdown_line(["---" if column in text_columns | settings else "---:" for column in columns]),
    ]
    for _, row in table.iterrows():
        aggregate = is_aggregate(row)
        cells = []
        for column in columns:
            value = row.get(column)  # none for the Δ columns, drawn from several
            if column in DIFF_HEADS:
                cells.append(_escape(diff_text(row, DIFF_HEADS[column])))
            elif column in text_columns:
                cells.append(_escape(value))
            elif column in settings:
                cells.append(_escape(setting_text(value)))
            elif column in ("seed", "total"):
                cells.append(MISSING if pd.isna(value) else str(int(value)))
            elif aggregate and pd.notna(value):
                cells.append(f"{score_text(value)} ± {score_text(row[column + STD_SUFFIX])}")
            else:
                cells.append(score_text(value))
        lines.append(_markdown_line(cells))
    if compared:
        lines += ["", comparison_note(table)]
    return "\n".join(lines) + "\n"


def is_aggregate(row) -> bool:
    return pd.notna(row["f1" + STD_SUFFIX])  # every run has an f1, so every aggregate a spread of it


def setting_text(value) -> str:
    """A setting's value as a config states it: 0.001, 1e-05, true, t5-small; none as "–"."""
    if isinstance(value, bool):
        return json.dumps(value)
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return MISSING
    if isinstance(value, float):
        return f"{value:g}" if value != int(value) or abs(value) >= 1e16 else str(int(value))
    return str(value)


def _markdown_line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _escape(text: str) -> str:
    """A `|` inside a cell would end it."""
    return text.replace("|", "\\|")


def score_text(value: float) -> str:
    return MISSING if pd.isna(value) else f"{value:.2f}"


def write_summary(table: pd.DataFrame, csv_paths: str | Path | list, md_paths: str | Path | list) -> None:
    """Every file appears or none does: each is renamed into place only once all are written. A path or a list of
    paths for each (the config's own table and the latest one, results/summary.csv)."""
    csv_paths = csv_paths if isinstance(csv_paths, list) else [csv_paths]
    md_paths = md_paths if isinstance(md_paths, list) else [md_paths]
    with contextlib.ExitStack() as stack:
        for path in csv_paths:
            table.to_csv(stack.enter_context(atomic_path(path)), index=False)
        for path in md_paths:
            stack.enter_context(atomic_path(path)).write_text(to_markdown(table), encoding="utf-8")


# --------------------------------------------------------------------------- the page


def read_summary_csv(path: str | Path) -> pd.DataFrame:
    """A table written by write_summary, as summary_table made it."""
    path = Path(path)
    try:
        counts = dict.fromkeys(["seed", "total", *COUNT_COLUMNS], "Int64")
        table = pd.read_csv(path, dtype=counts | {"reference": str, "compared_with": str}, keep_default_na=True)
    except FileNotFoundError:
        raise InputError(f"{path}: not found") from None
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a summary table ({str(err).splitlines()[0]})") from None
    missing = [column for column in [*NAME_COLUMNS, "total", "exact", "f1", "f1" + STD_SUFFIX] if column not in table]
    if missing or list(table.columns).index("seed") > list(table.columns).index("trained_on"):
        raise InputError(f"{path}: not a summary table (missing {', '.join(missing) or 'the column order'})")
    return table
