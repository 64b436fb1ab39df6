"""The Snakemake workflow itself: lint, dry runs of the shipped config, and the whole DAG on tiny data."""

import base64
import json
import re
from pathlib import Path

from t5qa.manifest import sha256_of

from .workflow_helpers import REPO, planned_jobs, read_json, snakemake, tiny_config, write_config, write_tiny_sources


def test_lint_is_clean(tmp_path):
    result = snakemake(REPO, "--lint", "--configfile", str(REPO / "config" / "demo.yaml"))
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


def test_dry_run_of_the_real_targets_plans_the_right_jobs(tmp_path):
    config = REPO / "config" / "config.yaml"
    squad = planned_jobs(tmp_path, config, "results/metrics/squad2.json")
    assert squad == {
        "prefetch_hub": 2,
        "download": 2,
        "normalize": 2,
        "tokenize_data": 1,
        "train": 1,
        "predict": 1,
        "metrics": 1,
    }
    causal = planned_jobs(tmp_path, config, "results/metrics/causalqa.json")
    assert causal == {
        "prefetch_hub": 2,
        "download_archive": 1,
        "download": 18,
        "normalize": 18,
        "tokenize_data": 1,
        "train": 1,
        "predict": 1,
        "metrics": 1,
    }


def test_eli5_explains_what_the_user_must_supply(tmp_path):
    result = snakemake(tmp_path, "-n", "results/metrics/causalqa_eli5.json", check=False)
    assert result.returncode != 0
    assert "carries only ids for ELI5" in result.stdout + result.stderr


def test_bad_config_is_rejected_at_start(tmp_path):
    config = tiny_config(write_tiny_sources(tmp_path), train={"learning_rate": -1})
    result = snakemake(tmp_path, "-n", "--configfile", str(write_config(tmp_path, config)), check=False)
    assert result.returncode != 0
    assert "learning_rate" in result.stdout + result.stderr


def test_whole_dag_on_tiny_data(tiny_dag):
    root, terminal, tokenized_hash = tiny_dag  # (this test then adds the default target's plot and page)
    config = root / "config.yaml"
    metrics = read_json(root / "results" / "metrics" / "tiny.json")
    # The long steps' own lines reach the terminal the run was started from; the log has them too, one per entry.
    assert re.search(r"\[train tiny\] train step=\d+/15 epoch=[\d.]+ loss=[\d.]+", terminal), terminal[-3000:]
    assert "[predict tiny.jsonl] wrote " in terminal, terminal[-3000:]
    train_log = (root / "logs" / "train" / "tiny.log").read_text()
    assert re.search(r"t5qa.model.train INFO train step=\d+/15 epoch=[\d.]+ loss=", train_log)
    assert re.search(r"t5qa.model.train INFO summary step=15/15 epoch=[\d.]+ train_runtime=", train_log)
    assert "{'loss'" not in train_log  # no printed dicts
    assert metrics["dataset"] == "tiny" and metrics["total"] == metrics["HasAns_total"] + metrics["NoAns_total"]
    assert set(metrics["per_source"]) == {"tiny_squad", "tiny_causalqa"}
    # Downstream steps never wrote into the upstream Arrow folder (the datasets cache trap).
    assert sha256_of(root / "results" / "tokenized" / "tiny") == tokenized_hash

    model = root / "results" / "models" / "tiny"
    manifest = read_json(model / "run_manifest.json")
    assert manifest["settings"]["learning_rate"] == 0.003 and manifest["git"]["commit"]
    assert "sha256" in manifest["inputs"]["tokenized"]
    assert not (root / "results" / "checkpoints" / "tiny").exists()  # removed once the model is saved
    for log in [
        "normalize/tiny_squad/train.log",
        "tokenize_data/tiny.log",
        "train/tiny.log",
        "predict/tiny.log",
        "metrics/tiny.log",
    ]:
        assert (root / "logs" / log).stat().st_size > 0, log
    predictions = [json.loads(line) for line in (root / "results/predictions/tiny.jsonl").read_text().splitlines()]
    assert len(predictions) == metrics["total"]
    # Beside the metrics, every question with its gold, prediction and F1, worst first.
    questions = (root / "results/metrics/tiny.questions.csv").read_text().splitlines()
    assert questions[0] == "f1,exact,source,id,question,gold,prediction,na_prob" and len(questions) > metrics["total"]

    # transformers 5 removed the text2text pipeline; the saved folder loads with the Auto classes.
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tokenizer, loaded = AutoTokenizer.from_pretrained(model), AutoModelForSeq2SeqLM.from_pretrained(model)
    generated = loaded.generate(
        **tokenizer(["question: Why? context: Because."], return_tensors="pt"), max_new_tokens=4
    )
    assert isinstance(tokenizer.decode(generated[0], skip_special_tokens=True), str)

    # Beside the weights: the log history, TensorBoard events, curves and the model card.
    history = read_json(model / "log_history.json")
    assert history["best"]["step"] == history["final_step"] == 15  # eval_steps 500: the last step is evaluated
    assert list((model / "runs").glob("events.out.tfevents.*"))
    assert (model / "training_curves.png").is_file() and "AutoModelForSeq2SeqLM" in (model / "README.md").read_text()

    # The default target adds the plot and the report page; `--report` embeds both.
    snakemake(root, "--cores", "2", "--configfile", str(config))
    snakemake(root, "--report", "report.html", "--configfile", str(config))
    embedded = report_files(root / "report.html")
    assert embedded["results/plots/tiny.training.png"] == (root / "results/plots/tiny.training.png").read_bytes()
    page = embedded["results/report/tiny.html"].decode()
    assert f"{metrics['f1']:.2f}" in page and "tiny_causalqa" in page and "p95" in page

    rerun = snakemake(root, "-n", "--configfile", str(config))
    assert "Nothing to be done" in rerun.stdout + rerun.stderr


def report_files(report: Path) -> dict[str, bytes]:
    """The files a Snakemake HTML report embeds (base64 data URIs in its `results` object), by path."""
    text = report.read_text()
    results = json.loads(re.search(r"var results = (\{.*?\});\n", text, re.S).group(1))
    return {path: base64.b64decode(entry["data_uri"].split("base64,", 1)[1]) for path, entry in results.items()}


def test_unknown_dataset_is_a_clear_error(tmp_path):
    result = snakemake(tmp_path, "-n", "results/metrics/nope.json", check=False)
    assert "dataset 'nope' is not declared" in result.stdout + result.stderr


def test_the_slurm_profile_gives_each_job_its_threads_and_flags_the_placeholder_account(tmp_path):
    """A dry run through the Slurm profile shows the threads a job gets (set-threads: train 8, predict 4), not the
    login node's cores; the profile's placeholder account is named at once, a real one is not."""
    profile = ("--profile", str(REPO / "profiles" / "slurm"), "-p", "results/metrics/squad2.json")
    result = snakemake(tmp_path, "-n", *profile)
    output = result.stdout + result.stderr
    train = next(line for line in output.splitlines() if "workflow/scripts/train.py" in line and "exec " in line)
    predict = next(line for line in output.splitlines() if "workflow/scripts/predict.py" in line and "exec " in line)
    assert "--threads 8" in train and "--threads 4" in predict
    assert "warning: slurm_account is the profile's placeholder def-someone" in output
    own = snakemake(tmp_path, "-n", *profile, "--default-resources", "slurm_account=def-mylab")
    assert "placeholder" not in own.stdout + own.stderr
