"""A picture of a training run: training and validation loss, and validation F1 and EM, against the optimizer step.

Reads the model folder's `log_history.json` (written by training) or a checkpoint's `trainer_state.json`, so a run
can be looked at while it trains.
"""

from __future__ import annotations

import math
from pathlib import Path

# Figure, not pyplot: no global state and no display; savefig renders a PNG with the Agg backend.
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from t5qa.atomic import atomic_path
from t5qa.cli import json_kind, read_json_file
from t5qa.errors import InputError

# The eval_* key that holds each metric a run can pick its best step by.
EVAL_KEYS = {"f1": "eval_f1", "exact": "eval_exact", "loss": "eval_loss"}


def load_training_log(path: Path) -> dict:
    """A training log: {"best": {"metric", "value", "step"} or None, "log_history": [...], ...}.

    A checkpoint's `trainer_state.json` (best_metric and best_global_step instead of "best") is turned into the
    same shape.
    """
    path = Path(path)
    log = read_json_file(path, "training log")
    if not isinstance(log, dict) or not isinstance(log.get("log_history"), list):
        raise InputError(f'{path}: not a training log (no "log_history" list)')
    for index, entry in enumerate(log["log_history"]):
        if not isinstance(entry, dict):
            raise InputError(f"{path}: log_history entry {index} must be an object, not {json_kind(entry)}")
    if "best" not in log:
        log = from_trainer_state(log)
    best = log["best"]
    if best is not None and not (isinstance(best, dict) and is_number(best.get("step"))):
        raise InputError(f'{path}: "best" must be null or an object with a numeric "step"')
    return log


def from_trainer_state(state: dict) -> dict:
    """trainer_state.json does not say which metric chose the best step: the eval entry at that step whose value
    equals best_metric does."""
    step, value = state.get("best_global_step"), state.get("best_metric")
    if step is None:
        return {"best": None, "final_step": state.get("global_step"), "log_history": state["log_history"]}
    at_best = [entry for entry in state["log_history"] if entry.get("step") == step and "eval_loss" in entry]
    metric = next((name for name, key in EVAL_KEYS.items() for entry in at_best if entry.get(key) == value), "?")
    return {
        "best": {"metric": metric, "value": value, "step": step},
        "final_step": state.get("global_step"),
        "log_history": state["log_history"],
    }


def is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def series(log_history: list[dict], key: str, only_with: str) -> tuple[list[float], list[float]]:
    """(steps, values) of `key` in the entries that have `only_with`; a missing value, or one that is not a finite
    number (a diverged loss is inf), is NaN, which matplotlib leaves as a gap."""
    steps, values = [], []
    for entry in log_history:
        if only_with in entry and is_number(entry.get("step")):
            value = entry.get(key)
            steps.append(entry["step"])
            values.append(float(value) if is_number(value) and math.isfinite(value) else math.nan)
    return steps, values


def draw(axis, points: tuple[list[float], list[float]], label: str, marker: str | None = None, **style) -> bool:
    """Plot a series that has any value at all; say whether it did."""
    steps, values = points
    if not any(math.isfinite(value) for value in values):
        return False
    # A line through one point is invisible; a marker shows it.
    axis.plot(steps, values, label=label, marker=marker or ("o" if len(steps) == 1 else None), **style)
    return True


def describe_best(best: dict) -> str:
    value = f" {best['value']:.4g}" if is_number(best.get("value")) else ""
    return f"best ({best.get('metric', '?')}{value} @ step {best['step']})"


def plot_training(training_log: dict, output: Path, title: str) -> None:
    """Two panels over the optimizer step: losses on top, validation F1 and EM (0-100) below; a dashed line marks
    the best step. Written as a PNG, atomically."""
    history = training_log["log_history"]
    figure = Figure(figsize=(8, 6.5), layout="constrained")
    losses, scores = figure.subplots(2, 1, sharex=True)
    figure.suptitle(title)

    draw(losses, series(history, "loss", only_with="loss"), "training loss", color="tab:blue", linewidth=1)
    draw(losses, series(history, "eval_loss", only_with="eval_loss"), "validation loss", color="tab:orange", marker="o")
    losses.set_ylabel("loss")

    # EM is often F1 to the decimal: a wide F1 line below, a thin dashed EM line with hollow markers on top of it,
    # so that both show where they coincide.
    f1 = series(history, "eval_f1", only_with="eval_loss")
    drew_f1 = draw(scores, f1, "F1", color="tab:green", marker="o", linewidth=3, markersize=8, alpha=0.6, zorder=2)
    em = series(history, "eval_exact", only_with="eval_loss")
    em_style = {"linestyle": "--", "linewidth": 1.2, "markersize": 5, "markerfacecolor": "none", "zorder": 3}
    drew_em = draw(scores, em, "EM", color="tab:purple", marker="s", **em_style)
    scores.set_ylim(0, 100)
    scores.set_ylabel("validation score")
    scores.set_xlabel("optimizer step")
    scores.xaxis.set_major_locator(MaxNLocator(integer=True))  # no step 9.5 around a single point
    if not (drew_f1 or drew_em):
        evaluated = any("eval_loss" in entry for entry in history)
        note = "validation gave no F1 or EM" if evaluated else "no validation during training"
        scores.text(0.5, 0.5, note, transform=scores.transAxes, ha="center", va="center")

    best = training_log.get("best")
    if best:
        losses.axvline(best["step"], color="grey", linestyle="--", label=describe_best(best))
        scores.axvline(best["step"], color="grey", linestyle="--")
    for axis in (losses, scores):
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(loc="best")

    with atomic_path(output) as tmp:
        figure.savefig(tmp, format="png", dpi=120)
