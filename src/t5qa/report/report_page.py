"""One self-contained HTML page per dataset, for Snakemake's `--report`: the scores first, then what the normalise
and tokenize steps did to the data (rows dropped and why, lengths, truncation).

Inline CSS only, no JavaScript, no network resources: the report embeds the page as it is. Every text taken from
the inputs (source names, drop reasons, settings) is escaped. The page fits the report's frame beside its menu
(tests/test_report_browser.py measures it in a headless browser): short two-level heads, the normalisation counts
with the reasons as rows (there are many reasons, few sources), and a table wider than the frame scrolls inside
its own box rather than being cut off.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

from t5qa.atomic import atomic_path
from t5qa.cli import read_json_file, require_object
from t5qa.data.sources import SPLITS
from t5qa.data.tokenize_stats import TRUNCATION_KEYS, load_tokenize_stats
from t5qa.errors import InputError

# The official SQuAD v2.0 keys (HasAns_*/NoAns_* only where such questions exist) and ROUGE-L.
SCORE_KEYS = (
    "exact",
    "f1",
    "total",
    "HasAns_exact",
    "HasAns_f1",
    "HasAns_total",
    "NoAns_exact",
    "NoAns_f1",
    "NoAns_total",
    "rougeL_f1",
)
LENGTH_KEYS = ("mean", "p50", "p90", "p95", "p99", "max")
NORMALIZE_KEYS = ("rows_read", "rows_written", "dropped", "kept")
MISSING = "–"

# Score heads: (group, short head) for each key; the key itself is the head's tooltip.
SCORE_HEADS = {
    "exact": ("all", "EM"),
    "f1": ("all", "F1"),
    "total": ("all", "n"),
    "HasAns_exact": ("HasAns", "EM"),
    "HasAns_f1": ("HasAns", "F1"),
    "HasAns_total": ("HasAns", "n"),
    "NoAns_exact": ("NoAns", "EM"),
    "NoAns_f1": ("NoAns", "F1"),
    "NoAns_total": ("NoAns", "n"),
    "rougeL_f1": ("", "ROUGE-L"),
}

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; color: #222; margin: 1em; }
h1 { font-size: 1.4em; margin-bottom: .2em; }
h2 { font-size: 1.15em; margin-top: 1.8em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1em; margin-bottom: .3em; }
.headline { font-size: 1.25em; }
.scroll { overflow-x: auto; max-width: 100%; margin: .3em 0 1.2em; }
table { border-collapse: collapse; }
th, td { padding: .2em .55em; border-bottom: 1px solid #e6e6e6; }
th { text-align: left; font-weight: 600; }
thead th { vertical-align: bottom; border-bottom: 2px solid #999; }
thead th.group { text-align: center; border-bottom: 1px solid #999; }
td { text-align: right; font-variant-numeric: tabular-nums; }
table.settings td { text-align: left; }
small { color: #666; font-weight: normal; }
code { white-space: pre-wrap; word-break: break-word; }
"""


# --------------------------------------------------------------------------- the page


def render_report_page(
    dataset: str, metrics: dict, normalize_stats: dict[str, dict[str, dict]], tokenize_stats: dict
) -> str:
    """The whole HTML document. `normalize_stats` is {source: {split: the normalize step's stats}}."""
    title = f"t5qa report: {dataset}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
{_scores_section(metrics)}
{_normalisation_section(normalize_stats)}
{_tokenization_section(tokenize_stats)}
</body>
</html>
"""


def _scores_section(metrics: dict) -> str:
    model = metrics.get("model")
    headline = (
        f"EM <b>{_number(metrics['exact'])}</b> · F1 <b>{_number(metrics['f1'])}</b>"
        f" on {_number(metrics['total'], integer=True)} validation questions"
        + (f" · model <code>{html.escape(str(model))}</code>" if model else "")
    )
    rows = {"all": metrics, **metrics.get("per_source", {})}
    # HasAns_*/NoAns_* are absent where a set has no such questions: show only the columns some row has.
    keys = [key for key in SCORE_KEYS if any(key in row for row in rows.values())]
    scores = _table(
        [f'<abbr title="{html.escape(key)}">{SCORE_HEADS[key][1]}</abbr>' for key in keys],
        [(html.escape(name), [_score(row, key) for key in keys]) for name, row in rows.items()],
        groups=[SCORE_HEADS[key][0] for key in keys],
    )
    baselines = [("this model", [_score(metrics, "exact"), _score(metrics, "f1"), ""])]
    for name, baseline in metrics["baselines"].items():
        answer = f"<code>{html.escape(str(baseline['answer']))}</code>" if "answer" in baseline else MISSING
        baselines.append((html.escape(name), [_score(baseline, "exact"), _score(baseline, "f1"), answer]))
    return f"""<h2>Scores</h2>
<p class="headline">{headline}</p>
{scores}
<h3>Baselines <small>trivial predictors to read the scores against</small></h3>
{_table(["exact", "f1", "answer"], baselines)}"""


def _normalisation_section(normalize_stats: dict[str, dict[str, dict]]) -> str:
    stats = [
        (source, split, split_stats)
        for source, splits in normalize_stats.items()
        for split, split_stats in splits.items()
    ]
    dropped = sorted({reason for _, _, s in stats for reason in s["dropped"]})
    kept = sorted({reason for _, _, s in stats for reason in s["kept"]})
    head = [f"{_breakable(source)} /<br>{html.escape(split)}" for source, split, _ in stats]
    rows = [
        ("rows_read", [_count(s["rows_read"]) for _, _, s in stats]),
        ("rows_written", [_count(s["rows_written"]) for _, _, s in stats]),
        *(
            (
                f"{html.escape(reason)} <small>dropped</small>",
                [_count(_dropped_count(s["dropped"].get(reason, 0))) for _, _, s in stats],
            )
            for reason in dropped
        ),
        *(
            (f"{html.escape(reason)} <small>kept</small>", [_count(s["kept"].get(reason, 0)) for _, _, s in stats])
            for reason in kept
        ),
    ]
    return f"""<h2>Normalisation</h2>
<p><small>Rows dropped, by reason; and rows kept but worth knowing about (e.g. unanswerable).</small></p>
{_table(head, rows, label="rows")}"""


def _tokenization_section(tokenize_stats: dict) -> str:
    splits = {split: tokenize_stats[split] for split in SPLITS}
    counts = _table(
        [_breakable(key) for key in ("rows", *TRUNCATION_KEYS)],
        [(split, [_count(s[key]) for key in ("rows", *TRUNCATION_KEYS)]) for split, s in splits.items()],
        label="split",
    )
    sources = list(dict.fromkeys(source for s in splits.values() for source in s["rows_per_source"]))
    per_source = _table(
        list(splits),
        [
            (html.escape(source), [_count(s["rows_per_source"].get(source, 0)) for s in splits.values()])
            for source in sources
        ],
        label="source",
    )
    lengths = _table(
        list(LENGTH_KEYS),
        [
            (
                f"{split} {side}",
                [_number(s[f"{side}_length"].get(key, MISSING), integer=key == "max") for key in LENGTH_KEYS],
            )
            for split, s in splits.items()
            for side in ("source", "target")
        ],
    )
    settings = "\n".join(
        f"<tr><th>{html.escape(key)}</th><td><code>{html.escape(str(value))}</code></td></tr>"
        for key, value in tokenize_stats["settings"].items()
    )
    return f"""<h2>Tokenization</h2>
{counts}
<h3>Rows per source</h3>
{per_source}
<h3>Lengths <small>in tokens, before truncation</small></h3>
{lengths}
<h3>Settings</h3>
<div class="scroll"><table class="settings">
{settings}
</table></div>"""


def _table(head: list[str], rows: list[tuple[str, list[str]]], label: str = "", groups: list[str] | None = None) -> str:
    """`rows` are (label, cells); labels, heads and cells are HTML already (escaped where they were made). `groups`
    (one per head) adds a row above the heads naming each run of equal groups once. The table scrolls in its own box
    where the frame is narrower than it."""
    head_html = "".join(f"<th>{cell}</th>" for cell in [html.escape(label), *head])
    if groups:
        runs = [[groups[0], 0]]
        for group in groups:
            if group == runs[-1][0]:
                runs[-1][1] += 1
            else:
                runs.append([group, 1])
        group_html = "<th></th>" + "".join(
            f'<th class="group" colspan="{span}">{html.escape(group)}</th>' for group, span in runs
        )
        head_html = f"{group_html}</tr>\n<tr>{head_html}"
    body = "\n".join(
        f'<tr><th scope="row">{name}</th>' + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"
        for name, cells in rows
    )
    return (
        f'<div class="scroll"><table>\n<thead><tr>{head_html}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table></div>'
    )


def _breakable(text: str) -> str:
    """A long key as a head that may wrap after each underscore (inputs_truncated), escaped."""
    return html.escape(text).replace("_", "_<wbr>")


def _score(row: dict, key: str) -> str:
    return _number(row.get(key, MISSING), integer=key.endswith("total"))


def _count(value) -> str:
    return _number(value, integer=True)


def _number(value, integer: bool = False) -> str:
    """Scores with 2 decimals, counts as integers; anything else (a hand-edited file) shown as it is, escaped."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return html.escape(str(value))
    if isinstance(value, int) or (integer and math.isfinite(value)):
        return str(round(value))
    return f"{value:.2f}"


def _dropped_count(dropped) -> object:
    """The normalize step writes {"count": n, "first_ids": [...]} for each reason; a plain count reads too."""
    return dropped["count"] if isinstance(dropped, dict) else dropped


# --------------------------------------------------------------------------- the inputs


def parse_normalize_stats_arguments(arguments: list[str]) -> dict[str, dict[str, Path]]:
    """`SOURCE:SPLIT=PATH` items -> {source: {split: path}}. A source name may hold ':' (the last one splits)."""
    paths: dict[str, dict[str, Path]] = {}
    for argument in arguments:
        name, _, path = argument.partition("=")
        source, _, split = name.rpartition(":")
        if not (source and split and path):
            raise InputError(f"--normalize-stats: {argument!r} is not SOURCE:SPLIT=PATH")
        if split not in SPLITS:
            raise InputError(f"--normalize-stats: {argument!r}: the split must be {' or '.join(SPLITS)}")
        if split in paths.get(source, {}):
            raise InputError(f"--normalize-stats: {source}:{split} is given twice")
        paths.setdefault(source, {})[split] = Path(path)
    return paths


def load_report_inputs(
    metrics_path: Path, normalize_stats_paths: dict[str, dict[str, Path]], tokenize_stats_path: Path
) -> tuple[dict, dict[str, dict[str, dict]], dict]:
    """The three inputs of render_report_page, read and checked for what the page shows."""
    sources = list(normalize_stats_paths)
    metrics = _read_metrics(metrics_path, sources)
    normalize_stats = {
        source: {split: _read_normalize_stats(path) for split, path in splits.items()}
        for source, splits in normalize_stats_paths.items()
    }
    return metrics, normalize_stats, load_tokenize_stats(tokenize_stats_path)


def write_report_page(path: str | Path, page: str) -> None:
    with atomic_path(path) as tmp:
        # A lone surrogate (JSON allows "\ud800") cannot be UTF-8: written as a character reference instead.
        tmp.write_text(page, encoding="utf-8", errors="xmlcharrefreplace")


def _read_metrics(path: Path, sources: list[str]) -> dict:
    metrics = require_object(read_json_file(path, "metrics"), path, "metrics", ["exact", "f1", "total"], ["baselines"])
    # The metrics step breaks the scores down only for a dataset of several sources.
    if len(sources) > 1 and "per_source" not in metrics:
        raise InputError(f"{path}: metrics: missing per_source, though the dataset has {len(sources)} sources")
    for name, row in metrics.get("per_source", {}).items():
        require_object(row, path, f"per_source {name!r}")
    for name, baseline in metrics["baselines"].items():
        require_object(baseline, path, f"baseline {name!r}")
    return metrics


def _read_normalize_stats(path: Path) -> dict:
    stats = require_object(
        read_json_file(path, "normalize stats"), path, "normalize stats", NORMALIZE_KEYS, ["dropped", "kept"]
    )
    for reason, dropped in stats["dropped"].items():
        if isinstance(dropped, dict) and "count" not in dropped:
            raise InputError(f"{path}: dropped {reason!r} has no count")
    return stats
