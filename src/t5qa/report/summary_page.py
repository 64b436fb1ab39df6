"""The comparison as one self-contained HTML page for Snakemake's report (the summary_page step): one row per run,
each mean row heading its seeds, the settings that set runs apart as columns, each run's difference from the
reference with its interval, sortable by any column, no network."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from t5qa.atomic import atomic_path
from t5qa.report.paired import PAIRED_COLUMNS, comparison_note, has_comparisons, interval_text, is_reference
from t5qa.report.summary import (
    MISSING,
    NAME_COLUMNS,
    STD_SUFFIX,
    is_aggregate,
    score_text,
    setting_columns,
    setting_text,
)

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
    "compared_with": "compared with",
    "paired_questions": "n paired",
    "exact_diff": "ΔEM",
    "f1_diff": "ΔF1",
}
# The columns of the table of differences from the reference, after the experiment and what sets its rows apart.
PAGE_PAIRED = ["compared_with", "paired_questions", "exact_diff", "f1_diff"]
DIFF_COLUMNS = {"exact_diff": "exact", "f1_diff": "f1"}

PAGE_STYLE = """
body { font: 13px/1.4 system-ui, sans-serif; color: #222; margin: 1em; }
h1 { font-size: 1.3em; margin: 0 0 .2em; }
h2 { font-size: 1.1em; margin: 1.2em 0 .2em; }
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
    left_out = [*NAME_COLUMNS, *settings, *PAGE_SHARED, *PAGE_LEFT_OUT, *PAIRED_COLUMNS]
    scores = [column for column in table.columns if column not in left_out]
    scores = [column for column in scores if not column.endswith(STD_SUFFIX) and table[column].notna().any()]
    said = "; ".join(f"{PAGE_HEADS.get(column, column)}: {_value_text(table[column].iloc[0])}" for column in shared)
    seeds = int(table["seed"].notna().sum())
    means = int(table["f1" + STD_SUFFIX].notna().sum())
    source = f" The same table: <code>{html.escape(csv_name)}</code>." if csv_name else ""
    # The differences from the reference in a table of their own under the scores: beside them, they would not fit.
    paired = ""
    if has_comparisons(table):
        others = table[[not is_reference(row) for _, row in table.iterrows()]]
        varied = [column for column in names if column in PAGE_SHARED]
        note = comparison_note(table, lambda text: f"<code>{html.escape(text)}</code>")
        paired = f"""
<h2>Against the reference: {html.escape(str(table["reference"].iloc[0]))}</h2>
<p>{note}</p>
{_sortable_table(others, ["experiment", *varied, *PAGE_PAIRED], settings)}"""
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
{_sortable_table(table, [*names, *scores], settings)}{paired}
<script>{PAGE_SCRIPT}</script>
</body>
</html>
"""


def _sortable_table(table: pd.DataFrame, columns: list[str], settings: list[str]) -> str:
    """The rows as a table the page's script sorts: a mean row and its seeds one <tbody> (contiguous in the
    table), sorted together."""
    head = "".join(f'<th scope="col">{_breakable(_page_head(column))}</th>' for column in columns)
    groups: list[tuple[tuple, list[str]]] = []
    for _, row in table.iterrows():
        aggregate = is_aggregate(row)
        seeded = aggregate or pd.notna(row["seed"])
        key = (row["group"] if seeded else row["experiment"], row["trained_on"], row["evaluated_on"], row["split"])
        if not groups or groups[-1][0] != key:
            groups.append((key, []))
        kind = "mean" if aggregate else "seed" if seeded and len(groups[-1][1]) else "run"
        groups[-1][1].append(f'<tr class="{kind}">{_page_cells(row, columns, settings, kind)}</tr>')
    body = "\n".join("<tbody>\n" + "\n".join(rows) + "\n</tbody>" for _, rows in groups)
    return f"""<div class="scroll">
<table class="sortable">
<thead><tr>{head}</tr></thead>
{body}
</table>
</div>"""


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
        elif column == "compared_with":
            text = MISSING if pd.isna(value) else str(value)
            cells.append(f'<td data-value="{html.escape(text)}">{_breakable(text, dots=False)}</td>')
        elif column in ("trained_on", "evaluated_on", "split"):
            cells.append(f'<td data-value="{html.escape(str(value))}">{html.escape(str(value))}</td>')
        elif column in ("total", "paired_questions"):
            text = MISSING if pd.isna(value) else str(int(value))
            cells.append(f'<td class="n" data-value="{"" if pd.isna(value) else int(value)}">{text}</td>')
        elif column in DIFF_COLUMNS:
            cells.append(_diff_cell(row, DIFF_COLUMNS[column]))
        else:
            spread = row.get(column + STD_SUFFIX)
            std = f"<small>± {score_text(spread)}</small>" if kind == "mean" and pd.notna(spread) else ""
            data = "" if pd.isna(value) else repr(float(value))
            cells.append(f'<td class="n" data-value="{data}">{score_text(value)}{std}</td>')
    return "".join(cells)


def _diff_cell(row, score: str) -> str:
    """A difference from the reference, its ± std over seeds (a mean row) and its interval under it."""
    value = row[f"{score}_diff"]
    if pd.isna(value):
        return f'<td class="n" data-value="">{MISSING}</td>'
    spread = row[f"{score}_diff_std"]
    std = f"<small>± {score_text(spread)}</small>" if pd.notna(spread) else ""
    interval = html.escape(interval_text(row, score))
    return f'<td class="n" data-value="{float(value)!r}">{value:+.2f}{std}<small>{interval}</small></td>'


def write_page(path: str | Path, page: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8", errors="xmlcharrefreplace")
