"""`t5qa estimate`: the workflow's own train and predict jobs, their tokens, FLOPs and hours, and the warning when
the profile's runtime is shorter than the estimate."""

import json
import shutil

import pytest
import torch
import yaml
from transformers import T5Config, T5ForConditionalGeneration

from t5qa.commands.estimate import main
from t5qa.plan.estimate import KNOWN_SHAPES, shape_terms

from .conftest import REPO

# The demo's tokenize stats as the tokenize step writes them (the parts the estimate reads).
DEMO_STATS = {
    split: {
        "rows": rows,
        "model_inputs": rows,
        "source_length": {"mean": 43.0, "max": 65},
        "target_length": {"mean": 4.3, "max": 8},
    }
    for split, rows in (("train", 2400), ("validation", 400))
}


@pytest.mark.parametrize("name", ["t5-small", "t5-base"])
def test_the_parameter_count_from_the_config_is_the_models(name):
    config = {**KNOWN_SHAPES[name], "vocab_size": 32128}
    with torch.device("meta"):  # counts without allocating the weights
        model = T5ForConditionalGeneration(T5Config(**config))
    assert shape_terms(config)["parameters"] == model.num_parameters()


def test_the_demo_estimate_lists_train_and_predict_and_warns_about_a_short_runtime(tmp_path, monkeypatch, capsys):
    shutil.copytree(REPO / "resources", tmp_path / "resources")
    (tmp_path / "results" / "tokenized").mkdir(parents=True)
    (tmp_path / "results" / "tokenized" / "demo.stats.json").write_text(json.dumps(DEMO_STATS))
    profile = tmp_path / "profile"
    settings = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    settings["set-resources"]["train"]["runtime"] = 1e-5  # minutes: shorter than any training
    profile.mkdir()
    (profile / "config.yaml").write_text(yaml.safe_dump(settings))
    monkeypatch.chdir(tmp_path)
    main(["--configfile", str(REPO / "config" / "demo.yaml"), "--profile", str(profile), "--utilisation", "0.5"])
    out = capsys.readouterr().out
    print(out)
    lines = out.splitlines()
    assert "A100" in lines[0] and "at 50% utilisation (given)" in lines[0]
    train = next(line for line in lines if line.startswith("train results/models/demo (1 GPU): "))
    # 1,875 steps x 32 examples x (43 source + 5.3 target tokens) with the demo's 1.05 M-parameter scratch model.
    assert "1,875 steps x 32 examples = 25.0 epochs of 2,400 inputs (43 + 5 tokens each, tokenize stats)" in train
    assert "4 evaluations of 400 inputs" in train and "1.0 M parameters (the scratch_model job's settings)" in train
    flops = float(train.split(": ", 1)[1].split(" FLOPs")[0])
    terms = shape_terms(
        {
            **yaml.safe_load((REPO / "config" / "demo.yaml").read_text())["model"]["scratch"]["architecture"],
            "vocab_size": 1000,
        }
    )
    training = 6 * (terms["encoder"] * 60000 * 43 + (terms["decoder"] + terms["lm_head"]) * 60000 * 5.3)
    evaluation = 4 * 2 * (terms["encoder"] * 400 * 43 + (terms["decoder"] + terms["lm_head"]) * 400 * 9)
    assert flops == pytest.approx(training + evaluation, rel=1e-2)
    assert any(line.startswith("  WARNING: the profile's runtime for train is 1e-05 min") for line in lines)
    assert any(line.startswith("predict results/predictions/demo.jsonl (1 GPU): ") for line in lines)
    assert lines[-1].startswith("FLOPs: training FLOPs = 6 x")


def test_before_the_data_exists_the_total_says_unknown_not_zero(tmp_path, monkeypatch, capsys):
    shutil.copytree(REPO / "resources", tmp_path / "resources")  # the demo's sources, not normalized yet
    monkeypatch.chdir(tmp_path)
    main(["--configfile", str(REPO / "config" / "demo.yaml")])
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("train results/models/demo (1 GPU): unknown: ") for line in lines)
    total = next(line for line in lines if line.startswith("total: "))
    assert total.startswith("total: unknown: 2 of 2 jobs unknown (above)"), total
