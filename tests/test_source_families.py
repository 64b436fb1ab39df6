"""Issue 27 item 5: families of sources (names x split families x one template), expanded where the config is
loaded (t5qa.plan.config_check.validate_config), and a family-made CausalQA table."""

import copy

import pytest
import yaml

from t5qa.plan.config_check import validate_config
from t5qa.plan.families import expand_families

from .workflow_helpers import REPO

TEMPLATE = {
    "format": "causalqa_csv",
    "train": {"archive": "z", "member": "input/{split_family}-splits/{name}_train_{split_family}_split.csv"},
    "validation": {"archive": "z", "member": "input/{split_family}-splits/{name}_valid_{split_family}_split.csv"},
}


def config_with(**sections) -> dict:
    config = {
        "model": {"name_or_path": "scratch", "tokenizer": "scratch"},
        "archives": {"z": {"url": "file:///z.zip"}},
        "sources": {},
        "datasets": {},
    }
    config.update(copy.deepcopy(sections))
    return config


def hand_written(names, families) -> dict:
    """What the family stands for, written out by hand as the presets did before."""
    sources = {}
    for name in names:
        for family in families:
            spec = copy.deepcopy(TEMPLATE)
            for split in ("train", "validation"):
                spec[split]["member"] = spec[split]["member"].replace("{name}", name)
            sources[f"c_{name}_{family}"] = {**spec, "split_family": family}
    return sources


def test_a_family_is_the_sources_written_out_and_a_dataset_of_each():
    family = {"names": ["alpha", "beta"], "split_families": ["original", "random"], "source": TEMPLATE}
    config = config_with(source_families={"c": family})
    validate_config(config)
    written = config_with(sources=hand_written(["alpha", "beta"], ["original", "random"]))
    written["datasets"] = {name: [name] for name in written["sources"]}
    validate_config(written)
    assert config["sources"] == written["sources"]  # same specs (defaults filled alike), in the same order
    assert list(config["sources"]) == ["c_alpha_original", "c_alpha_random", "c_beta_original", "c_beta_random"]
    assert config["datasets"] == written["datasets"]
    assert config["source_families"] == {}  # expanded once: validating again finds nothing to redo
    validate_config(config)


def test_without_split_families_one_source_per_name_and_a_combined_dataset():
    family = {"names": ["alpha", "beta"], "combined_dataset": "c", "datasets": False, "source": TEMPLATE}
    config = config_with(source_families={"c": family})
    validate_config(config)
    assert list(config["sources"]) == ["c_alpha", "c_beta"] and "split_family" not in config["sources"]["c_alpha"]
    assert (
        config["sources"]["c_beta"]["train"]["member"]
        == "input/{split_family}-splits/beta_train_{split_family}_split.csv"
    )
    assert config["datasets"] == {"c": ["c_alpha", "c_beta"]}


def test_a_name_made_twice_is_one_line_not_a_silent_replacement():
    family = {"names": ["alpha"], "source": TEMPLATE}
    config = config_with(source_families={"c": family}, sources={"c_alpha": TEMPLATE})
    with pytest.raises(ValueError) as err:
        validate_config(config)
    assert str(err.value) == (
        "config: source_families.c: makes the source 'c_alpha', which is also declared under 'sources': rename one"
    )


def test_the_notation_is_schema_checked():
    config = config_with(source_families={"c": {"names": [], "source": TEMPLATE, "colour": 1}})
    with pytest.raises(ValueError, match="source_families.c"):
        validate_config(config)


def test_a_family_makes_the_table_rows_released_experiments_and_evaluations():
    family = {"names": ["alpha", "beta"], "split_families": ["original", "random"], "source": TEMPLATE}
    table = {
        "family": "c",
        "base": "base",
        "finetuned": "ft",
        "released": "archive://z/models/{split_family}/{name}-{split_family}",
        "row_overrides": {"beta": {"tokenize": {"long_inputs": "truncate"}}},
    }
    experiments = {"base": {"finetune": False, "tokenize": {"long_inputs": "whole"}}, "ft": {}}
    config = config_with(source_families={"c": family}, causalqa_table=table, experiments=experiments)
    validate_config(config)
    rows = config["causalqa_table"]["rows"]
    assert rows["alpha"] == {
        "original": "c_alpha_original",
        "random": "c_alpha_random",
        "released_original": "released-original-alpha",
        "released_random": "released-random-alpha",
    }
    assert rows["beta"]["base"] == "base-beta"
    assert config["experiments"]["released-random-alpha"] == {
        "finetune": False,
        "tokenize": {"long_inputs": "whole"},
        "model": {"name_or_path": "archive://z/models/random/alpha-random"},
    }
    assert config["experiments"]["base-beta"]["tokenize"] == {"long_inputs": "truncate"}
    assert config["experiments"]["released-original-beta"]["tokenize"] == {"long_inputs": "truncate"}
    runs = {
        (e, d)
        for evaluation in config["evaluations"]
        for e in evaluation["experiments"]
        for d in evaluation["train_on"]
    }
    assert ("base", "c_alpha_original") in runs and ("base-beta", "c_beta_original") in runs
    assert ("base", "c_beta_original") not in runs and len(runs) == 2 + 4 + 4


def test_a_table_family_needs_both_split_families_and_its_names():
    family = {"names": ["alpha"], "source": TEMPLATE}
    config = config_with(source_families={"c": family}, causalqa_table={"family": "c", "base": "b", "finetuned": "f"})
    assert expand_families(config) == [
        "causalqa_table.family: 'c' must declare split_families: [original, random] (a column each)"
    ]


def test_the_presets_fit_on_a_screen():
    """The table preset is one screen; config/config.yaml's CausalQA family a few lines."""
    assert len((REPO / "config" / "causalqa_table.yaml").read_text().splitlines()) <= 80
    family = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["source_families"]["causalqa"]
    assert len(yaml.safe_dump(family, default_flow_style=None, width=200).splitlines()) <= 8
