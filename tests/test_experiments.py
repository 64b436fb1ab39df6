"""Experiments and sweeps: expansion, names, merged and checked settings, sharing keys, and the comparison rows."""

import copy

import pandas as pd
import pytest

from t5qa.plan.experiments import (
    DEFAULT,
    build_experiments,
    deep_merge,
    evaluation_runs,
    expand_sweep,
    folder_prefix,
    sharing_key,
)

from .workflow_helpers import (
    REPO,
    planned_jobs,
    read_json,
    snakemake,
    tiny_config,
    write_config,
    write_tiny_sources,
)


@pytest.fixture
def config(tmp_path):
    """A tiny config with every default filled in, as Snakemake's validate leaves it."""
    from snakemake.utils import validate

    config = tiny_config(write_tiny_sources(tmp_path))
    validate(config, str(REPO / "src" / "t5qa" / "config.schema.yaml"))
    return copy.deepcopy(config)


def test_deep_merge_overrides_leaves_and_keeps_the_rest():
    base = {"train": {"learning_rate": 1, "epochs": 3}, "model": {"scratch": {"architecture": {"d_model": 8}}}}
    merged = deep_merge(base, {"train": {"learning_rate": 2}, "model": {"scratch": {"architecture": {"d_ff": 4}}}})
    assert merged == {
        "train": {"learning_rate": 2, "epochs": 3},
        "model": {"scratch": {"architecture": {"d_model": 8, "d_ff": 4}}},
    }
    assert base["train"]["learning_rate"] == 1  # the base is not touched


def test_a_sweep_expands_its_grid_times_its_seeds_with_readable_names():
    sweep = {"name": "lr", "grid": {"train.learning_rate": [0.0001, 0.0003], "train.epochs": [2]}, "seeds": [1, 2]}
    expanded = expand_sweep(sweep)
    assert list(expanded) == [
        "lr-learning_rate0.0001-epochs2-seed1",
        "lr-learning_rate0.0001-epochs2-seed2",
        "lr-learning_rate0.0003-epochs2-seed1",
        "lr-learning_rate0.0003-epochs2-seed2",
    ]
    first = expanded["lr-learning_rate0.0001-epochs2-seed1"]
    assert first["overrides"] == {"train": {"learning_rate": 0.0001, "epochs": 2, "seed": 1}}
    assert first["group"] == "lr-learning_rate0.0001-epochs2" and first["seed"] == 1 and first["sweep"] == "lr"


def test_experiments_merge_over_the_top_level_settings(config):
    config["experiments"] = {"fast": {"train": {"learning_rate": 0.01}}, "base": {"finetune": False}}
    experiments = build_experiments(config)
    assert list(experiments) == [DEFAULT, "fast", "base"]
    assert experiments["fast"]["settings"]["train"]["learning_rate"] == 0.01
    assert experiments["fast"]["settings"]["train"]["epochs"] == config["train"]["epochs"]
    assert experiments[DEFAULT]["settings"]["train"] == config["train"]
    assert experiments["base"]["finetune"] is False and experiments["fast"]["finetune"] is True


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        (
            {"experiments": {"x": {"train": {"learnin_rate": 1}}}},
            "experiments.x: train.learnin_rate: unknown key (did you mean 'learning_rate'?)",
        ),
        ({"experiments": {"x": {"train": {"learning_rate": -1}}}}, "experiments.x: train.learning_rate: -1"),
        ({"experiments": {"x": {"data": {}}}}, "data cannot be overridden"),
        ({"experiments": {"a/b": {}}}, "'a/b' is not a valid experiment name"),
        ({"experiments": {"default": {}}}, "the experiment name 'default' is taken"),
        (
            {
                "sweeps": [{"name": "s", "grid": {"train.epochs": [1]}}, {"name": "s", "grid": {"train.epochs": [1]}}],
            },
            "the experiment name 's-epochs1' is taken (by sweep 's'",
        ),
        ({"sweeps": [{"name": "s", "grid": {"train.nope": [1]}}]}, "sweep 's': train.nope: unknown key"),
        ({"experiments": {"x": {"finetune": "no"}}}, "experiments.x: finetune must be true or false"),
        ({"experiments": {"x": {"resources": {"train": {"gpu": 0}}}}}, "resources.train.gpu must be a whole number"),
        ({"experiments": {"x": None}}, "experiments.x: must be a mapping of overrides"),
        ({"experiments": {"x": {"model": {"tokenizer": "t5-small"}}}}, "a scratch model needs the scratch tokenizer"),
        (
            {"sweeps": [{"name": "s", "grid": {"train.seed": [1]}, "seeds": [2]}]},
            "sweep 's': give the seeds as `seeds` or as grid train.seed, not both",
        ),
    ],
)
def test_a_bad_experiment_is_one_line_naming_it(config, declared, message):
    config.update(declared)
    with pytest.raises(ValueError) as raised:
        build_experiments(config)
    assert message in str(raised.value)


def test_sharing_keys_follow_what_each_folder_depends_on(config):
    config["experiments"] = {
        "lr": {"train": {"learning_rate": 0.01}},
        "longer": {"tokenize": {"max_source_length": 64}},
        "bigger": {"model": {"scratch": {"architecture": {"d_model": 48}}}},
        "word": {"tokenize": {"unanswerable_target": "none"}},
    }
    experiments = build_experiments(config)

    def prefix(name, what):
        default = sharing_key(experiments[DEFAULT]["settings"], what)
        return folder_prefix(sharing_key(experiments[name]["settings"], what), default, "x")

    # A learning rate changes none of them; a longer input only the tokenized data; a bigger model only the model;
    # a new target word the scratch tokenizer (it learns the word), so the tokenization and the model too.
    assert [prefix("lr", what) for what in ("scratch_tokenizer", "tokenization", "model")] == ["", "", ""]
    longer = [prefix("longer", what) for what in ("scratch_tokenizer", "tokenization", "model")]
    assert longer[0] == "" and longer[1].startswith("x-") and longer[2] == ""
    bigger = [prefix("bigger", what) for what in ("scratch_tokenizer", "tokenization", "model")]
    assert bigger[:2] == ["", ""] and bigger[2].startswith("x-")
    assert all(prefix("word", what) for what in ("scratch_tokenizer", "tokenization", "model"))


def test_evaluation_rows_expand_sweeps_and_refuse_undeclared_names(config):
    config["datasets"]["other"] = list(config["datasets"]["tiny"])
    config["sweeps"] = [{"name": "lr", "grid": {"train.learning_rate": [0.001, 0.003]}, "seeds": [1, 2]}]
    config["evaluations"] = [{"experiments": ["lr", "default"], "train_on": ["tiny"], "evaluate_on": ["tiny", "other"]}]
    experiments = build_experiments(config)
    runs = evaluation_runs(config, experiments)
    assert len(runs) == 5 * 2
    assert {"experiment": "lr-learning_rate0.001-seed2", "group": "lr-learning_rate0.001", "seed": 2,
            "trained_on": "tiny", "evaluated_on": "other", "split": "validation"} in runs  # fmt: skip

    config["evaluations"] = [{"experiments": ["nope"], "evaluate_on": ["missing"]}]
    with pytest.raises(ValueError) as raised:
        evaluation_runs(config, experiments)
    assert "'nope' is neither an experiment nor a sweep" in str(raised.value)
    assert "dataset 'missing' is not declared" in str(raised.value)


def test_without_evaluations_every_experiment_is_scored_on_the_default_datasets(config):
    config["experiments"] = {"fast": {"train": {"learning_rate": 0.01}}}
    runs = evaluation_runs(config, build_experiments(config))
    assert [(r["experiment"], r["trained_on"], r["evaluated_on"]) for r in runs] == [
        (DEFAULT, "tiny", "tiny"),
        ("fast", "tiny", "tiny"),
    ]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"train": {"batch_size": 0}},
            "experiments.x: train.batch_size: 0 is not allowed; allowed: an integer, at least 1",
        ),
        ({"trian": {"epochs": 1}}, "experiments.x: trian cannot be overridden (only model, tokenize, train"),
    ],
)
def test_a_bad_experiment_stops_the_dag_build_with_one_line(tmp_path, overrides, message):
    config = tiny_config(write_tiny_sources(tmp_path))
    config["experiments"] = {"x": overrides}
    result = snakemake(tmp_path, "-n", "--configfile", str(write_config(tmp_path, config)), check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr and "$defs" not in result.stdout + result.stderr


def test_a_sweep_and_a_cross_dataset_evaluation_end_to_end(tmp_path):
    """A sweep cell over two seeds and one more experiment, trained on one dataset and scored on it and on
    another: one table, seeds averaged; then an edit of one experiment reruns that experiment only."""
    sources = write_tiny_sources(tmp_path)
    config = tiny_config(sources, default_datasets=[])
    config["datasets"] = {"squad_part": ["tiny_squad"], "causal_part": ["tiny_causalqa"]}
    config["sweeps"] = [{"name": "lr", "grid": {"train.learning_rate": [0.003]}, "seeds": [1, 2]}]
    config["experiments"] = {"solo": {"train": {"learning_rate": 0.002}}, "untrained": {"finetune": False}}
    config["sources"]["tiny_squad"]["test"] = config["sources"]["tiny_squad"]["validation"]
    config["evaluations"] = [
        {"experiments": ["lr"], "train_on": ["squad_part"]},
        {"experiments": ["solo"], "train_on": ["squad_part"], "evaluate_on": ["squad_part", "causal_part"]},
        {"experiments": ["solo"], "train_on": ["squad_part"], "split": "test"},
        {"experiments": ["untrained"], "train_on": ["squad_part"]},
    ]
    path = write_config(tmp_path, config)
    snakemake(tmp_path, "--cores", "2", "--configfile", str(path))

    results = tmp_path / "results"
    # One tokenization for the four models: training data, the other dataset with the same tokenizer, the test split.
    assert sorted(p.name for p in (results / "tokenized").glob("*.stats.json")) == [
        "causal_part.by.squad_part.stats.json",
        "squad_part.stats.json",
        "squad_part.test.stats.json",
    ]
    cross = read_json(results / "experiments/solo/metrics/squad_part.on.causal_part.json")
    causal_rows = read_json(results / "normalized/tiny_causalqa/validation.stats.json")["rows_written"]
    assert cross["total"] == causal_rows

    # The test split: scored on demand, with the model trained once; the untrained model: scored, never trained.
    test = read_json(results / "experiments/solo/metrics/squad_part.test.json")
    assert test["total"] == read_json(results / "normalized/tiny_squad/test.stats.json")["rows_written"]
    assert (results / "experiments/untrained/metrics/squad_part.json").is_file()
    assert not (results / "experiments/untrained/models").exists()

    table = pd.read_csv(results / "summary.csv")
    runs = table[table["seed"].notna() | table["experiment"].isin(["solo", "untrained"])]
    assert len(runs) == 2 + 2 + 1 + 1
    assert table[table["split"] == "test"]["experiment"].tolist() == ["solo"]
    group = "lr-learning_rate0.003"
    seeds = table[(table["group"] == group) & table["seed"].notna()]
    mean = table[table["experiment"].str.startswith(f"{group} (mean")]
    assert len(seeds) == 2 and len(mean) == 1
    assert mean["f1"].iloc[0] == pytest.approx(seeds["f1"].mean())
    assert mean["f1_std"].iloc[0] == pytest.approx(seeds["f1"].std(ddof=1), abs=1e-9)
    assert "±" in (results / "summary.md").read_text()

    # More GPUs for one experiment is a resource: nothing reruns. The report embeds the table.
    config["experiments"]["solo"]["resources"] = {"train": {"gpu": 2}}
    assert planned_jobs(tmp_path, write_config(tmp_path, config), "results/summary.csv") == {}
    snakemake(tmp_path, "--report", "report.html", "--configfile", str(path))
    assert "summary.csv" in (tmp_path / "report.html").read_text()

    config["experiments"]["solo"]["train"]["learning_rate"] = 0.004
    edited = write_config(tmp_path, config)
    assert planned_jobs(tmp_path, edited, "results/summary.csv") == {
        "train": 1,
        "predict": 3,
        "metrics": 3,
        "summary": 1,
    }


def test_each_record_names_every_folder_it_shares(config):
    """The record (t5qa.plan.experiments.link_shared): shared folder prefixes and whose trained model is used."""
    config["experiments"] = {
        "lr": {"train": {"learning_rate": 0.001}},
        "lr_again": {"train": {"learning_rate": 0.001}, "predict": {"num_beams": 2}},
        "beams": {"predict": {"num_beams": 2}},
        "long": {"tokenize": {"max_source_length": 100}},
        "words": {"tokenize": {"unanswerable_target": "none"}},
        "wider": {"model": {"scratch": {"architecture": {"d_ff": 96}}}},
        "hub": {"model": {"name_or_path": "t5-small", "tokenizer": "t5-small"}},
    }
    records = build_experiments(config)
    shared = {name: (r["tokenization"], r["scratch_tokenizer"], r["model"]) for name, r in records.items()}
    assert shared["default"] == shared["lr"] == shared["beams"] == ("", "", "")
    tok, stok, mod = shared["long"]
    assert tok.startswith("tok-") and stok == mod == ""  # a longer input: the tokenizer and model stay
    tok, stok, mod = shared["words"]
    assert tok.startswith("tok-") and stok.startswith("tokenizer-") and mod.startswith("model-")  # a new word to learn
    assert shared["wider"][:2] == ("", "") and shared["wider"][2].startswith("model-")
    assert records["hub"]["hub"]["model"].startswith("hub-") and records["default"]["hub"] == {
        "model": "",
        "tokenizer": "",
    }
    # Trained by the first experiment that trains alike: predict settings alone train nothing new.
    trained_by = {name: r["trained_by"] for name, r in records.items()}
    assert trained_by["default"] == trained_by["beams"] == ""
    assert trained_by["lr"] == trained_by["lr_again"] == "experiments/lr/"
    assert trained_by["long"] == "experiments/long/" and trained_by["wider"] == "experiments/wider/"


def test_shared_indexes_point_each_prefix_at_one_user(config):
    from t5qa.plan.experiments import hub_index, shared_index

    config["experiments"] = {
        "a": {"tokenize": {"max_source_length": 100}},
        "b": {"tokenize": {"max_source_length": 100}},
    }
    records = build_experiments(config)
    index = shared_index(records, "tokenization")
    assert index[""] is records["default"] and index[records["a"]["tokenization"]] is records["a"]  # a first, not b
    assert len(index) == 2
    assert hub_index(records, "model") == {"": "scratch"}


def test_varied_settings_are_the_columns_that_set_experiments_apart(config):
    """The summary's setting columns: what a sweep's grid or an experiment overrides and the compared experiments
    do not share (train.seed has its own column; a shared override and resources are no column)."""
    from t5qa.plan.comparison import summary_name, varied_settings

    config["sweeps"] = [
        {
            "name": "lr",
            "grid": {"train.learning_rate": [0.001, 0.003]},
            "seeds": [1, 2],
            "overrides": {"train": {"epochs": 2}},
        }
    ]
    config["experiments"] = {
        "solo": {"train": {"epochs": 2}, "resources": {"train": {"gpu": 2}}},
        "raw": {"finetune": False},
    }
    config["train"]["learning_rate"] = 0.0005
    records = build_experiments(config)
    sweep = [name for name in records if name.startswith("lr-")]
    columns = varied_settings(records, sweep)
    assert columns["lr-learning_rate0.001-seed1"] == {"train.learning_rate": 0.001}
    assert {name: c["train.learning_rate"] for name, c in columns.items()} == dict(
        zip(sweep, [0.001, 0.001, 0.003, 0.003])
    )
    everything = varied_settings(records, [DEFAULT, "solo", "raw", "lr-learning_rate0.003-seed1"])
    assert everything[DEFAULT] == {
        "train.epochs": records[DEFAULT]["settings"]["train"]["epochs"],
        "train.learning_rate": 0.0005,
        "finetune": True,
    }
    assert everything["raw"]["finetune"] is False and everything["solo"]["train.epochs"] == 2
    assert varied_settings(records, ["solo"]) == {"solo": {}}

    runs = evaluation_runs(config, records)
    name = summary_name(runs, records)
    assert name.startswith("default+solo+raw+lr-") and name == summary_name(copy.deepcopy(runs), records)
    assert summary_name(runs[:2], records) != name
