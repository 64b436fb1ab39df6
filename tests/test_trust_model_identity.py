"""Trust (issue 30, class 5), end to end: a local starting model folder whose weights were replaced (same path, other
bytes) is trained and predicted again, its old predictions never scored as the new model's. A dry run over outputs
made to exist (`--touch` records each job's params, as a real run does): nothing to do, then after the swap the
train job and the predict job of an experiment that predicts from the folder (finetune: false) are planned again."""

from .workflow_helpers import snakemake, tiny_config, write_config, write_tiny_sources

FOLDERS = ("results/models/tiny", "results/tokenized/tiny")  # the directory() outputs of this DAG


def test_new_weights_under_the_same_path_plan_train_and_predict_again(tmp_path):
    model = tmp_path / "start"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"A" * 64)
    config = tiny_config(write_tiny_sources(tmp_path), experiments={"asis": {"finetune": False}})
    config["model"] = {**config["model"], "name_or_path": str(model), "tokenizer": "google-t5/t5-small"}
    path = write_config(tmp_path, config)
    summary = snakemake(tmp_path, "-n", "--detailed-summary", "--configfile", str(path)).stdout
    for output in [line.split("\t")[0] for line in summary.splitlines()[1:]]:
        target = tmp_path / output
        if output in FOLDERS:
            target.mkdir(parents=True)
            (target / "part").touch()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch()
    snakemake(tmp_path, "--touch", "--cores", "1", "--configfile", str(path))
    assert "Nothing to be done" in snakemake(tmp_path, "-n", "--configfile", str(path)).stdout
    (model / "model.safetensors").write_bytes(b"B" * 64)  # same size, other weights
    planned = snakemake(tmp_path, "-n", "--configfile", str(path)).stdout
    changed = planned.split("params have changed since last execution:")[1].splitlines()[1]
    assert sorted(changed.strip().split(", ")) == ["predict", "train"], planned
