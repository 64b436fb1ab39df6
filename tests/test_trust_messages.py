"""Trust (issue 30, classes 6 and 7): config mistakes are one line naming what is wrong, at DAG build, whatever the
target: a CausalQA table's names, a Python YAML tag, an unknown sweep key (once, not once per member), an evaluation
naming an unknown experiment (that line alone)."""

import pytest

from t5qa.plan.config_check import foreign_tag

from .workflow_helpers import copy_workflow, snakemake, tiny_config, write_config, write_tiny_sources


def mistake(result) -> list[str]:
    """The lines of a failed DAG build other than Snakemake's own framing (WorkflowError in file …, File …)."""
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    framing = ("Config file ", "WorkflowError in file", '  File "')
    return [
        line for line in (result.stdout + result.stderr).splitlines() if line.strip() and not line.startswith(framing)
    ]


@pytest.mark.parametrize("target", ["all", "results/causalqa_table.md"])
def test_a_causalqa_table_mistake_is_one_line_whatever_the_target(tmp_path, target):
    table = {"base": "nope", "finetuned": "default", "rows": {"a": {"original": "tiny", "random": "tiny"}}}
    config = write_config(tmp_path, tiny_config(write_tiny_sources(tmp_path), causalqa_table=table))
    result = snakemake(tmp_path, "-n", target, "--configfile", str(config), check=False)
    assert mistake(result) == ["config: causalqa_table.base: 'nope' is not a declared experiment"]


def test_an_unknown_sweep_key_is_said_once(tmp_path):
    sweep = {"name": "s", "grid": {"train.learning_rate": [0.1, 0.2], "train.bogus": [1]}}
    config = write_config(tmp_path, tiny_config(write_tiny_sources(tmp_path), sweeps=[sweep]))
    lines = mistake(snakemake(tmp_path, "-n", "--configfile", str(config), check=False))
    assert len(lines) == 1 and lines[0].startswith("sweep 's': train.bogus: unknown key"), lines


def test_an_evaluation_naming_an_unknown_experiment_is_that_line_alone(tmp_path):
    config = write_config(tmp_path, tiny_config(write_tiny_sources(tmp_path), evaluations=[{"experiments": ["nope"]}]))
    lines = mistake(snakemake(tmp_path, "-n", "--configfile", str(config), check=False))
    assert lines == ["evaluations[1]: 'nope' is neither an experiment nor a sweep"]


def test_a_python_yaml_tag_is_named_not_called_tab_indentation(tmp_path):
    """Snakemake's loader refuses the tag (nothing runs) but reports "tab indentation"; the workflow's config is read
    by the Snakefile first, which names the file, the line and the tag."""
    snakefile = copy_workflow(tmp_path)
    config = tmp_path / "config" / "config.yaml"
    lines = len(config.read_text().splitlines())
    with config.open("a") as stream:
        stream.write("\nevil: !!python/object/apply:os.system ['touch pwned']\n")
    result = snakemake(tmp_path, "-n", snakefile=snakefile, check=False)
    expected = f"{config}: line {lines + 2}: the YAML tag !!python/object/apply:os.system is not allowed"
    assert [line for line in mistake(result) if "YAML tag" in line] == [
        f"{expected} (a config holds plain values only)"
    ]
    assert "tab indentation" not in result.stderr and not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    ("text", "tag"),
    [("a: 1\nb: [x, {c: !!python/name:os.system }]\n", "!!python/name:os.system"), ("a: !custom 3\n", "!custom")],
)
def test_foreign_tags_anywhere_are_found(tmp_path, text, tag):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert f"the YAML tag {tag} is not allowed" in foreign_tag(path)


def test_plain_yaml_has_no_foreign_tag(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("a: !!str 1\nb: &x {c: 2.5, d: null, e: 2024-01-01}\nf:\n  <<: *x\n")
    assert foreign_tag(path) is None
