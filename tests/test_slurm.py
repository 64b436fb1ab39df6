"""The real Slurm profile on a real (one-node, local) Slurm cluster: `make test` runs it, so CI does.

Skipped, with the reason printed, only where Slurm cannot be started (not root, no apt-get).
"""

import json
import re
import shutil
import subprocess
import sys
import threading
import time

import pytest
import yaml

from .slurm_cluster import SNAKEMAKE_ARGS, Unavailable, start_cluster
from .workflow_helpers import REPO, snakemake

COMPUTE_RULES = {"normalize", "scratch_tokenizer", "scratch_model", "tokenize_data", "train", "predict", "metrics"}
GPU_RULES = {"train", "predict"}
DEMO_STEPS_PER_EPOCH = 75  # 2,400 training questions, batch 32


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    try:
        cluster = start_cluster(tmp_path_factory.mktemp("slurm"), account="def-someone")
    except Unavailable as reason:
        pytest.skip(f"no Slurm here: {reason}")
    yield cluster
    cluster.stop()


def run_demo(cluster, workdir, profile=REPO / "profiles" / "slurm"):
    result = snakemake(
        workdir,
        "--profile",
        str(profile),
        "--configfile",
        str(REPO / "config" / "demo.yaml"),
        *SNAKEMAKE_ARGS,
        "results/metrics/demo.json",
        check=False,
        env=cluster.env,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]


def jobs_by_rule(jobs):
    by_rule = {}
    for job in jobs:
        # The plugin labels each job with a comment "rule_<rule>_wildcards_<values>".
        rule = job.get("Comment", "").removeprefix("rule_").split("_wildcards_")[0]
        by_rule.setdefault(rule, []).append(job)
    return by_rule


@pytest.fixture(scope="module")
def demo_run(cluster, tmp_path_factory):
    """The demo, uninterrupted, through the profile: the run every other test here compares with."""
    workdir = tmp_path_factory.mktemp("demo_through_slurm")
    shutil.copytree(REPO / "resources", workdir / "resources")  # the demo's relative source paths
    run_demo(cluster, workdir)
    return workdir, cluster.jobs()


def test_demo_runs_through_the_slurm_profile(demo_run):
    workdir, all_jobs = demo_run
    jobs = jobs_by_rule(all_jobs)
    evidence = {rule: sorted({j.get("TresPerJob", "") or "-" for j in js}) for rule, js in sorted(jobs.items())}
    print("rule -> requested TRES:", json.dumps(evidence))
    assert set(jobs) == COMPUTE_RULES, evidence  # every compute rule ran as a Slurm job; download stayed local
    for rule, rule_jobs in jobs.items():
        for job in rule_jobs:
            assert job["JobState"] == "COMPLETED", job
            assert job["Account"] == "def-someone"
            if rule in GPU_RULES:
                assert job["TresPerJob"] == "gres:gpu:a100:1", job
            else:
                assert "gpu" not in job.get("TresPerJob", "") and "gpu" not in job.get("TRES", ""), job

    metrics = json.loads((workdir / "results" / "metrics" / "demo.json").read_text())
    assert metrics["exact"] > 2 * metrics["baselines"]["always_empty"]["exact"]  # the demo still learns
    # What `make demo` prints after the run (the Makefile's own line, on this run's metrics): the score beside the
    # range benchmarks/demo_spread.py measured, and no line saying it falls outside.
    line = next(x for x in (REPO / "Makefile").read_text().splitlines() if "t5qa.report.demo_check" in x)
    words = [w.replace("results/metrics/demo.json", str(workdir / "results/metrics/demo.json")) for w in line.split()]
    shown = subprocess.run([sys.executable, *words[1:]], cwd=REPO, capture_output=True, text=True)
    print(shown.stdout)
    assert shown.returncode == 0 and len(shown.stdout.splitlines()) == 2, shown.stdout + shown.stderr
    assert (workdir / "logs" / "train" / "demo.log").stat().st_size > 0  # step logs land where they do locally


def test_a_time_limited_train_job_saves_at_the_signal_and_the_retry_resumes(cluster, demo_run, tmp_path):
    """train's first attempt gets a time limit of 3 minutes, Slurm's warning moved to 100 s before it: SIGTERM
    reaches the job step 20-80 s in (Slurm may signal up to a minute early), in a later epoch of the demo's 25 (about
    110 s of training on an idle machine). The trainer must save at the signal and exit 143; the retry (the profile's
    own retries, with time to finish: a loaded machine must not turn the test into a race of 3-minute attempts)
    resumes from that step, and the end result equals the uninterrupted run's, byte for byte.

    predict, too short here for a time limit to fall inside it, is signalled as a preemption would be (`scancel
    --signal=TERM`, which reaches the job step as the time limit's warning does) once it has kept its first batch:
    it stops after the batch in hand, exits 143, and the retry predicts only the batches it lacks, to the same
    bytes."""
    reference, earlier_jobs = demo_run
    workdir = tmp_path / "interrupted"
    shutil.copytree(reference, workdir, symlinks=True)  # data steps and their metadata: only train onwards reruns
    for produced in ("models", "checkpoints", "predictions", "metrics"):
        shutil.rmtree(workdir / "results" / produced, ignore_errors=True)
    for log in (*(workdir / "logs" / "train").iterdir(), *(workdir / "logs" / "predict").iterdir()):
        log.unlink()  # the attempts logs then hold this run's attempts only
    seen = {job["JobId"] for job in earlier_jobs}

    profile = tmp_path / "profile"
    shutil.copytree(REPO / "profiles" / "slurm", profile)
    settings = yaml.safe_load((profile / "config.yaml").read_text())
    # A resource value may be an expression of the attempt number (Snakemake evaluates it for each attempt).
    train = {"runtime": "3 if attempt == 1 else 60", "slurm_extra": "'--signal=TERM@100'"}
    settings["set-resources"]["train"].update(train)
    (profile / "config.yaml").write_text(yaml.safe_dump(settings))

    preempted = []
    watcher = threading.Thread(target=preempt_predict, args=(cluster, workdir, seen, preempted), daemon=True)
    watcher.start()
    run_demo(cluster, workdir, profile=profile)
    watcher.join(timeout=5)

    train_jobs = jobs_by_rule(j for j in cluster.jobs() if j["JobId"] not in seen)["train"]
    states = [job["JobState"] for job in sorted(train_jobs, key=lambda j: int(j["JobId"]))]
    print("train job states:", states)
    assert len(states) == 2 and states[0] != "COMPLETED" and states[1] == "COMPLETED", states

    # Snakemake deletes a job's log before each attempt; the attempts log keeps every attempt's start/stop/resume.
    log = (workdir / "logs" / "train" / "demo.attempts.log").read_text()
    print(log)
    stops = [int(step) for step in re.findall(r"stopping at step (\d+): saving checkpoint", log)]
    resumes = [int(step) for step in re.findall(r"resuming from \S+/checkpoint-(\d+)", log)]
    print("stopped at steps", stops, "resumed from", resumes)
    assert stops and stops == resumes, log[-4000:]  # every stop saved at the signal and was resumed from there
    assert stops[0] > DEMO_STEPS_PER_EPOCH, stops  # not only inside the first epoch
    slurm_logs = "".join(p.read_text(errors="replace") for p in (workdir / "logs" / "slurm").rglob("*.log"))
    assert "non-zero exit status 143" in slurm_logs  # the trainer's own exit, not a broken pipe's 1

    predict_jobs = jobs_by_rule(j for j in cluster.jobs() if j["JobId"] not in seen)["predict"]
    states = [job["JobState"] for job in sorted(predict_jobs, key=lambda j: int(j["JobId"]))]
    predict_log = (workdir / "logs" / "predict" / "demo.attempts.log").read_text()
    print("predict job states:", states, "signalled with", preempted, "\n" + predict_log)
    assert preempted and len(states) == 2 and states[0] != "COMPLETED" and states[1] == "COMPLETED", states
    assert "stopping at the signal" in predict_log and "stopped by a signal (exit 143)" in predict_log
    kept = re.findall(r"resuming: (\d+) of (\d+) batches already predicted", predict_log)
    assert len(kept) == 1 and 0 < int(kept[0][0]) < int(kept[0][1]), predict_log  # resumed mid-way
    assert not (workdir / "results/predictions/demo.jsonl.parts").exists()

    for name in ("model.safetensors",):
        assert (workdir / "results/models/demo" / name).read_bytes() == (
            reference / "results/models/demo" / name
        ).read_bytes()
    assert (workdir / "results/predictions/demo.jsonl").read_bytes() == (
        reference / "results/predictions/demo.jsonl"
    ).read_bytes()
    interrupted = json.loads((workdir / "results/metrics/demo.json").read_text())
    uninterrupted = json.loads((reference / "results/metrics/demo.json").read_text())
    print(
        "exact/f1 uninterrupted",
        uninterrupted["exact"],
        uninterrupted["f1"],
        "interrupted",
        interrupted["exact"],
        interrupted["f1"],
    )
    assert (interrupted["exact"], interrupted["f1"]) == (uninterrupted["exact"], uninterrupted["f1"])


def preempt_predict(cluster, workdir, seen: set, preempted: list) -> None:
    """Send SIGTERM to the first predict job once its first batch is kept (what preemption sends)."""
    parts = workdir / "results/predictions/demo.jsonl.parts"
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        if any(parts.glob("batch-*.jsonl")):
            running = [
                job
                for job in jobs_by_rule(j for j in cluster.jobs() if j["JobId"] not in seen).get("predict", [])
                if job["JobState"] == "RUNNING"
            ]
            if running:
                cluster.run("scancel", "--signal=TERM", running[0]["JobId"], check=False)
                preempted.append(running[0]["JobId"])
                return
        time.sleep(0.2)
