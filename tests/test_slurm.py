"""The real Slurm profile on a real (one-node, local) Slurm cluster: `make test` runs it, so CI does.

Skipped, with the reason printed, only where Slurm cannot be started (not root, no apt-get).
"""

import json
import shutil

import pytest

from .slurm_cluster import Unavailable, start_cluster
from .workflow_helpers import REPO, snakemake

COMPUTE_RULES = {"normalize", "scratch_tokenizer", "scratch_model", "tokenize", "train", "predict", "metrics"}
GPU_RULES = {"train", "predict"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    try:
        cluster = start_cluster(tmp_path_factory.mktemp("slurm"), account="def-someone")
    except Unavailable as reason:
        pytest.skip(f"no Slurm here: {reason}")
    yield cluster
    cluster.stop()


def test_demo_runs_through_the_slurm_profile(cluster, tmp_path):
    shutil.copytree(REPO / "resources", tmp_path / "resources")  # the demo's relative source paths
    result = snakemake(
        tmp_path,
        "--profile",
        str(REPO / "profiles" / "slurm"),
        "--configfile",
        str(REPO / "config" / "demo.yaml"),
        "--slurm-status-command",
        "squeue",
        "results/metrics/demo.json",
        check=False,
        env=cluster.env,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]

    jobs = {}
    for job in cluster.jobs():
        # The plugin labels each job with a comment "rule_<rule>_wildcards_<values>".
        rule = job.get("Comment", "").removeprefix("rule_").split("_wildcards_")[0]
        jobs.setdefault(rule, []).append(job)
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

    metrics = json.loads((tmp_path / "results" / "metrics" / "demo.json").read_text())
    assert metrics["exact"] > 2 * metrics["baselines"]["always_empty"]["exact"]  # the demo still learns
    assert (tmp_path / "logs" / "train" / "demo.log").stat().st_size > 0  # step logs land where they do locally
