"""Training on several machines: two "machines" on this CPU (two launchers, `--num_machines 2`, gloo over localhost,
one process each) train to the same weights as two processes on one machine, write checkpoints and the model once,
and stop together at one step when only one of them gets SIGTERM. Then the same through the real Slurm profile on a
local two-node Slurm cluster (two slurmd on this host): a `nodes: 2` train job runs one launcher per node via srun.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

from .conftest import REPO
from .slurm_cluster import SNAKEMAKE_ARGS, Unavailable, start_cluster
from .trained import ONE_THREAD, assert_same_weights, train_command, wait_for_checkpoint
from .workflow_helpers import snakemake, tiny_config, write_config, write_tiny_sources


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def machine_launcher(rank: int, port: int) -> list[str]:
    """What srun starts on each node, with the rank and main address given instead of read from Slurm."""
    return [
        sys.executable,
        "-m",
        "t5qa.plan.launch",
        "--gpus",
        "2",
        "--nodes",
        "2",
        "--machine-rank",
        str(rank),
        "--main-address",
        "127.0.0.1",
        "--main-port",
        str(port),
        "--",
    ]


def start_machines(prepared: Path, out: Path) -> list[subprocess.Popen]:
    port = free_port()
    return [
        subprocess.Popen(
            train_command(prepared, out, machine_launcher(rank, port)),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=ONE_THREAD,
            start_new_session=True,  # each "machine" its own process group, signalled as a whole
        )
        for rank in (0, 1)
    ]


def finish(machines: list[subprocess.Popen], timeout: float = 300) -> list[str]:
    deadline = time.monotonic() + timeout
    outputs = []
    for machine in machines:
        output, _ = machine.communicate(timeout=max(1, deadline - time.monotonic()))
        outputs.append(output)
    return outputs


def test_two_machines_train_like_two_processes_on_one(prepared, uninterrupted_two, tmp_path):
    machines = start_machines(prepared, tmp_path)
    outputs = finish(machines)
    for machine, output in zip(machines, outputs):
        assert machine.returncode == 0, output[-3000:]
    assert "machine 0 of 2, main 127.0.0.1" in outputs[0] and "--machine_rank 1" in outputs[1]
    # Written once, by the global main process (machine 0): machine 1 logs no "finished"/"keeping" lines of its own.
    assert "keeping the model of step" in outputs[0] and "keeping the model of step" not in outputs[1]
    assert not (tmp_path / "checkpoints").exists()
    assert_same_weights(tmp_path / "model", uninterrupted_two / "model")


def test_sigterm_on_one_machine_stops_both_at_one_step_and_they_resume_to_the_same_model(
    prepared, uninterrupted_two, tmp_path
):
    """Slurm signals every node, but not at the same instant: a signal on one machine alone must stop both at the
    end of the same step (StopOnSignal's all-reduce spans the machines), with one complete checkpoint."""
    machines = start_machines(prepared, tmp_path)
    wait_for_checkpoint(tmp_path / "checkpoints", 24, machines[0])
    os.killpg(machines[1].pid, signal.SIGTERM)
    outputs = finish(machines)
    stops = [re.findall(r"stopping at step (\d+): saving checkpoint", output) for output in outputs]
    assert all(len(found) == 1 for found in stops), outputs[0][-3000:] + outputs[1][-3000:]
    assert stops[0] == stops[1]  # one step on both machines
    saved = tmp_path / "checkpoints" / f"checkpoint-{stops[0][0]}"
    assert {"rng_state_0.pth", "rng_state_1.pth", "t5qa_run.json", "optimizer.pt"} <= {p.name for p in saved.iterdir()}
    assert not (tmp_path / "model").exists()

    machines = start_machines(prepared, tmp_path)
    outputs = finish(machines)
    for machine, output in zip(machines, outputs):
        assert machine.returncode == 0, output[-3000:]
    assert f"resuming from {saved}" in outputs[0]
    assert_same_weights(tmp_path / "model", uninterrupted_two / "model")


# --- through the Slurm profile, on two Slurm nodes

# What a multi-node train job needs in the profile (docs/cluster.md): the nodes, the GPUs of all of them together, and
# the plugin's `mpi` mode, in which it runs the rule's command as it is (the rule's own srun starts one launcher per
# node).
TWO_NODES = {"nodes": 2, "gpu": 2, "mpi": "srun", "tasks": 2, "tasks_per_gpu": 0}


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory):
    try:
        cluster = start_cluster(tmp_path_factory.mktemp("slurm_two_nodes"), account="def-someone", nodes=2, gpus=1)
    except Unavailable as reason:
        pytest.skip(f"no Slurm here: {reason}")
    yield cluster
    cluster.stop()


def test_a_two_node_slurm_job_trains_what_two_local_processes_train(two_nodes, tmp_path):
    sources = write_tiny_sources(tmp_path)
    config = write_config(tmp_path, tiny_config(sources, train={"eval_steps": 0}))
    # The reference: two processes on this machine. One thread per training process in both runs: float sums split
    # over threads differ in their last bits.
    local = tmp_path / "local"
    local.mkdir()
    snakemake(
        local,
        "results/models/tiny",
        "--cores",
        "2",
        "--configfile",
        str(config),
        "--set-threads",
        "train=1",
        "--set-resources",
        "train:gpu=2",
    )

    profile = tmp_path / "profile"
    shutil.copytree(REPO / "profiles" / "slurm", profile)
    settings = yaml.safe_load((profile / "config.yaml").read_text())
    settings["set-resources"]["train"].update(TWO_NODES)
    settings["set-threads"]["train"] = 1
    (profile / "config.yaml").write_text(yaml.safe_dump(settings))
    workdir = tmp_path / "slurm"
    workdir.mkdir()
    result = snakemake(
        workdir,
        "--profile",
        str(profile),
        *SNAKEMAKE_ARGS,
        "results/models/tiny",
        "--configfile",
        str(config),
        check=False,
        env=two_nodes.env,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]

    train_jobs = [job for job in two_nodes.jobs() if job.get("Comment", "").startswith("rule_train_")]
    assert len(train_jobs) == 1 and train_jobs[0]["JobState"] == "COMPLETED", train_jobs
    assert train_jobs[0]["NumNodes"] == "2", train_jobs[0]
    log = (workdir / "logs" / "train" / "tiny.log").read_text()
    launches = re.findall(r"launch \(machine (\d) of 2, main (\S+):(\d+)\)", log)
    assert sorted(rank for rank, _, _ in launches) == ["0", "1"], log[-3000:]
    assert len({(main, port) for _, main, port in launches}) == 1  # both nodes meet at one address
    assert log.count("keeping the model of step") + log.count("finished:") <= 2  # the main process only
    first = load_file(workdir / "results" / "models" / "tiny" / "model.safetensors")
    second = load_file(local / "results" / "models" / "tiny" / "model.safetensors")
    assert first.keys() == second.keys()
    assert all((first[k] == second[k]).all() for k in first)
