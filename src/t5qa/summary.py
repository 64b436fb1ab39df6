"""One comparison table over many experiments' metrics: a row per run, side by side, and for the runs of one sweep
cell that differ only in their seed, a row of their mean and sample standard deviation.

A run is {"experiment", "group", "seed", "trained_on", "evaluated_on", "split", "metrics"[, "settings"]}: `group` is
the experiment's name without its seed suffix (an experiment without seeds is its own group, seed null), `metrics`
the path of the metrics step's JSON, `split` validation or test, `settings` the settings that set it apart from the
other runs ({"train.learning_rate": 0.001}: t5qa.experiments.varied_settings), one column each. Runs of one group
trained on and evaluated on the same datasets and split, with two or more seeds, are aggregated.

The table keeps every number as computed (the CSV); the Markdown and HTML renderings round to 2 decimals for
reading. The HTML page (for Snakemake's report) sorts by any column on a click, a mean row carrying its seeds.
"""

from __future__ import annotations

import contextlib
import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

from t5qa.atomic import atomic_path
from t5qa.cli import json_kind, read_json_file, require
from t5qa.errors import InputError

RUN_KINDS = {
    "experiment": str,
    "group": str,
    "seed": (int, None),
    "trained_on": str,
    "evaluated_on": str,
    "split": str,
    "metrics": str,
}
NAME_COLUMNS = ["experiment", "group", "seed", "trained_on", "evaluated_on", "split"]
SETTING_KINDS = (str, int, float, bool, type(None))
# The official SQuAD v2.0 scores (HasAns_*/NoAns_* only where such questions exist) and ROUGE-L. `total` is a count,
# not a score: an aggregate row shows it but does not average it.
SCORE_KEYS = ["exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1", "rougeL_f1"]
REQUIRED_NUMBERS = ["exact", "f1", "total"]
STD_SUFFIX = "_std"
MISSING = "–"


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
        require(run, RUN_KINDS, {"settings": dict}, where=run_where)
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
    return {*NAME_COLUMNS, "total", *SCORE_KEYS, *(key + STD_SUFFIX for key in SCORE_KEYS)}


def _cell_key(run: dict) -> tuple[str, str, str, str]:
    """Runs that differ only in their seed share this key."""
    return run["group"], run["trained_on"], run["evaluated_on"], run["split"]


# --------------------------------------------------------------------------- the table


def summary_table(runs: list[dict]) -> pd.DataFrame:
    """A row per run (as load_runs returns them) and an aggregate row per sweep cell with two or more seeds, grouped:
    by what the models were trained and scored on (in the order first given), then by cell, each aggregate row
    first and its seeds right under it. Columns: experiment, group, seed, one column per setting (the runs'
    `settings`), trained_on, evaluated_on, split, total, the scores, f1[<source>] for every source any run breaks
    down, then a `<score>_std` column for each score, filled only on aggregate rows."""
    sources = list(dict.fromkeys(source for run in runs for source in run["metrics"].get("per_source", {})))
    score_columns = [*SCORE_KEYS, *(_source_column(source) for source in sources)]
    settings = list(dict.fromkeys(key for run in runs for key in run.get("settings", {})))

    # A run without a seed is a cell of its own (its group is its name); cells in the order first given.
    cells: dict[tuple, list[dict]] = {}
    for run in runs:
        key = _cell_key(run) if run["seed"] is not None else (*_cell_key(run), run["experiment"])
        cells.setdefault(key, []).append(_run_row(run))
    by_scoring: dict[tuple, list[list[dict]]] = {}
    for key, rows in cells.items():
        by_scoring.setdefault(key[1:4], []).append(rows)
    ordered = []
    for cell_rows in (rows for scoring in by_scoring.values() for rows in scoring):
        if len(cell_rows) >= 2:
            ordered.append(_aggregate_row(cell_rows, score_columns))
        ordered += cell_rows

    float_columns = [*score_columns, *(column + STD_SUFFIX for column in score_columns)]
    names = [*NAME_COLUMNS[:3], *settings, *NAME_COLUMNS[3:]]
    table = pd.DataFrame(ordered, columns=[*names, "total", *float_columns])
    # Nullable integers: an aggregate row has no seed, and a count stays a count in the CSV (400, not 400.0).
    return table.astype({"seed": "Int64", "total": "Int64"} | dict.fromkeys(float_columns, float))


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
    each score as "mean ± std"). Scores with 2 decimals, counts as integers, an empty cell as "–"."""
    columns = [column for column in table.columns if column != "group" and not column.endswith(STD_SUFFIX)]
    text_columns = {"experiment", "trained_on", "evaluated_on", "split"}
    settings = set(setting_columns(table))
    lines = [
        _markdown_line([_escape(column) for column in columns]),
        _markdown_line(["---" if column in text_columns | settings else "---:" for column in columns]),
    ]
    for _, row in table.iterrows():
        is_aggregate = _is_aggregate(row)
        cells = []
        for column in columns:
            value = row[column]
            if column in text_columns:
                cells.append(_escape(value))
            elif column in settings:
                cells.append(_escape(setting_text(value)))
            elif column in ("seed", "total"):
                cells.append(MISSING if pd.isna(value) else str(int(value)))
            elif is_aggregate and pd.notna(value):
                cells.append(f"{_score(value)} ± {_score(row[column + STD_SUFFIX])}")
            else:
                cells.append(_score(value))
        lines.append(_markdown_line(cells))
    return "\n".join(lines) + "\n"


def _is_aggregate(row) -> bool:
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


def _score(value: float) -> str:
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
        table = pd.read_csv(path, dtype={"seed": "Int64", "total": "Int64"}, keep_default_na=True)
    except FileNotFoundError:
        raise InputError(f"{path}: not found") from None
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a summary table ({str(err).splitlines()[0]})") from None
    missing = [column for column in [*NAME_COLUMNS, "total", "exact", "f1", "f1" + STD_SUFFIX] if column not in table]
    if missing or list(table.columns).index("seed") > list(table.columns).index("trained_on"):
        raise InputError(f"{path}: not a summary table (missing {', '.join(missing) or 'the column order'})")
    return table


# Columns shown once above the page's table when every row has the same value; columns left to the CSV (NoAns EM
# is NoAns F1: the empty answer scores 0 or 100 on both).
PAGE_SHARED = ["trained_on", "evaluated_on", "split", "total"]
PAGE_LEFT_OUT = ["HasAns_exact", "NoAns_exact"]

# Heads of the page's score columns: short, so that the table fits beside the report's menu.
PAGE_HEADS = {
    "total": "n",
    "exact": "EM",
    "f1": "F1",
    "HasAns_exact": "HasAns EM",
    "HasAns_f1": "HasAns F1",
    "NoAns_exact": "NoAns EM",
    "NoAns_f1": "NoAns F1",
    "rougeL_f1": "ROUGE-L",
    "trained_on": "trained on",
    "evaluated_on": "evaluated on",
}

PAGE_STYLE = """
body { font: 13px/1.4 system-ui, sans-serif; color: #222; margin: 1em; }
h1 { font-size: 1.3em; margin: 0 0 .2em; }
p { margin: .3em 0 .8em; max-width: 60em; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; }
th, td { padding: .2em .4em; border-bottom: 1px solid #e6e6e6; }
thead th { vertical-align: bottom; border-bottom: 2px solid #999; text-align: left; cursor: pointer;
  user-select: none; }
thead th:hover { background: #f0f0f0; }
thead th[aria-sort=ascending]::after { content: " ▲"; }
thead th[aria-sort=descending]::after { content: " ▼"; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody { border-top: 1px solid #bbb; }
tr.mean td { font-weight: 600; }
tr.seed td { color: #666; }
tr.seed td.name { padding-left: 1.5em; }
small { display: block; color: #777; font-weight: normal; }
"""

# Sorts the groups (one <tbody> each: a mean row and its seeds, or one run) by the first row's cell of a column:
# numbers as numbers, a missing value last; a second click reverses. No network, no library: the report is offline.
PAGE_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("thead th").forEach(function (head, column) {
    head.addEventListener("click", function () {
      var ascending = head.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("thead th").forEach(function (other) { other.removeAttribute("aria-sort"); });
      head.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var key = function (group) {
        var cell = group.rows[0].cells[column];
        var value = cell.getAttribute("data-value");
        var number = parseFloat(value);
        return value === "" ? null : (isNaN(number) ? value : number);
      };
      var groups = Array.prototype.slice.call(table.tBodies);
      groups.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null || y === null) return (x === null) - (y === null);
        var order = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
        return ascending ? order : -order;
      });
      groups.forEach(function (group) { table.appendChild(group); });
    });
  });
});
"""


def render_summary_page(table: pd.DataFrame, title: str, csv_name: str = "") -> str:
    """The comparison as one self-contained HTML page: one row per run, a mean row (mean, and ± sample std below
    it) heading its seeds, the settings that set runs apart as columns; a click on a column head sorts."""
    settings = setting_columns(table)
    # What every row shares is said once above the table, not repeated in a column: the table must fit the
    # report's frame beside its menu (about 650 px on a 1400 px screen). The CSV has every column.
    shared = [column for column in PAGE_SHARED if table[column].nunique(dropna=False) == 1]
    names = ["experiment", *settings, *(column for column in PAGE_SHARED if column not in shared)]
    scores = [
        column for column in table.columns if column not in [*NAME_COLUMNS, *settings, *PAGE_SHARED, *PAGE_LEFT_OUT]
    ]
    scores = [column for column in scores if not column.endswith(STD_SUFFIX) and table[column].notna().any()]
    columns = [*names, *scores]
    head = "".join(f'<th scope="col">{_breakable(_page_head(column))}</th>' for column in columns)
    said = "; ".join(f"{PAGE_HEADS.get(column, column)}: {_value_text(table[column].iloc[0])}" for column in shared)

    # A mean row and its seeds are one <tbody> (contiguous in the table), sorted together.
    groups: list[tuple[tuple, list[str]]] = []
    for _, row in table.iterrows():
        aggregate = _is_aggregate(row)
        seeded = aggregate or pd.notna(row["seed"])
        key = (row["group"] if seeded else row["experiment"], row["trained_on"], row["evaluated_on"], row["split"])
        if not groups or groups[-1][0] != key:
            groups.append((key, []))
        kind = "mean" if aggregate else "seed" if seeded and len(groups[-1][1]) else "run"
        groups[-1][1].append(f'<tr class="{kind}">{_page_cells(row, columns, settings, kind)}</tr>')
    body = "\n".join("<tbody>\n" + "\n".join(rows) + "\n</tbody>" for _, rows in groups)
    seeds = int(table["seed"].notna().sum())
    means = int(table["f1" + STD_SUFFIX].notna().sum())
    source = f" The same table: <code>{html.escape(csv_name)}</code>." if csv_name else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>{PAGE_STYLE}</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p>{len(table) - means} runs ({seeds} of them seeds, under {means} mean rows: mean, and ± the sample standard
deviation below it); {html.escape(said)}. Scores 0–100 (official SQuAD v2.0 EM/F1), n questions. Click a column
head to sort; a mean row keeps its seeds.{source}</p>
<div class="scroll">
<table class="sortable">
<thead><tr>{head}</tr></thead>
{body}
</table>
</div>
<script>{PAGE_SCRIPT}</script>
</body>
</html>
"""


def _page_head(column: str) -> str:
    """f1[<source>] as "F1 <source>"; the scores' short names (PAGE_HEADS); a setting's dotted key as it is."""
    if column.startswith("f1[") and column.endswith("]"):
        return f"F1 {column[3:-1]}"
    return PAGE_HEADS.get(column, column)


def _breakable(text: str, dots: bool = True) -> str:
    """Text that may wrap after each underscore (and dot: train.learning_rate), escaped."""
    text = html.escape(text).replace("_", "_<wbr>")
    return text.replace(".", ".<wbr>") if dots else text


def _value_text(value) -> str:
    return MISSING if pd.isna(value) else str(int(value)) if isinstance(value, int | np.integer) else str(value)


def _page_cells(row, columns: list[str], settings: list[str], kind: str) -> str:
    cells = []
    for column in columns:
        value = row[column]
        if column == "experiment":
            text = f"seed {int(row['seed'])}" if kind == "seed" else str(value).split(" (mean")[0]
            note = f"<small>mean of {str(value).split('over ')[-1].rstrip(')')}</small>" if kind == "mean" else ""
            cells.append(
                f'<td class="name" data-value="{html.escape(str(value))}">{_breakable(text, dots=False)}{note}</td>'
            )
        elif column in settings:
            text = setting_text(value)
            number = "" if isinstance(value, bool) or pd.isna(value) else value
            data = number if isinstance(number, int | float) else text
            cells.append(f'<td data-value="{html.escape(str(data))}">{html.escape(text)}</td>')
        elif column in ("trained_on", "evaluated_on", "split"):
            cells.append(f'<td data-value="{html.escape(str(value))}">{html.escape(str(value))}</td>')
        elif column == "total":
            text = MISSING if pd.isna(value) else str(int(value))
            cells.append(f'<td class="n" data-value="{"" if pd.isna(value) else int(value)}">{text}</td>')
        else:
            spread = row.get(column + STD_SUFFIX)
            std = f"<small>± {_score(spread)}</small>" if kind == "mean" and pd.notna(spread) else ""
            data = "" if pd.isna(value) else repr(float(value))
            cells.append(f'<td class="n" data-value="{data}">{_score(value)}{std}</td>')
    return "".join(cells)


def write_page(path: str | Path, page: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8", errors="xmlcharrefreplace")
