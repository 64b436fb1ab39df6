"""The README's "Add your own data" example, verbatim: its CSV and its YAML, run through the workflow."""

import re

import pandas as pd
import yaml

from .workflow_helpers import REPO, read_json, snakemake, tiny_config, write_config


def readme_blocks(language: str) -> list[str]:
    section = REPO.joinpath("README.md").read_text().split("## Add your own data", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


def test_add_your_own_data_example_works_verbatim(tmp_path):
    (csv_text,), (yaml_text,) = readme_blocks("csv"), readme_blocks("yaml")
    # The README shows the first rows of "your" file; more rows of the same kind make it trainable.
    more = "".join(
        f"r{i},Why did mill {i} stop?,Mill {i} stopped because the wheel {i} broke.,the wheel {i} broke\n"
        for i in range(60)
    )
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "my_qa.csv").write_text(csv_text + more)
    example = yaml.safe_load(yaml_text)
    config = tiny_config(example["sources"])  # the README's sources, a tiny model and short training
    config["datasets"] = example["datasets"]
    config["default_datasets"] = ["my_qa"]
    path = write_config(tmp_path, config)

    snakemake(tmp_path, "--cores", "2", "results/metrics/my_qa.json", "--configfile", str(path))

    train = pd.read_parquet(tmp_path / "results/normalized/my_qa/train.parquet")
    validation = pd.read_parquet(tmp_path / "results/normalized/my_qa/validation.parquet")
    assert len(train) + len(validation) == 62 and not set(train["id"]) & set(validation["id"])
    everything = pd.concat([train, validation]).set_index("id")
    assert everything.loc["q1", "answer"] == "the river flooded"
    assert everything.loc["q2", "answer"] == ""  # an empty gold: unanswerable
    assert read_json(tmp_path / "results/metrics/my_qa.json")["total"] == len(validation)
