"""Config mistakes stop `snakemake` while it builds the DAG, with a short message naming the mistake."""

import pytest
import yaml

from t5qa.plan.config_check import check_config, config_problems

from .workflow_helpers import REPO, snakemake, tiny_config, write_config, write_tiny_sources


def _config(**changes) -> dict:
    config = {
        "archives": {"release": {"url": "https://example.org/r.zip"}},
        "sources": {
            "a": {"format": "csv", "train": {"path": "a.csv"}},
            "b": {"format": "csv", "train": {"archive": "release", "member": "b.csv"}},
        },
        "datasets": {"ab": ["a", "b"]},
        "default_datasets": ["ab"],
    }
    return {**config, **changes}


def test_a_consistent_config_passes():
    assert config_problems(_config()) == []
    check_config(_config())


def test_the_shipped_configs_pass():
    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    demo = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    assert config_problems(base) == []
    merged = {key: {**base[key], **demo[key]} if isinstance(demo[key], dict) else demo[key] for key in demo}
    assert config_problems({**base, **merged}) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"datasets": {"ab": ["a", "b", "a"]}}, "dataset 'ab' lists source 'a' 2 times"),
        ({"datasets": {"ab": ["a", "bb"]}}, "dataset 'ab': source 'bb' is not declared under 'sources'"),
        (
            {"sources": {"b": {"format": "csv", "train": {"archive": "relase", "member": "b.csv"}}}},
            "source 'b' train: archive 'relase' is not declared under 'archives' (did you mean 'release'?)",
        ),
        ({"default_datasets": ["ab", "abc"]}, "default_datasets: dataset 'abc' is not declared under 'datasets'"),
        ({"archives": {"release": {"url": "r.zip"}}}, "archive 'release': url 'r.zip' must start with http://"),
        (
            {"sources": {"a": {"format": "csv", "train": {"path": "a.csv", "split": "x"}}, "b": {}}},
            "source 'a' train: split: unknown key; the keys here: path, md5, sha256",
        ),
        (
            {"sources": {"a": {"format": "squad_v2_json", "train": {"path": "a.json"}, "columns": {"id": "qid"}}}},
            "source 'a': format squad_v2_json has a fixed layout; 'columns' applies to csv/tsv/jsonl/json/parquet/hub",
        ),
        (
            {"sources": {"a": {"format": "jsnl", "train": {"path": "a.jsonl"}}, "b": {"format": "yaml", "train": {}}}},
            "source 'a': unknown format 'jsnl' (did you mean 'jsonl'?); the formats are squad_v2_json, causalqa_csv, ",
        ),
    ],
)
def test_each_mistake_is_named(changes, message):
    problems = config_problems(_config(**changes))
    assert any(message in problem for problem in problems), problems
    with pytest.raises(ValueError, match="^config: "):
        check_config(_config(**changes))


def test_every_mistake_is_reported_at_once():
    config = _config(datasets={"ab": ["a", "a", "c"]}, default_datasets=["zz"])
    assert len(config_problems(config)) == 3
    with pytest.raises(ValueError) as raised:
        check_config(config)
    assert len(str(raised.value).splitlines()) == 3


# --- what `snakemake -n` prints


def _dry_run(tmp_path, **overrides):
    sources = {**write_tiny_sources(tmp_path), **overrides.pop("sources", {})}
    config = tiny_config(sources, **overrides)
    result = snakemake(tmp_path, "-n", "--configfile", str(write_config(tmp_path, config)), check=False)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"datasets": {"tiny": ["tiny_squad", "tiny_squad"]}}, "config: dataset 'tiny' lists source 'tiny_squad' 2"),
        (
            {"datasets": {"tiny": ["tiny_squad", "tiny_sqad"]}},
            "config: dataset 'tiny': source 'tiny_sqad' is not declared under 'sources' (did you mean 'tiny_squad'?)",
        ),
        (
            {"sources": {"zipped": {"format": "csv", "train": {"archive": "nope", "member": "x.csv"}}}},
            "config: source 'zipped' train: archive 'nope' is not declared under 'archives'",
        ),
        ({"default_datasets": ["tinny"]}, "config: default_datasets: dataset 'tinny' is not declared"),
        (
            {"sources": {"tiny_squad": {"format": "squad_json", "train": {"path": "x.json"}}}},
            "config: source 'tiny_squad': unknown format 'squad_json' (did you mean 'squad_v2_json'?)",
        ),
        (
            {"train": {"max_steps": 0}},
            "config: train.max_steps: 0 is not allowed; allowed: -1 or an integer, at least 1",
        ),
        (
            {"train": {"warmup_ratio": 1}},
            "train.warmup_ratio: 1 is not allowed; allowed: a number, at least 0, less than 1",
        ),
        (
            {"train": {"logging_steps": 0}},
            "config: train.logging_steps: 0 is not allowed; allowed: an integer, at least 1",
        ),
        (
            {"predict": {"batch_size": 0}},
            "config: predict.batch_size: 0 is not allowed; allowed: an integer, at least 1",
        ),
        (
            {"predict": {"max_new_tokens": 0}},
            "predict.max_new_tokens: 0 is not allowed; allowed: an integer, at least 1, at",
        ),
    ],
)
def test_snakemake_stops_with_the_message(tmp_path, overrides, message):
    status, output = _dry_run(tmp_path, **overrides)
    assert status != 0
    assert message in output, output
    # One line for the mistake, no schema or config dumped, no traceback.
    assert "Traceback" not in output and len(output.splitlines()) < 8, output


def test_a_validation_fraction_of_one_is_refused(tmp_path):
    carved = {"format": "csv", "train": {"path": "data.csv"}, "validation_fraction": 1}
    status, output = _dry_run(tmp_path, sources={"carved": carved})
    assert (
        status != 0
        and "sources.carved.validation_fraction: 1 is not allowed; allowed: a number, more than 0, less" in output
    ), output


def test_max_steps_minus_one_means_off(tmp_path):
    status, output = _dry_run(tmp_path, train={"max_steps": -1})
    assert status == 0, output
