import json
import math

import pytest
from matplotlib.image import imread

from t5qa.errors import InputError
from t5qa.model.plot_training import describe_best, load_training_log, plot_training

from .conftest import run_script

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def training_log(best=None, history=None) -> dict:
    """A run as training writes it: training entries every 200 steps, an evaluation every 500, the summary last."""
    if history is None:
        history = [{"loss": 3.0 - step / 1000, "epoch": step / 75, "step": step} for step in range(200, 1875, 200)]
        history += [
            {"eval_loss": 1.5 - step / 5000, "eval_exact": step / 30, "eval_f1": step / 25, "step": step}
            for step in (500, 1000, 1500)
        ]
        history.sort(key=lambda entry: entry["step"])
        history.append({"train_runtime": 103.9, "train_loss": 0.66, "epoch": 25.0, "step": 1875})
    return {"best": best, "final_step": 1875, "stopped_early": False, "eval_examples": 400, "log_history": history}


def assert_png(path):
    assert path.read_bytes()[:8] == PNG_MAGIC
    image = imread(path)
    height, width = image.shape[:2]
    assert height >= 400 and width >= 400
    assert image.std() > 0  # something is drawn on the white
    assert not list(path.parent.glob(f".{path.name}.*")), "a temporary was left beside the output"


def test_plots_a_whole_run(tmp_path):
    output = tmp_path / "plots" / "training.png"
    plot_training(training_log(best={"metric": "f1", "value": 60.0, "step": 1500}), output, "squad2")
    assert_png(output)


@pytest.mark.parametrize(
    "history",
    [
        pytest.param([{"loss": 2.0, "step": 10}, {"train_runtime": 1.0, "train_loss": 2.0, "step": 10}], id="no-evals"),
        pytest.param([{"eval_loss": 1.0, "eval_exact": 50.0, "eval_f1": 55.0, "step": 10}], id="one-eval"),
        pytest.param([{"loss": 2.0, "step": 10}], id="one-training-point"),
        pytest.param([{"eval_loss": 1.0, "step": 10}, {"eval_loss": 0.9, "step": 20}], id="evals-without-scores"),
        pytest.param([], id="empty"),
        pytest.param(
            [
                {"loss": math.nan, "step": 10},
                {"loss": 1.0, "step": 20},
                {"eval_loss": math.nan, "eval_f1": math.nan, "eval_exact": 40.0, "step": 20},
                {"eval_loss": math.nan, "eval_f1": math.nan, "eval_exact": math.nan, "step": 30},
                {"loss": math.inf, "step": 40},
            ],
            id="nan-and-inf",
        ),
    ],
)
def test_plots_sparse_and_broken_runs(tmp_path, history):
    output = tmp_path / "training.png"
    plot_training(training_log(history=history), output, "a run")
    assert_png(output)


def test_best_step_label():
    assert describe_best({"metric": "f1", "value": 71.5, "step": 1500}) == "best (f1 71.5 @ step 1500)"
    assert describe_best({"metric": "loss", "value": 0.123456, "step": 20}) == "best (loss 0.1235 @ step 20)"


def test_replaces_an_existing_plot(tmp_path):
    output = tmp_path / "training.png"
    output.write_bytes(b"old")
    plot_training(training_log(), output, "a run")
    assert_png(output)


def trainer_state(best_step: int | None) -> dict:
    history = training_log()["log_history"]
    best_f1 = (
        next(e["eval_f1"] for e in history if e.get("step") == best_step and "eval_f1" in e) if best_step else None
    )
    return {"best_metric": best_f1, "best_global_step": best_step, "global_step": 1875, "log_history": history}


def test_reads_a_checkpoints_trainer_state(tmp_path):
    path = tmp_path / "trainer_state.json"
    path.write_text(json.dumps(trainer_state(best_step=1000)))
    log = load_training_log(path)
    assert log["best"] == {"metric": "f1", "value": 40.0, "step": 1000}  # the metric is found in the evaluation
    assert log["final_step"] == 1875 and len(log["log_history"]) == 13

    path.write_text(json.dumps(trainer_state(best_step=None)))
    assert load_training_log(path)["best"] is None


def test_reads_nan_values(tmp_path):
    path = tmp_path / "log_history.json"
    path.write_text('{"best": null, "log_history": [{"eval_loss": NaN, "eval_f1": NaN, "step": 5}]}')
    log = load_training_log(path)
    assert math.isnan(log["log_history"][0]["eval_f1"])
    plot_training(log, tmp_path / "training.png", "nan")
    assert_png(tmp_path / "training.png")


BAD_LOGS = {
    "not JSON": ('{"log_history": [', "not valid JSON"),
    "a list": ("[1, 2]", 'no "log_history" list'),
    "no log_history": ('{"best": null}', 'no "log_history" list'),
    "log_history not a list": ('{"best": null, "log_history": {}}', 'no "log_history" list'),
    "an entry not an object": ('{"best": null, "log_history": [3]}', "entry 0 must be an object, not an integer"),
    "best without a step": ('{"best": {"metric": "f1"}, "log_history": []}', '"best" must be null or an object'),
    "not UTF-8": (b"\xff\xfe{}", "not UTF-8 text"),
}


@pytest.mark.parametrize("content, problem", BAD_LOGS.values(), ids=BAD_LOGS.keys())
def test_refuses_bad_logs(tmp_path, content, problem):
    path = tmp_path / "log_history.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(InputError, match=problem) as refused:
        load_training_log(path)
    assert str(refused.value).startswith(f"{path}: ")


def test_refuses_a_missing_log(tmp_path):
    with pytest.raises(InputError, match="training log not found"):
        load_training_log(tmp_path / "missing.json")


def test_cli_plots_a_trainer_state(tmp_path):
    state = tmp_path / "checkpoint-1500" / "trainer_state.json"
    state.parent.mkdir()
    state.write_text(json.dumps(trainer_state(best_step=1500)))
    output = tmp_path / "out" / "progress.png"
    run_script("plot_training.py", "--log-history", str(state), "--output", str(output), "--title", "squad2 so far")
    assert_png(output)


@pytest.mark.parametrize(
    "content, problem",
    [(None, "training log not found"), ("{not json", "not valid JSON"), ('{"global_step": 3}', 'no "log_history"')],
    ids=["missing", "not-json", "no-log-history"],
)
def test_cli_refuses_bad_input_in_one_line(tmp_path, content, problem):
    log = tmp_path / "log_history.json"
    if content is not None:
        log.write_text(content)
    output = tmp_path / "training.png"
    result = run_script("plot_training.py", "--log-history", str(log), "--output", str(output), check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(f"error: {log}: ") and problem in errors[0]
    assert not output.exists()
    assert not list(tmp_path.glob(".training.png.*"))
