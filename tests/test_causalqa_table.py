"""Issue 21: the Webis-CausalQA-22 fine-tuning table in one command (config/causalqa_table.yaml).

A miniature of the real preset runs end to end (two CausalQA-layout sources in both split families inside a zip, with
"released" models in the zip too, a scratch model, a few steps); a dry run of the real preset through the Slurm
profile plans the expected jobs; the pieces (split families side by side, archive models, the table) on their own.
"""

import csv
import io
import json
import math
import zipfile
from pathlib import Path

import pytest
import yaml

from t5qa.data.download import archive_model, extract_folder
from t5qa.data.sources import split_spec
from t5qa.errors import InputError
from t5qa.report.causalqa_table import COLUMNS, MEASURES, build_table, check_table, markdown, table_cells

from .workflow_helpers import REPO, planned_jobs, read_json, snakemake, write_config

PRESET = REPO / "config" / "causalqa_table.yaml"
SOURCES = ["paq", "gooaq", "msmarco", "naturalquestions", "searchqa", "squad2", "newsqa", "hotpotqa", "triviaqa"]
MINI = ["alpha", "beta"]
FAMILIES = ["original", "random"]


# --- the real preset


def test_dry_run_of_the_real_preset_through_the_slurm_profile_plans_every_cell(tmp_path):
    counts = planned_jobs(tmp_path, PRESET, "results/causalqa_table.md", "--profile", str(REPO / "profiles" / "slurm"))
    n = len(SOURCES)
    assert counts == {
        "download_archive": 1,  # the Zenodo zip, once
        "download": n * 2 * 2,  # each source's train and validation CSV, in both families
        "normalize": n * 2 * 2,
        "prefetch_hub": 2,  # UnifiedQA-v2's weights and tokenizer
        "prefetch_archive_model": n * 2,  # the released models, one per source and family
        # per dataset: windows for the fine-tuned models; whole inputs (Natural Questions: cut at 10,000 tokens) for
        # the base and released ones, as their evaluation feeds them
        "tokenize_data": n * 2 * 2,
        "train": n * 2,  # fine-tuned on each source's original and random split
        "predict": n + n * 2 + n * 2,  # base on the original splits; fine-tuned; released
        "metrics": n + n * 2 + n * 2,
        "causalqa_table": 1,
    }


def expanded_preset() -> dict:
    """The preset as the Snakefile reads it: config/config.yaml, the preset merged over it, families expanded."""
    from snakemake.utils import update_config

    from t5qa.plan.config_check import validate_config

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    update_config(config, yaml.safe_load(PRESET.read_text()))
    validate_config(config)
    return config


def test_the_preset_states_their_set_up():
    preset = expanded_preset()
    tokenize, train, predict = preset["tokenize"], preset["train"], preset["predict"]
    model = preset["model"]
    assert model["name_or_path"] == model["tokenizer"] == "allenai/unifiedqa-v2-t5-base-1363200"
    assert tokenize["template"] == "{question} \\n {context}"  # backslash and n, not a newline
    assert tokenize["template_without_context"] == "{question}"
    assert (tokenize["target"], tokenize["text_columns"]) == ("answer_cell", "processed")
    assert (tokenize["max_source_length"], tokenize["max_target_length"]) == (2048, 100)
    assert train["learning_rate"] == 5e-5 and train["warmup_ratio"] == 0 and train["weight_decay"] == 0
    assert (train["max_steps"], train["batch_size"], train["seed"], train["lr_scheduler"]) == (6000, 2, 42, "linear")
    assert (predict["num_beams"], predict["max_new_tokens"]) == (1, 499)
    archive = preset["archives"]["causalqa"]
    assert archive["url"] == "https://zenodo.org/record/7186761/files/Webis-CausalQA-22-v-1.0.zip"
    assert archive["root"] == "Webis-CausalQA-22-v-1.0"
    rows = preset["causalqa_table"]["rows"]
    assert list(rows) == SOURCES
    experiments = preset["experiments"]
    assert experiments["base"]["tokenize"] == {"long_inputs": "whole"}  # their evaluation: whole inputs
    cut = {"long_inputs": "truncate", "max_source_length": 10000}  # ... Natural Questions cut at 10,000 tokens
    assert rows["naturalquestions"]["base"] == "base-naturalquestions"
    assert experiments["base-naturalquestions"]["tokenize"] == cut
    for source in SOURCES:
        for family in FAMILIES:
            spec = preset["sources"][f"causalqa_{source}_{family}"]
            assert spec["split_family"] == family
            member = split_spec(spec, "validation", "original")["member"]  # under the archive's root folder
            assert member == f"input/{family}-splits/{source}_valid_{family}_split.csv"
            experiment = experiments[f"released-{family}-{source}"]
            model = experiment["model"]["name_or_path"]
            assert archive_model(model) == ("causalqa", f"models/{family}-splits/{source}-{family}-split")
            assert experiment["tokenize"] == (cut if source == "naturalquestions" else {"long_inputs": "whole"})


# --- the pieces


def test_a_source_s_own_split_family_wins_over_the_global_one():
    member = {"archive": "causalqa", "member": "input/{split_family}-splits/x_train_{split_family}_split.csv"}
    spec = {"format": "causalqa_csv", "train": member, "split_family": "random"}
    assert split_spec(spec, "train", "original")["member"] == "input/random-splits/x_train_random_split.csv"
    del spec["split_family"]
    assert split_spec(spec, "train", "original")["member"] == "input/original-splits/x_train_original_split.csv"


def test_an_unpinned_download_says_its_sha256_and_how_to_pin_it(tmp_path, caplog):
    import hashlib

    from t5qa.commands.download import main as download

    archive = tmp_path / "release.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("Webis-CausalQA-22-v-1.0/input/x.csv", "id\n")
    sha256 = hashlib.sha256(archive.read_bytes()).hexdigest()
    location = json.dumps({"url": archive.as_uri()})
    download(["--location", location, "--output", str(tmp_path / "a.zip"), "--config-key", "archives.causalqa"])
    pins = [r.getMessage() for r in caplog.records if "not pinned" in r.getMessage()]
    assert pins == [
        f"not pinned: {archive.as_uri()} has sha256 {sha256}; pin it by adding  sha256: {sha256}  to "
        "archives.causalqa in your config"
    ]
    caplog.clear()
    pinned = json.dumps({"url": archive.as_uri(), "sha256": sha256})
    download(["--location", pinned, "--output", str(tmp_path / "b.zip")])
    assert not [r for r in caplog.records if "not pinned" in r.getMessage()]


def test_members_and_model_folders_lie_under_the_archive_s_root():
    from t5qa.data.download import archive_member

    assert archive_member({"url": "u", "root": "Webis-CausalQA-22-v-1.0/"}, "input/a.csv") == (
        "Webis-CausalQA-22-v-1.0/input/a.csv"
    )
    assert archive_member({"url": "u"}, "input/a.csv") == "input/a.csv"


def test_archive_model_names():
    assert archive_model("archive://causalqa/models/a/b/") == ("causalqa", "models/a/b")
    assert archive_model("allenai/unifiedqa-v2-t5-base-1363200") is None
    assert archive_model("scratch") is None
    with pytest.raises(InputError, match="archive://NAME/FOLDER"):
        archive_model("archive://causalqa")


def test_extract_folder_is_all_or_nothing(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("models/m/config.json", "{}")
        zf.writestr("models/m/sub/w.bin", "x")
        zf.writestr("models/mm/config.json", "{}")  # a sibling whose name starts alike is not part of models/m
    assert extract_folder(archive, "models/m", tmp_path / "out") == ["config.json", "sub/w.bin"]
    assert (tmp_path / "out" / "sub" / "w.bin").read_text() == "x"
    with pytest.raises(InputError, match="no folder 'models/x'.*models/m"):
        extract_folder(archive, "models/x", tmp_path / "out2")

    def fail(folder):
        raise InputError("no tokenizer")

    with pytest.raises(InputError, match="no tokenizer"):
        extract_folder(archive, "models/m", tmp_path / "out3", finish=fail)
    assert not (tmp_path / "out3").exists() and not list(tmp_path.glob(".out3*"))


def test_table_config_mistakes_are_one_line_each():
    experiments = {"base": {"finetune": False}, "ft": {"finetune": True}, "rel": {"finetune": True}}
    table = {
        "base": "ft",
        "finetuned": "ft",
        "rows": {"a": {"original": "d1", "random": "nope", "released_original": "rel"}},
    }
    problems = check_table(table, experiments, {"d1": ["s"]})
    assert problems == [
        "causalqa_table.base: experiment 'ft' must have finetune: false",
        "causalqa_table.rows.a.released_original: experiment 'rel' must have finetune: false",
        "causalqa_table.rows.a.random: dataset 'nope' is not declared",
    ]


def test_the_table_reads_each_cell_from_its_metrics_file(tmp_path):
    def metrics(name, value):
        path = tmp_path / f"{name}.json"
        measures = {"exact": value, "f1": value + 1, "rougeL_f1": value + 2, "total": 3}  # 3 questions scored
        path.write_text(json.dumps({"exact": 0, "causalqa_measures": measures}))
        return str(path)

    def stats(dataset):
        path = tmp_path / f"{dataset}.stats.json"
        path.write_text(json.dumps({"rows_read": 4, "rows_written": 3}))
        return [str(path)]

    rows = {"z": {"original": "zo", "random": "zr"}, "x": {"original": "xo", "random": "xr", "base": "b2"}}
    table_spec = {"base": "b", "finetuned": "f", "rows": rows}
    cells = table_cells(table_spec, lambda experiment, dataset: metrics(f"{experiment}-{dataset}", 10.0), stats)
    assert [entry["row"] for entry in cells] == ["z", "x"]  # as declared, not sorted
    assert set(cells[0]["cells"]) == {"base", "finetuned_original", "finetuned_random"}
    assert cells[1]["cells"]["base"]["metrics"].endswith("b2-xo.json")  # the row's own base experiment
    table = build_table(cells)
    assert table.loc[0, "base EM"] == 10.0 and table.loc[0, "finetuned_random ROUGE-L"] == 12.0
    assert (table.loc[0, "base rows in CSV"], table.loc[0, "base rows scored"]) == (4, 3)
    assert math.isnan(table.loc[0, "released_original F1"])
    text = markdown(table)
    assert text.splitlines()[0].startswith(
        "| source | base EM | base F1 | base ROUGE-L | base rows | fine-tuned original"
    )
    assert "| z | 10.00 | 11.00 | 12.00 | 4/3 |" in text and "| — |" in text


# --- the miniature, end to end

ROOT = "Webis-CausalQA-22-v-1.0"  # every path of the real zip starts with its top folder


def mini_data(root: Path) -> tuple[Path, Path]:
    """A zip in the release's layout, under its top folder: input/<family>-splits/<source>_{train,valid}_<family>_
    split.csv for two sources, and models/<family>-splits/<source>-<family>-split/ (weights and config, no tokenizer,
    like a Trainer.save_model without a tokenizer); and a local scratch model + tokenizer folder every experiment
    starts from. alpha's original validation CSV repeats an id and lists an alias in some processed answer cells
    (see release_quirks)."""
    from t5qa.data.demo_data import generate, to_causalqa_csv
    from t5qa.model.scratch_model import build_model, train_tokenizer

    texts = ["unanswerable \\n"]
    for group in generate(seed=7, n_examples=100, prefix="tok"):
        for ex in group:
            texts += [ex.question, ex.context, ex.question.lower(), ex.context.lower()]  # targets are raw cells
    tokenizer = train_tokenizer(texts, vocab_size=300, seed=0)
    architecture = {"d_model": 16, "d_ff": 32, "d_kv": 8, "num_heads": 2, "num_layers": 1, "num_decoder_layers": 1}
    model = build_model(tokenizer, {**architecture, "dropout_rate": 0.0}, seed=0)
    start = root / "start_model"
    model.save_pretrained(start)
    tokenizer.save_pretrained(start)
    released = root / "released_model"
    model.save_pretrained(released)
    archive = root / "causalqa_mini.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for s, source in enumerate(MINI):
            for f, family in enumerate(FAMILIES):
                for k, (split, n) in enumerate((("train", 24), ("valid", 8))):
                    text = to_causalqa_csv(generate(100 * s + 10 * f + k, n, f"{source}{family}{split}"))
                    if source == "beta" and split == "valid":
                        text = edit_rows(text, without_some_contexts)
                    if (source, family, split) == ("alpha", "original", "valid"):
                        text = edit_rows(text, release_quirks)
                    zf.writestr(f"{ROOT}/input/{family}-splits/{source}_{split}_{family}_split.csv", text)
                for file in sorted(released.iterdir()):
                    zf.write(file, f"{ROOT}/models/{family}-splits/{source}-{family}-split/{file.name}")
    return archive, start


def edit_rows(text: str, edit) -> str:
    rows = list(csv.DictReader(io.StringIO(text)))
    rows = edit(rows)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def without_some_contexts(rows: list[dict]) -> list[dict]:
    """Every third row's context cell emptied (the question alone is then the input)."""
    for row in rows[::3]:
        row["context"] = row["context_processed"] = ""
    return rows


def release_quirks(rows: list[dict]) -> list[dict]:
    """What the release holds and their evaluation reads as it is: a processed answer cell with an alias the raw
    cell lacks (scored against the raw cell only), a raw cell with a blank piece ("x<TAB>", an empty gold for them),
    and an id given twice (their script scores both rows; normalize keeps the first)."""
    rows[0]["answer_processed"] += "\tan alias only the processed column lists"
    rows[1]["answer"] += "\t"
    return [*rows, {**rows[2], "question": "the same id again?"}]


def mini_config(archive: Path, start: Path) -> dict:
    """The preset itself on the miniature: its family notation with two names, its experiments and table, its
    tokenize/train/predict settings with fewer steps and tokens, and beta's base and released models fed inputs cut
    at 64 tokens (as Natural Questions' at 10,000)."""
    preset = yaml.safe_load(PRESET.read_text())
    family = {**preset["source_families"]["causalqa"], "names": MINI}
    family["source"] = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["source_families"]["causalqa"][
        "source"
    ]
    table = {**preset["causalqa_table"], "row_overrides": {"beta": {"tokenize": {"long_inputs": "truncate"}}}}
    table["row_overrides"]["beta"]["tokenize"]["max_source_length"] = 64
    return {
        "default_datasets": [],
        "archives": {"causalqa": {"url": archive.as_uri(), "root": ROOT}},
        "model": {"name_or_path": str(start), "tokenizer": str(start)},
        "tokenize": {**preset["tokenize"], "max_source_length": 96, "stride": 16},
        "train": {**preset["train"], "max_steps": 2, "logging_steps": 1, "save_steps": 2},
        "predict": {**preset["predict"], "max_new_tokens": 4, "batch_tokens": 4096},
        "sources": {},
        "datasets": {},
        "source_families": {"causalqa": family},
        "experiments": preset["experiments"],
        "causalqa_table": table,
    }


@pytest.fixture(scope="module")
def miniature(tmp_path_factory):
    """The miniature built once, end to end (results/causalqa_table.md): its folder, for every test reading it."""
    root = tmp_path_factory.mktemp("causalqa_mini")
    archive, start = mini_data(root)
    config = write_config(root, mini_config(archive, start))
    planned = planned_jobs(root, config, "results/causalqa_table.md")
    assert planned["train"] == 4 and planned["predict"] == 10 and planned["prefetch_archive_model"] == 4
    assert planned["tokenize_data"] == 8  # windows for the fine-tuned; whole (alpha) and cut (beta) for the others
    snakemake(root, "--cores", "2", "results/causalqa_table.md", "--configfile", str(config))
    return root


def test_the_miniature_table_end_to_end(miniature):
    # The released models were extracted from under the zip's top folder, with the tokenizer saved beside them.
    extracted = miniature / f"results/prefetch/archive-models/causalqa/{ROOT}/models/random-splits/beta-random-split"
    assert (extracted / "config.json").is_file() and (extracted / "tokenizer_config.json").is_file()
    # Both families side by side: each dataset read its own family's members, under the top folder.
    manifest = read_json(miniature / "results/raw/causalqa_beta_random/validation.csv.manifest.json")
    assert manifest["origin"].endswith(f"!{ROOT}/input/random-splits/beta_valid_random_split.csv")

    table = list(csv.DictReader((miniature / "results/causalqa_table.csv").open()))
    assert [row["source"] for row in table] == MINI  # the declared order
    for row in table:
        for column in COLUMNS:
            metrics = read_json(miniature / row[f"{column} metrics"])["causalqa_measures"]
            for measure, key in MEASURES.items():
                assert float(row[f"{column} {measure}"]) == pytest.approx(metrics[key], abs=1e-12)
    expected = {
        "base": "results/experiments/base/metrics/causalqa_alpha_original.json",
        "finetuned_original": "results/experiments/finetuned/metrics/causalqa_alpha_original.json",
        "finetuned_random": "results/experiments/finetuned/metrics/causalqa_alpha_random.json",
        "released_original": "results/experiments/released-original-alpha/metrics/causalqa_alpha_original.json",
        "released_random": "results/experiments/released-random-alpha/metrics/causalqa_alpha_random.json",
    }
    assert {column: table[0][f"{column} metrics"] for column in COLUMNS} == expected
    assert table[1]["base metrics"] == "results/experiments/base-beta/metrics/causalqa_beta_original.json"
    text = (miniature / "results/causalqa_table.md").read_text()
    print(text)
    assert text.count("\n| alpha |") == 1 and text.count("\n| beta |") == 1


def test_the_miniature_counts_the_rows_of_each_csv_and_the_rows_scored(miniature):
    """alpha's original validation CSV has 9 rows, one a repeated id: 9 in the CSV, 8 scored, in each of its cells."""
    table = list(csv.DictReader((miniature / "results/causalqa_table.csv").open()))
    alpha, beta = table
    for column in ("base", "finetuned_original", "released_original"):
        assert (alpha[f"{column} rows in CSV"], alpha[f"{column} rows scored"]) == ("9", "8")
    for column in COLUMNS:
        if column not in ("base", "finetuned_original", "released_original"):
            assert (alpha[f"{column} rows in CSV"], alpha[f"{column} rows scored"]) == ("8", "8")
        assert (beta[f"{column} rows in CSV"], beta[f"{column} rows scored"]) == ("8", "8")
    assert "| 9/8 |" in (miniature / "results/causalqa_table.md").read_text()


def test_the_miniature_scores_the_paper_s_measures_against_the_raw_answer_cell(miniature):
    """Each cell's EM and F1 recomputed here from the predictions and the CSV as their evaluate_unifiedqa.py reads it
    (the `answer` cell split on tabs; the processed column's alias and a blank piece as they are)."""
    from t5qa.evaluate import causalqa_measures

    with zipfile.ZipFile(miniature / "results/raw/archives/causalqa.zip") as zf:
        text = zf.read(f"{ROOT}/input/original-splits/alpha_valid_original_split.csv").decode()
    cells = {}
    for row in csv.DictReader(io.StringIO(text)):
        cells.setdefault(row["id"], row["answer"])  # the first row of a repeated id: the one scored
    assert any("alias" in row["answer_processed"] for row in csv.DictReader(io.StringIO(text)))
    table = list(csv.DictReader((miniature / "results/causalqa_table.csv").open()))[0]
    for column in ("base", "finetuned_original", "released_original"):
        predictions_file = miniature / table[f"{column} metrics"].replace("/metrics/", "/predictions/")
        lines = predictions_file.with_suffix(".jsonl").read_text().splitlines()
        predictions = {line["id"]: line["prediction"] for line in map(json.loads, lines)}
        assert set(predictions) == set(cells)
        theirs = [causalqa_measures.score_one(cell.split("\t"), predictions[i]) for i, cell in cells.items()]
        for measure, key in (("EM", "exact"), ("F1", "f1")):
            expected = 100 * sum(score[key] for score in theirs) / len(theirs)
            assert float(table[f"{column} {measure}"]) == pytest.approx(expected, abs=1e-9)


# --- parity with their scripts (issue 21 item 5): each difference decided, and held here


def test_parity_the_paper_s_measures_read_the_raw_answer_cell_split_on_tabs(tmp_path):
    """As their evaluate_unifiedqa.py: the golds are the raw `answer` cell split on tabs, a blank piece included
    ("apple<TAB>": an empty prediction is EM 1 there) and the processed column's extra aliases left out. The
    official SQuAD metrics keep their rules: blanks dropped, the longer gold list of the two columns."""
    import pandas as pd

    from t5qa.evaluate import metrics

    references = tmp_path / "validation.parquet"
    rows = [
        {"id": "blank", "answer": "apple\t", "answer_processed": "apple"},
        {"id": "alias", "answer": "Rome", "answer_processed": "rome\tthe eternal city"},
    ]
    pd.DataFrame(rows).to_parquet(references)
    predictions = [{"id": "blank", "prediction": ""}, {"id": "alias", "prediction": "the eternal city"}]
    result = metrics.score(predictions, [("s", references)], tmp_path / "p.jsonl")
    assert result["causalqa_measures"]["exact"] == 50.0  # the blank piece matches "", the alias is not a gold
    assert result["exact"] == 50.0  # official: "" is no gold of "apple<TAB>"; the processed alias is one


def test_parity_only_tag_shaped_spans_are_stripped():
    """Matched theirs: the processed text keeps '<'...'>' spans that are not HTML (citation markers, comparisons)."""
    from t5qa.text import process_text

    assert process_text("Rome fell <1> in 476 <b>AD</b>") == "rome fell <1> in 476 ad"
    assert process_text("if x < y and z > w<br/>then") == "if x < y and z > w then"
    assert process_text("<!-- note --><a href='u'>Link</a>") == "link"


def test_parity_a_non_breaking_space_changes_no_token_and_no_score(tiny_tokenizer):
    """Kept ours: process_text turns U+00A0 into a plain space (the release keeps it). T5's sentencepiece normaliser
    (nmt_nfkc) and both scorers read it as a space anyway, so no token and no score differs."""
    from transformers import AutoTokenizer

    from t5qa.evaluate import causalqa_measures, scoring
    from t5qa.text import process_text

    assert process_text("new\xa0york") == "new york"
    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer)
    assert tokenizer("the new\xa0mill")["input_ids"] == tokenizer("the new mill")["input_ids"]
    assert causalqa_measures.preprocess("new\xa0york") == causalqa_measures.preprocess("new york")
    assert scoring.normalize_answer("new\xa0york") == scoring.normalize_answer("new york")


def test_unanswerable_rows_are_scored_an_extension_of_theirs():
    """Their evaluation crashes on an empty answer cell (None); here an unanswerable question is scored against [""]:
    an empty prediction is EM 1, F1 0 (their F1 has no empty case), anything else 0."""
    from t5qa.evaluate import causalqa_measures

    assert causalqa_measures.score_one([], "")["exact"] == 1 and causalqa_measures.score_one([], "")["f1"] == 0
    assert causalqa_measures.score_one([], "something")["exact"] == 0


def test_an_archive_model_of_an_undeclared_archive_is_one_line_at_dag_build(tmp_path):
    from .workflow_helpers import tiny_config, write_tiny_sources

    config = tiny_config(
        write_tiny_sources(tmp_path),
        experiments={
            "released": {
                "finetune": False,
                "model": {"name_or_path": "archive://nope/models/m", "tokenizer": "google-t5/t5-small"},
            }
        },
    )
    result = snakemake(tmp_path, "-n", "--configfile", str(write_config(tmp_path, config)), check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "model 'archive://nope/models/m': the archive 'nope' is not declared under 'archives'" in output
