"""benchmarks/gpu_check.py, the check written to be run on a GPU node: here in --quick mode on CPU, so that the
script is known to run end to end (and its rows to be honest) before a GPU ever runs it."""

import importlib.util
import json
import math
import os
import subprocess
import sys

import pytest

from .conftest import REPO

SCRIPT = REPO / "benchmarks" / "gpu_check.py"


def load_benchmark(name: str):
    """benchmarks/<name>.py as a module (benchmarks/ is no package); registered first, as dataclasses need."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def load_script():
    return load_benchmark("gpu_check")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One --quick run on CPU (CUDA hidden, whatever the machine has): about 35 s on 2 cores."""
    out = tmp_path_factory.mktemp("gpu_check")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--out", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done, out


def test_quick_run_passes_and_writes_both_files(quick_run):
    done, out = quick_run
    result = json.loads((out / "gpu_check.json").read_text())
    assert done.returncode == 0, f"failed rows: {result['failed']}\n{done.stderr[-3000:]}"
    assert result["failed"] == []
    assert sorted(p.name for p in out.iterdir()) == ["gpu_check.json", "gpu_check.md"]  # no temporaries left
    report = (out / "gpu_check.md").read_text()
    assert report in done.stdout  # the table is printed too
    assert "| step | model | set-up |" in report and "beside the seed's 50 h" in report
    assert "6 x (N_enc x source tokens" in report  # the FLOPs formula is stated


def test_quick_run_rows(quick_run):
    _, out = quick_run
    result = json.loads((out / "gpu_check.json").read_text())
    assert result["mode"] == "quick" and result["machine"]["device"] == "cpu"
    assert result["wall_s"] < result["budget_s"]
    rows = {(r["kind"], r["model"], r["setup"].split(",")[0], r["compile"], r["processes"]): r for r in result["rows"]}
    for status in (r["status"] for r in result["rows"]):
        assert status == "ok" or (status.startswith("skipped: ") and len(status) > len("skipped: ") + 10), status

    for model in ("t5-small", "t5-base"):  # eager throughput, the pipeline's batching and the baseline's
        for setup in ("pipeline", "seq2seq_qa_384"):
            row = rows["train throughput", model, setup, False, 1]
            assert row["status"] == "ok" and row["precision"] == "fp32"
            assert row["tokens_per_s"] > 0 and row["examples_per_s"] > 0 and row["steps"] > 0
            assert row["loss_finite"] and math.isfinite(row["loss_first"]) and math.isfinite(row["loss_last"])
            assert row["mfu"] is None  # no known peak on a CPU: no MFU rather than a made-up one
        pipeline, baseline = (rows["train throughput", model, s, False, 1] for s in ("pipeline", "seq2seq_qa_384"))
        assert baseline["padding_share"] > pipeline["padding_share"]  # padding to 384 pads most of each batch

    trained = rows["pipeline train", "t5-small", "t5qa.model.train.train (Seq2SeqTrainer)", False, 1]
    assert trained["status"] == "ok" and trained["loss_finite"] and trained["eval_f1"] is not None
    assert trained["steps"] == 4 and trained["tokens_per_s"] > 0
    predicted = rows["pipeline predict", "t5-small", "t5qa.model.predict.predict (length-sorted batches", False, 1]
    assert predicted["status"] == "ok" and predicted["examples"] == result["data"]["validation_questions"] == 16

    # No GPU: the two-process rows run 2 CPU processes through the workflow's launcher (the code path).
    two = rows["pipeline train", "t5-small", "workflow/scripts/train.py", False, 2]
    assert two["status"] == "ok" and two["loss_finite"]
    assert rows["pipeline predict", "t5-small", "workflow/scripts/predict.py", False, 2]["status"] == "ok"
    # torch.compile is not measured on CPU in --quick mode, and the rows say so.
    compiled = [r for r in result["rows"] if r["compile"]]
    assert len(compiled) == 3
    assert all(r["status"].startswith("skipped: CPU: inductor") for r in compiled)

    projection = result["projection"]
    assert projection["seed_hours"] == 50 and projection["caveat"]  # a reduced model: not a real projection
    assert set(projection["hours"]) == {"pipeline batching", "(a) pad to 384"}
    assert projection["tokens_per_question"] == result["data"]["mean_tokens_per_question"] > 0


def test_peak_flops_by_device_name():
    check = load_script()
    assert check.peak_flops("NVIDIA H100 80GB HBM3")[0] == 989e12  # SXM
    assert check.peak_flops("NVIDIA H100 PCIe")[0] == 756e12
    assert check.peak_flops("NVIDIA H200")[0] == 989e12
    assert check.peak_flops("NVIDIA A100-SXM4-80GB")[0] == check.peak_flops("NVIDIA A100 80GB PCIe")[0] == 312e12
    assert check.peak_flops("NVIDIA L40S")[0] == 362e12
    assert check.peak_flops("Tesla V100-SXM2-32GB")[0] == 125e12
    assert check.peak_flops("NVIDIA H100 NVL")[0] is None
    assert check.peak_flops("NVIDIA L4") == (None, "unknown (NVIDIA L4)")


def test_model_shapes_match_the_checkpoints(tiny_tokenizer):
    """A random init at the t5-small shape has t5-small's parameter count (60,506,624), its 32,128-row embedding
    whatever the tokenizer's size; the FLOPs terms leave the embedding lookup out."""
    from transformers import AutoTokenizer

    check = load_script()
    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer)
    model = check.build(check.ARCHITECTURES["t5-small"], tokenizer)
    terms = check.flop_terms(model)
    assert terms["parameters"] == 60_506_624 and model.config.vocab_size == 32128 > len(tokenizer)
    assert terms["encoder"] + terms["decoder"] + 32128 * 512 == terms["parameters"]  # + the one shared embedding
    assert check.model_flops(terms, 10, 2, 6) == 6 * (terms["encoder"] * 10 + (terms["decoder"] + 32128 * 512) * 2)
