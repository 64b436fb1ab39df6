"""Paired comparisons for the summary: each run against a reference experiment, question by question.

Two runs scored on the same questions are compared on the questions both files hold (matched by source and id):
the difference in EM and F1 (this run minus the reference, in points 0-100) and a paired bootstrap 95 % percentile
interval of it: the questions are resampled with replacement, the same resample for both runs (so the resample of
the per-question differences), `resamples` times with a generator seeded by `seed`, the interval the 2.5th and 97.5th
percentiles of the resampled mean differences. A row's interval does not depend on the other rows: each comparison
draws its resamples from a fresh generator with the same seed.

Which run is paired with which:
- the reference is a group (an experiment, or a sweep cell: its seeds); the reference for a run is the reference
  group's run scored on the same dataset and split, trained on the same dataset, or, if the reference is trained on
  one dataset only, on that one;
- seed i is paired with the reference's seed i; every run is paired with a reference that has no seeds (one run);
  a run without a seed against a reference with seeds, or a seed the reference lacks, is left without a comparison;
- a mean row (a cell's seeds) gives the mean ± sample std over its paired seeds of their differences, each computed
  on the questions every pair holds, and the interval of that mean (each resample averages the seeds' differences
  on the same resampled questions): the spread over seeds and the uncertainty of the questions, apart.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from t5qa.errors import InputError

SCORES = ("exact", "f1")
DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0
LEVEL = 0.95
# The columns the comparison adds to the summary (the CSV), in order: what each row is compared with, on how many
# questions (and, for a mean row, how many matched seeds), the differences and their intervals, and how.
PAIRED_COLUMNS = [
    "reference",
    "compared_with",
    "paired_questions",
    "paired_seeds",
    *(f"{score}_diff{part}" for score in SCORES for part in ("", "_std", "_ci_low", "_ci_high")),
    "bootstrap_resamples",
    "bootstrap_seed",
]
COUNT_COLUMNS = ["paired_questions", "paired_seeds", "bootstrap_resamples", "bootstrap_seed"]
# Indices drawn at once: a chunk of resamples of about 4M question indices (32 MB), whatever the number of questions.
CHUNK_INDICES = 1 << 22


# --------------------------------------------------------------------------- the statistics


def resample_means(differences: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """The mean of each resample: differences (questions x scores), indices (resamples x questions) -> (resamples x
    scores)."""
    return differences[indices].mean(axis=1)


def percentile_interval(means: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """The percentile interval of the resampled means (resamples x scores): numpy's default, linear interpolation."""
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100 - tail], axis=0)
    return low, high


def bootstrap_interval(differences: np.ndarray, resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The paired bootstrap 95 % interval of the mean of the per-question differences (questions x scores), drawn
    in chunks so that memory stays bounded for any number of questions."""
    count = len(differences)
    rng = np.random.default_rng(seed)
    chunk = max(1, CHUNK_INDICES // count)
    means = [
        resample_means(differences, rng.integers(0, count, size=(min(chunk, resamples - start), count)))
        for start in range(0, resamples, chunk)
    ]
    return percentile_interval(np.concatenate(means))


# --------------------------------------------------------------------------- the inputs


def reference_group(runs: list[dict], reference: str | None) -> str:
    """The group the runs are compared with: the one named (an experiment, or a sweep cell: a member's name stands
    for its cell), by default the first run's. ValueError when no run has that name."""
    if reference is None:
        return runs[0]["group"]
    for run in runs:
        if reference in (run["experiment"], run["group"]):
            return run["group"]
    names = ", ".join(dict.fromkeys(run["group"] for run in runs))
    raise ValueError(f"{reference!r} is none of the summary's experiments ({names})")


def read_question_scores(path: str | Path) -> pd.DataFrame:
    """A metrics step's questions CSV as points 0-100, `exact` and `f1`, indexed by (source, id)."""
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError(f"{path}: questions not found") from None
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a questions table ({str(err).splitlines()[0]})") from None
    missing = [column for column in ("source", "id", *SCORES) if column not in table]
    if missing:
        raise InputError(f"{path}: not a questions table (missing {', '.join(missing)})")
    scores = {}
    for column, scale in (("exact", 100), ("f1", 1)):  # the metrics step writes exact as 0/1, F1 as 0-100
        values = pd.to_numeric(table[column], errors="coerce") * scale
        bad = ~values.between(0, 100)  # NaN included
        if bad.any():
            row = int(np.argmax(bad.to_numpy()))
            raise InputError(
                f"{path}: row {row + 2} (id {table['id'][row]!r}): {column} must be a number"
                f" {'0 or 1' if column == 'exact' else 'from 0 to 100'}, not {table[column][row]!r}"
            )
        scores[column] = values.to_numpy(dtype=float)
    index = pd.MultiIndex.from_arrays([table["source"], table["id"]], names=["source", "id"])
    if index.has_duplicates:
        source, id_ = index[index.duplicated()][0]
        raise InputError(f"{path}: question {id_!r} (source {source!r}) is listed twice")
    return pd.DataFrame(scores, index=index)


# --------------------------------------------------------------------------- the comparisons


def compare_runs(
    runs: list[dict], reference: str | None, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED
) -> tuple[list[dict], dict[tuple, dict]]:
    """The paired columns of each run (in the runs' order) and of each cell with two or more seeds (by (group,
    trained_on, evaluated_on, split)). Each run names its questions CSV under `questions`."""
    group = reference_group(runs, reference)
    scores = {run["questions"]: read_question_scores(run["questions"]) for run in runs}
    shared = {"reference": group, "bootstrap_resamples": resamples, "bootstrap_seed": seed}

    per_run, pairs_by_cell = [], {}
    for run in runs:
        partner = _reference_run(run, runs, group)
        row = dict(shared)
        if partner is not None:
            differences = _differences(scores[run["questions"]], scores[partner["questions"]])
            row |= {"compared_with": partner["experiment"]} | _compared(differences, resamples, seed)
            if run["seed"] is not None:
                pairs_by_cell.setdefault(_cell(run), []).append((run, partner))
        per_run.append(row)

    seeds_per_cell = {}
    for run in runs:
        if run["seed"] is not None:
            seeds_per_cell[_cell(run)] = seeds_per_cell.get(_cell(run), 0) + 1
    per_cell = {}
    for cell, count in seeds_per_cell.items():
        if count < 2:
            continue  # no mean row
        pairs = pairs_by_cell.get(cell, [])
        per_cell[cell] = dict(shared) | (_compared_seeds(pairs, scores, group, resamples, seed) if pairs else {})
    return per_run, per_cell


def _cell(run: dict) -> tuple:
    return run["group"], run["trained_on"], run["evaluated_on"], run["split"]


def _reference_run(run: dict, runs: list[dict], group: str) -> dict | None:
    """The reference's run this one is paired with, or None (see the module's docstring)."""
    if run["group"] == group:
        return None  # the reference itself
    scored_alike = [
        other
        for other in runs
        if other["group"] == group and (other["evaluated_on"], other["split"]) == (run["evaluated_on"], run["split"])
    ]
    trained_alike = [other for other in scored_alike if other["trained_on"] == run["trained_on"]]
    if not trained_alike and len({other["trained_on"] for other in scored_alike}) == 1:
        trained_alike = scored_alike
    if len(trained_alike) == 1 and trained_alike[0]["seed"] is None:
        return trained_alike[0]
    return next((other for other in trained_alike if run["seed"] is not None and other["seed"] == run["seed"]), None)


def _differences(scores: pd.DataFrame, reference: pd.DataFrame, common: pd.Index | None = None) -> np.ndarray:
    """Per question of `common` (default: those both hold): this run's exact and F1 minus the reference's (questions
    x 2)."""
    if common is None:
        common = _common([(scores, reference)])
    return (scores.loc[common, list(SCORES)] - reference.loc[common, list(SCORES)]).to_numpy()


def _common(pairs: list[tuple[pd.DataFrame, pd.DataFrame]]) -> pd.Index:
    """The questions every table holds, sorted by (source, id): a resample draws the same questions whatever order
    the files list them in (the metrics step writes each run's worst first)."""
    common = pairs[0][0].index
    for scores, reference in pairs:
        common = common.intersection(scores.index).intersection(reference.index)
    return common.sort_values()


def _compared(differences: np.ndarray, resamples: int, seed: int) -> dict:
    row = {"paired_questions": len(differences)}
    if len(differences):
        low, high = bootstrap_interval(differences, resamples, seed)
        for index, score in enumerate(SCORES):
            row |= {
                f"{score}_diff": differences[:, index].mean(),
                f"{score}_diff_ci_low": low[index],
                f"{score}_diff_ci_high": high[index],
            }
    return row


def _compared_seeds(pairs: list[tuple[dict, dict]], scores: dict, group: str, resamples: int, seed: int) -> dict:
    """A mean row's columns: its paired seeds' differences on the questions every pair holds."""
    common = _common([(scores[run["questions"]], scores[partner["questions"]]) for run, partner in pairs])
    # seeds x questions x scores
    differences = np.stack(
        [_differences(scores[run["questions"]], scores[partner["questions"]], common) for run, partner in pairs]
    )
    row = {"compared_with": f"{group} (seeds {', '.join(str(run['seed']) for run, _ in pairs)})"}
    row |= {"paired_questions": len(common), "paired_seeds": len(pairs)}
    if len(common):
        per_seed = differences.mean(axis=1)  # seeds x scores
        low, high = bootstrap_interval(differences.mean(axis=0), resamples, seed)
        for index, score in enumerate(SCORES):
            row |= {
                f"{score}_diff": per_seed[:, index].mean(),
                f"{score}_diff_std": per_seed[:, index].std(ddof=1) if len(pairs) > 1 else np.nan,
                f"{score}_diff_ci_low": low[index],
                f"{score}_diff_ci_high": high[index],
            }
    return row


# --------------------------------------------------------------------------- the renderings


def has_comparisons(table: pd.DataFrame) -> bool:
    return "f1_diff" in table and bool(table["f1_diff"].notna().any())


def is_reference(row) -> bool:
    return row["group"] == row["reference"]


def diff_text(row, score: str) -> str:
    """A row's difference as read: "+1.25 [-0.50, +3.00]", a mean row "+1.25 ± 0.40 [-0.50, +3.00]"; the
    reference's own rows "reference"; "–" where there is no comparison."""
    value = row[f"{score}_diff"]
    if pd.isna(value):
        return "reference" if is_reference(row) else "–"
    spread = row[f"{score}_diff_std"]
    std = f" ± {spread:.2f}" if pd.notna(spread) else ""
    return f"{value:+.2f}{std} {interval_text(row, score)}"


def interval_text(row, score: str) -> str:
    return f"[{row[f'{score}_diff_ci_low']:+.2f}, {row[f'{score}_diff_ci_high']:+.2f}]"


def comparison_note(table: pd.DataFrame, code=lambda text: f"`{text}`") -> str:
    """One paragraph saying what the differences are: against what, on which questions, how the interval is drawn
    (`code` marks a name: Markdown's backticks, or HTML)."""
    first = table.iloc[0]
    counts = sorted({int(n) for n in table.loc[table["f1_diff"].notna(), "paired_questions"]})
    questions = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
    return (
        f"ΔEM, ΔF1: each row minus the reference {code(first['reference'])} (the run named in the CSV's "
        f"{code('compared_with')}), in points, on the {questions} questions both were scored on (matched by source "
        f"and id); in brackets the paired bootstrap {LEVEL:.0%} percentile interval "
        f"({int(first['bootstrap_resamples']):,} resamples of the questions, seed {int(first['bootstrap_seed'])}). "
        "Seed i is compared with the reference's seed i; a mean row gives the mean ± sample std over its matched "
        "seeds of their differences and the interval of their mean."
    )
