"""Paired comparisons (t5qa.report.paired): differences from a reference, question by question, with a paired
bootstrap interval; against hand-computed cases and a case whose difference is known to be zero."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from t5qa.errors import InputError
from t5qa.evaluate.metrics import load_predictions, question_table
from t5qa.report.paired import bootstrap_interval, percentile_interval, resample_means
from t5qa.report.summary import load_runs, read_summary_csv, summary_table, to_markdown, write_summary
from t5qa.report.summary_page import render_summary_page

from .conftest import run_script
from .test_metrics import _predictions, _tables
from .test_summary import metrics_file, run


def questions_file(folder: Path, name: str, scores: dict[str, tuple[int, float]], source: str = "demo") -> Path:
    """A questions CSV of the metrics step's shape: id -> (exact 0/1, F1 0-100), worst first as the step writes."""
    rows = sorted(scores.items(), key=lambda item: item[1][1])
    table = pd.DataFrame(
        {
            "f1": [f1 for _, (_, f1) in rows],
            "exact": [exact for _, (exact, _) in rows],
            "source": source,
            "id": [id_ for id_, _ in rows],
            "question": "q",
            "gold": "g",
            "prediction": "p",
            "na_prob": "",
        }
    )
    path = folder / f"{name}.questions.csv"
    table.to_csv(path, index=False)
    return path


def compared_run(folder: Path, experiment: str, scores: dict, group: str | None = None, seed: int | None = None):
    exact = 100 * np.mean([e for e, _ in scores.values()])
    metrics = metrics_file(folder, experiment, float(np.mean([f for _, f in scores.values()])))
    metrics.write_text(json.dumps(json.loads(metrics.read_text()) | {"exact": exact}))
    return run(experiment, metrics, group, seed, questions=str(questions_file(folder, experiment, scores)))


# The reference and another experiment on four shared questions; each has one question the other lacks.
BASE = {"q1": (1, 100.0), "q2": (1, 100.0), "q3": (0, 0.0), "q4": (1, 60.0), "only-base": (0, 0.0)}
OTHER = {"q1": (1, 100.0), "q2": (0, 50.0), "q3": (1, 80.0), "q4": (1, 100.0), "only-other": (1, 100.0)}
# By hand, on q1..q4 (other minus base): EM 0, -100, +100, 0 -> mean 0; F1 0, -50, +80, +40 -> mean 17.5.
HAND = np.array([[0.0, 0.0], [-100.0, -50.0], [100.0, 80.0], [0.0, 40.0]])


def test_the_resampled_means_and_their_percentiles_by_hand():
    indices = np.array([[0, 1, 2, 3], [2, 2, 3, 3], [1, 1, 1, 0]])
    means = resample_means(HAND, indices)
    # EM: (0 - 100 + 100 + 0)/4, (100 + 100 + 0 + 0)/4, (-300 + 0)/4; F1: 70/4, 240/4, -150/4
    np.testing.assert_allclose(means, [[0.0, 17.5], [50.0, 60.0], [-75.0, -37.5]])
    low, high = percentile_interval(means)
    # Linear interpolation between the sorted means, at 0.025 * 2 = 0.05 and 0.975 * 2 = 1.95 of the way.
    np.testing.assert_allclose(low, [-75 + 0.05 * 75, -37.5 + 0.05 * 55])
    np.testing.assert_allclose(high, [0 + 0.95 * 50, 17.5 + 0.95 * 42.5])


def test_the_interval_of_an_exactly_known_bootstrap():
    # Two questions, differences 0 and 100: a resample's mean is 0 (1/4), 50 (1/2) or 100 (1/4), so the 2.5th and
    # 97.5th percentiles of many resamples are 0 and 100; differences all alike leave no room at all.
    low, high = bootstrap_interval(np.array([[0.0], [100.0]]), 4000, seed=7)
    assert (low[0], high[0]) == (0.0, 100.0)
    low, high = bootstrap_interval(np.full((5, 2), 12.5), 100, seed=0)
    np.testing.assert_array_equal([low, high], [[12.5, 12.5], [12.5, 12.5]])


def test_the_interval_is_seeded_and_its_resamples_chunked(monkeypatch):
    differences = np.random.default_rng(1).normal(size=(1000, 2))
    first = bootstrap_interval(differences, 500, seed=3)
    np.testing.assert_array_equal(first, bootstrap_interval(differences, 500, seed=3))
    assert not np.array_equal(first, bootstrap_interval(differences, 500, seed=4))
    monkeypatch.setattr("t5qa.report.paired.CHUNK_INDICES", 7 * 1000)  # 7 resamples a chunk, the last one 3
    chunked = bootstrap_interval(differences, 500, seed=3)
    np.testing.assert_allclose(chunked, first, atol=0.02)  # another draw of the same distribution
    assert np.all(chunked[0] < differences.mean(axis=0)) and np.all(differences.mean(axis=0) < chunked[1])


def test_a_run_against_the_reference_question_by_question(tmp_path):
    runs = [compared_run(tmp_path, "base", BASE), compared_run(tmp_path, "other", OTHER)]
    table = summary_table(load_runs(runs), resamples=200, seed=5)

    base, other = table.iloc[0], table.iloc[1]
    assert base["reference"] == other["reference"] == "base" and pd.isna(base["f1_diff"])
    assert other["compared_with"] == "base" and other["paired_questions"] == 4
    assert other["exact_diff"] == 0.0 and other["f1_diff"] == pytest.approx(17.5)
    low, high = bootstrap_interval(HAND, 200, seed=5)  # the hand-made differences, questions by id
    assert [other["exact_diff_ci_low"], other["f1_diff_ci_low"]] == pytest.approx(low)
    assert [other["exact_diff_ci_high"], other["f1_diff_ci_high"]] == pytest.approx(high)
    assert low[1] < 17.5 < high[1] and low[1] >= -50 and high[1] <= 80
    assert other["bootstrap_resamples"] == 200 and other["bootstrap_seed"] == 5

    # The other way round: named as the reference, the difference changes sign, the interval mirrors.
    flipped = summary_table(load_runs(runs), reference="other", resamples=200, seed=5).iloc[0]
    assert flipped["experiment"] == "base" and flipped["f1_diff"] == pytest.approx(-17.5)
    assert flipped["f1_diff_ci_low"] == pytest.approx(-high[1]) and flipped["f1_diff_ci_high"] == pytest.approx(-low[1])


def test_identical_predictions_differ_by_zero(tmp_path):
    """Two runs with the same predictions, scored by the metrics step's own question table: 0, interval [0, 0]."""
    references = _tables(tmp_path)
    predictions = _predictions(
        tmp_path,
        [
            {"id": "1", "source": "a", "prediction": "the red car"},
            {"id": "2", "source": "a", "prediction": "a red bus"},
            {"id": "1", "source": "b", "prediction": "dark blue sky"},
        ],
    )
    runs = []
    for name in ("first", "second"):
        path = tmp_path / f"{name}.questions.csv"
        question_table(load_predictions(predictions), references, predictions).to_csv(path, index=False)
        runs.append(run(name, metrics_file(tmp_path, name, 50.0), questions=str(path)))
    compared = summary_table(load_runs(runs)).iloc[1]
    assert compared["paired_questions"] == 3
    for column in ("exact_diff", "exact_diff_ci_low", "exact_diff_ci_high", "f1_diff", "f1_diff_ci_low"):
        assert compared[column] == 0.0, column
    assert compared["f1_diff_ci_high"] == 0.0


def seeds(folder: Path, group: str, by_seed: dict[int, dict]) -> list[dict]:
    return [compared_run(folder, f"{group}-seed{seed}", scores, group, seed) for seed, scores in by_seed.items()]


def test_seed_i_is_paired_with_the_references_seed_i(tmp_path):
    # Reference seeds 1, 2; the other cell's seeds 1, 2, 3 (3 has no partner). Seed 1 gains 50 F1 on q1, seed 2 gains
    # 100 on q2: differences +25 and +50 over the two questions, mean 37.5 ± 17.68 (sample std).
    zero = {"q1": (0, 0.0), "q2": (0, 0.0)}
    runs = [
        *seeds(tmp_path, "ref", {1: zero, 2: zero}),
        *seeds(tmp_path, "new", {1: {"q1": (0, 50.0), "q2": (0, 0.0)}, 2: {"q1": (0, 0.0), "q2": (1, 100.0)}, 3: zero}),
    ]
    table = summary_table(load_runs(runs), resamples=300).set_index("experiment")

    assert table.loc["new-seed1", "compared_with"] == "ref-seed1" and table.loc["new-seed1", "f1_diff"] == 25.0
    assert table.loc["new-seed2", "compared_with"] == "ref-seed2" and table.loc["new-seed2", "exact_diff"] == 50.0
    assert pd.isna(table.loc["new-seed3", "f1_diff"]) and pd.isna(table.loc["new-seed3", "compared_with"])
    mean = table.loc["new (mean ± std over 3 seeds)"]
    assert mean["compared_with"] == "ref (seeds 1, 2)" and mean["paired_seeds"] == 2 and mean["paired_questions"] == 2
    assert mean["f1_diff"] == 37.5 and mean["f1_diff_std"] == pytest.approx(12.5 * 2**0.5)
    assert mean["exact_diff"] == 25.0 and mean["exact_diff_std"] == pytest.approx(25 * 2**0.5)
    # The seeds' mean difference per question: F1 (+25, +50), EM (0, +50): its interval from the same resamples.
    low, high = bootstrap_interval(np.array([[0.0, 25.0], [50.0, 50.0]]), 300, seed=0)
    assert [mean["exact_diff_ci_low"], mean["f1_diff_ci_low"]] == pytest.approx(low)
    assert [mean["exact_diff_ci_high"], mean["f1_diff_ci_high"]] == pytest.approx(high)
    assert (low[1], high[1]) == (25.0, 50.0)  # two questions: the extremes are drawn among 300 resamples
    assert table.loc["ref (mean ± std over 2 seeds)", "reference"] == "ref"

    # A reference without seeds: every seed is compared with it.
    runs = [compared_run(tmp_path, "single", zero), *runs[2:]]
    table = summary_table(load_runs(runs)).set_index("experiment")
    assert list(table["compared_with"].iloc[1:]) == ["single (seeds 1, 2, 3)", "single", "single", "single"]
    assert table["f1_diff"].iloc[1] == pytest.approx((25 + 50 + 0) / 3)


def test_the_comparison_shows_in_the_csv_markdown_and_page(tmp_path):
    runs = [compared_run(tmp_path, "base", BASE), compared_run(tmp_path, "other", OTHER)]
    table = summary_table(load_runs(runs), resamples=1000)
    csv, markdown = tmp_path / "out.csv", tmp_path / "out.md"
    write_summary(table, csv, markdown)

    read = read_summary_csv(csv)
    pd.testing.assert_frame_equal(read, table, check_dtype=False, check_exact=True)
    assert {"compared_with", "paired_questions", "f1_diff", "f1_diff_ci_low", "bootstrap_resamples"} <= set(read)

    lines = markdown.read_text(encoding="utf-8").splitlines()
    assert lines[0].endswith("| ΔEM vs reference [95 % CI] | ΔF1 vs reference [95 % CI] |")
    assert lines[2].endswith("| reference | reference |")
    f1 = table.iloc[1]
    exact = f"+0.00 [{f1['exact_diff_ci_low']:+.2f}, {f1['exact_diff_ci_high']:+.2f}]"
    assert lines[3].endswith(f"| {exact} | +17.50 [{f1['f1_diff_ci_low']:+.2f}, {f1['f1_diff_ci_high']:+.2f}] |")
    assert "`base`" in lines[5] and "on the 4 questions" in lines[5] and "1,000 resamples" in lines[5]

    # The page: the scores' table, then the differences' (the reference named above it, not a row of it).
    page = render_summary_page(read, "compared")
    scores, paired = re.findall(r"<table.*?</table>", page.replace("<wbr>", ""), re.S)
    assert "Δ" not in scores
    heads = re.findall(r'<th scope="col">([^<]*)</th>', paired)
    assert heads == ["experiment", "compared with", "n paired", "ΔEM", "ΔF1"]
    assert re.findall(r'<td class="name" data-value="([^"]*)"', paired) == ["other"]
    assert f'data-value="17.5">+17.50<small>[{f1["f1_diff_ci_low"]:+.2f}, {f1["f1_diff_ci_high"]:+.2f}]' in paired
    assert "<h2>Against the reference: base</h2>" in page and "1,000 resamples of the questions, seed 0" in page


def test_without_questions_the_table_is_as_before(tmp_path):
    table = summary_table(load_runs([run("x", metrics_file(tmp_path, "x", 1.0))]))
    assert "f1_diff" not in table and "ΔF1" not in to_markdown(table)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("f1,exact,source,id\n50,1,s,a\n", None),
        ("f1,exact,id\n50,1,a\n", "not a questions table (missing source)"),
        ("f1,exact,source,id\n50,1,s,a\n101,1,s,b\n", "row 3 (id 'b'): f1 must be a number from 0 to 100, not '101'"),
        ("f1,exact,source,id\n50,,s,a\n", "row 2 (id 'a'): exact must be a number 0 or 1, not ''"),
        ("f1,exact,source,id\n50,1,s,a\n60,1,s,a\n", "question 'a' (source 's') is listed twice"),
    ],
)
def test_questions_files_are_checked(tmp_path, text, message):
    bad = tmp_path / "bad.questions.csv"
    bad.write_text(text)
    runs = [compared_run(tmp_path, "base", BASE), run("other", metrics_file(tmp_path, "o", 1.0), questions=str(bad))]
    if message is None:
        assert summary_table(load_runs(runs))["paired_questions"].iloc[1] == 0  # no question in common
    else:
        with pytest.raises(InputError, match=f"^{re.escape(f'{bad}: {message}')}$"):
            summary_table(load_runs(runs))


def test_cli_compares_and_refuses_an_unknown_reference_in_one_line(tmp_path):
    runs = json.dumps([compared_run(tmp_path, "base", BASE), compared_run(tmp_path, "other", OTHER)])
    csv, markdown = tmp_path / "out" / "s.csv", tmp_path / "out" / "s.md"
    outputs = ["--csv", str(csv), "--markdown", str(markdown)]
    run_script("summary.py", "--runs", runs, "--reference", "other", "--bootstrap-resamples", "50", *outputs)
    assert pd.read_csv(csv)["f1_diff"].iloc[0] == pytest.approx(-17.5)
    assert "50 resamples" in markdown.read_text(encoding="utf-8")

    for extra, message in [
        (["--reference", "nope"], "error: --reference: 'nope' is none of the summary's experiments (base, other)"),
        (["--bootstrap-resamples", "0"], "error: --bootstrap-resamples: must be at least 1, not 0"),
    ]:
        elsewhere = ["--csv", str(tmp_path / "x.csv"), "--markdown", str(tmp_path / "x.md")]
        refused = run_script("summary.py", "--runs", runs, *extra, *elsewhere, check=False)
        assert refused.returncode == 1 and "Traceback" not in refused.stderr
        assert refused.stderr.strip().splitlines()[-1] == message
        assert not (tmp_path / "x.csv").exists()
    with pytest.raises(InputError, match="give every run its questions, or none"):
        load_runs([json.loads(runs)[0], run("x", metrics_file(tmp_path, "x", 1.0))])
