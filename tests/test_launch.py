"""How train and predict start (t5qa.plan.launch): plain python for one process, `accelerate launch` for several, the
user's accelerate config checked against the job before anything starts, and a hermetic launch (the user's default
accelerate config never read) when none is named."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from t5qa.errors import InputError
from t5qa.plan.launch import (
    HERMETIC_CONFIG,
    Job,
    Machine,
    check_config,
    job_shape,
    launch_command,
    rule_launcher,
    slurm_machine,
)

from .conftest import REPO
from .workflow_helpers import planned_jobs, snakemake, tiny_config, write_config, write_tiny_sources

CONFIGS = REPO / "config" / "accelerate"
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}
# Writes what the launched process sees (its pid, and the accelerate/torchrun variables of its environment) to a file
# of its own beside the probe: two processes printing to one pipe can interleave their lines.
PROBE = """
import json, os, pathlib
keep = ("ACCELERATE_", "FSDP_", "RANK", "WORLD_SIZE", "LOCAL_RANK")
seen = {"pid": os.getpid(), **{k: v for k, v in os.environ.items() if k.startswith(keep)}}
pathlib.Path(__file__).with_name(f"probe-{os.getpid()}.json").write_text(json.dumps(seen))
"""


def launch(tmp_path: Path, *options: str, env: dict | None = None) -> subprocess.CompletedProcess:
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    command = [sys.executable, "-m", "t5qa.plan.launch", *options, "--", str(probe)]
    return subprocess.run(command, capture_output=True, text=True, env=env or ONE_THREAD, timeout=300)


def probes(directory: Path) -> list[dict]:
    """What each launched probe process saw."""
    return [json.loads(path.read_text()) for path in sorted(directory.glob("probe-*.json"))]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- the job's shape and the command


def test_the_gpu_resource_counts_every_node_and_must_spread_evenly():
    assert job_shape(0) == Job(1, 1)  # a CPU-only machine: one process
    assert job_shape(8, 2).per_node == 4
    with pytest.raises(InputError, match="3 GPUs cannot be spread evenly over 2 nodes"):
        job_shape(3, 2)
    with pytest.raises(InputError, match="cannot be spread evenly"):
        job_shape(1, 2)


def test_one_process_without_a_config_is_plain_python():
    assert launch_command(["s.py", "--x"], Job(1), python="py") == ["py", "s.py", "--x"]
    assert rule_launcher(gpus=1) == "python"
    assert rule_launcher(gpus=0) == "python"


def test_several_processes_name_the_hermetic_config_and_a_named_config_replaces_it():
    hermetic = launch_command(["s.py"], Job(4), python="py")
    assert hermetic[:5] == ["py", "-m", "accelerate.commands.launch", "--config_file", str(HERMETIC_CONFIG)]
    assert "--multi_gpu" in hermetic and hermetic[-1] == "s.py"
    assert hermetic[hermetic.index("--num_processes") + 1] == "4"
    assert hermetic[hermetic.index("--main_process_port") + 1] == "0"  # a free port on one node

    named = launch_command(["s.py"], Job(1), config="fsdp.yaml", python="py")
    assert named[named.index("--config_file") + 1] == "fsdp.yaml"
    assert "--multi_gpu" not in named  # the config's distributed_type (FSDP here) decides
    assert named[named.index("--num_processes") + 1] == "1"


def test_several_nodes_add_the_machine_rank_and_the_main_address():
    command = launch_command(["s.py"], Job(8, 2), machine=Machine(1, "node01", 21234), python="py")

    def flag(name):
        return command[command.index(name) + 1]

    assert (flag("--num_processes"), flag("--num_machines"), flag("--machine_rank")) == ("8", "2", "1")
    assert (flag("--main_process_ip"), flag("--main_process_port")) == ("node01", "21234")
    assert "--deepspeed_multinode_launcher" not in command
    deepspeed = launch_command(["s.py"], Job(8, 2), "ds.yaml", Machine(0, "n", 1), "py", distributed_type="DEEPSPEED")
    assert deepspeed[deepspeed.index("--deepspeed_multinode_launcher") + 1] == "standard"  # no pdsh/ssh


def test_the_rule_runs_one_launcher_per_node_through_srun():
    words = rule_launcher(gpus=8, nodes=2, cpus=8, mpi="srun", tasks=2, tasks_per_gpu=0, config="c/fsdp.yaml")
    assert words == (
        "srun --nodes=2 --ntasks-per-node=1 --cpus-per-task=8 --kill-on-bad-exit=1 "
        "python -m t5qa.plan.launch --gpus 8 --nodes 2 --accelerate-config c/fsdp.yaml --precision auto --"
    )
    assert rule_launcher(gpus=2) == "python -m t5qa.plan.launch --gpus 2 --nodes 1 --"
    # Without the plugin's mpi resource, the plugin would start the command inside a one-node step of its own.
    with pytest.raises(InputError, match="mpi: srun, tasks: 2 .* tasks_per_gpu: 0"):
        rule_launcher(gpus=2, nodes=2, cpus=8)


def fake_scontrol(tmp_path: Path, hosts: list[str]) -> dict:
    """An scontrol on PATH that expands any node list to `hosts`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "scontrol"
    script.write_text("#!/bin/sh\n" + "".join(f"echo {host}\n" for host in hosts))
    script.chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}"}


def test_each_node_finds_its_rank_and_the_main_node_in_the_slurm_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", fake_scontrol(tmp_path, ["gpu-a", "gpu-b"])["PATH"])
    step = {"SLURM_JOB_NODELIST": "gpu-[a-b]", "SLURM_JOB_ID": "1234", "SLURM_GPUS_ON_NODE": "4"}
    assert slurm_machine(Job(8, 2), {**step, "SLURMD_NODENAME": "gpu-b", "SLURM_NODEID": "1"}) == Machine(
        1, "gpu-a", 21234
    )
    assert slurm_machine(Job(8, 2), {**step, "SLURM_NODEID": "0"}).rank == 0  # no node name: the node id
    with pytest.raises(InputError, match="Slurm gave node gpu-a 3 GPUs, but the job runs 4 processes on each node"):
        slurm_machine(Job(8, 2), {**step, "SLURMD_NODENAME": "gpu-a", "SLURM_GPUS_ON_NODE": "3"})
    with pytest.raises(InputError, match="the job asked for 3 nodes, but this step runs on 2"):
        slurm_machine(Job(3, 3), {**step, "SLURMD_NODENAME": "gpu-a", "SLURM_GPUS_ON_NODE": "1"})
    with pytest.raises(InputError, match="no Slurm job step"):
        slurm_machine(Job(2, 2), {})


# --- a named config against the job


@pytest.mark.parametrize(
    ("text", "job", "message"),
    [
        ("distributed_type: MULTI_GPU\nnum_processes: 8\n", Job(2), "num_processes 8, but the job has 2 GPUs"),
        ("distributed_type: MULTI_GPU\nnum_machines: 2\n", Job(2), "num_machines 2, but the job has 1 node "),
        ("distributed_type: FSDP\nnum_machines: 1\n", Job(4, 2), "num_machines 1, but the job has 2 nodes"),
        ("distributed_type: MULTI_GPU\n", Job(1), "MULTI_GPU needs 2 or more processes, but the job has 1 GPU"),
        ("distributed_type: 'NO'\n", Job(2), "distributed_type NO runs one process, but the job has 2 GPUs"),
        ("distributed_type: MULTI_GPU\nmixed_precision: fp16\n", Job(2), "T5 overflows in fp16"),
        ("distributed_type: MULTI_GPU\ngpu_ids: '0'\n", Job(2), "gpu_ids 0 does not name the 2 GPU"),
        ("distributed_type: MULTI_GPU\nnot_a_field: 1\n", Job(2), r"not a config accelerate can read .*not_a_field"),
        ("distributed_type: [\n", Job(2), "not a config accelerate can read"),
        ("mixed_precision: bf16\n", Job(2), "A `distributed_type` must be specified"),
    ],
)
def test_a_config_that_contradicts_the_job_is_refused(tmp_path, text, job, message):
    path = write(tmp_path, "accelerate.yaml", text)
    with pytest.raises(InputError, match=message):
        check_config(path, job)


def test_the_shipped_configs_pass_for_jobs_they_fit(tmp_path):
    for job in (Job(2), Job(8), Job(8, 2)):
        check_config(CONFIGS / "ddp.yaml", job)
        check_config(CONFIGS / "fsdp.yaml", job)
    check_config(CONFIGS / "fsdp.yaml", Job(1))  # FSDP on one GPU (e.g. to offload) is fine, DDP is not
    with pytest.raises(InputError, match="bf16 contradicts the step's precision fp32"):
        check_config(CONFIGS / "fsdp.yaml", Job(2), precision="fp32")
    with pytest.raises(InputError, match="no such file"):
        check_config(tmp_path / "missing.yaml", Job(2))


def test_a_refused_config_is_one_error_line_and_nothing_starts(tmp_path):
    config = write(tmp_path, "eight.yaml", "distributed_type: MULTI_GPU\nnum_processes: 8\n")
    result = launch(tmp_path, "--gpus", "1", "--accelerate-config", str(config))
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "num_processes 8, but the job has 1 GPU" in errors[0] and "Traceback" not in result.stderr
    assert not probes(tmp_path)


# --- hermetic launches, and what starts runs in the launcher's place


@pytest.fixture
def poisoned_hf_home(tmp_path):
    """A user default accelerate config that would run the job on the CPU, and that accelerate cannot even parse."""
    home = tmp_path / "hf_home"
    (home / "accelerate").mkdir(parents=True)
    (home / "accelerate" / "default_config.yaml").write_text(
        "compute_environment: LOCAL_MACHINE\ndistributed_type: MULTI_GPU\nuse_cpu: true\nnum_processes: 2\n"
        "a_key_from_another_accelerate_version: 1\n"
    )
    return {**ONE_THREAD, "HF_HOME": str(home)}


def test_the_poisoned_default_config_does_crash_a_plain_accelerate_launch(tmp_path, poisoned_hf_home):
    """The fixture is real poison: accelerate reads it whenever no --config_file is named, flags or not."""
    probe = write(tmp_path, "probe.py", PROBE)
    plain = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", str(probe)]
    result = subprocess.run(plain, capture_output=True, text=True, env=poisoned_hf_home, timeout=300)
    assert result.returncode != 0 and "a_key_from_another_accelerate_version" in result.stderr


def test_without_a_named_config_the_users_default_config_never_reaches_the_job(tmp_path, poisoned_hf_home):
    result = launch(tmp_path, "--gpus", "2", env=poisoned_hf_home)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = probes(tmp_path)
    assert sorted(p["RANK"] for p in seen) == ["0", "1"]
    assert all(p.get("ACCELERATE_USE_CPU", "False") == "False" for p in seen), seen
    assert all(p["ACCELERATE_MIXED_PRECISION"] == "no" for p in seen)


def test_a_named_config_reaches_the_job(tmp_path, poisoned_hf_home):
    result = launch(tmp_path, "--gpus", "2", "--accelerate-config", str(CONFIGS / "fsdp.yaml"), env=poisoned_hf_home)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = probes(tmp_path)
    assert len(seen) == 2
    for probe in seen:
        assert probe["ACCELERATE_USE_FSDP"] == "true" and probe["ACCELERATE_MIXED_PRECISION"] == "bf16"
        assert probe["FSDP_TRANSFORMER_CLS_TO_WRAP"] == "T5Block" and probe["FSDP_SHARDING_STRATEGY"] == "FULL_SHARD"
        assert probe["FSDP_STATE_DICT_TYPE"] == "FULL_STATE_DICT"


@pytest.mark.parametrize("config", [None, "distributed_type: 'NO'\nmixed_precision: 'no'\n"])
def test_one_process_replaces_the_launcher(tmp_path, poisoned_hf_home, config):
    """No launcher process stays between the caller and the script (a signal reaches the trainer itself), with or
    without a one-process config; that config's settings still reach the script."""
    options = ["--gpus", "1"]
    if config:
        options += ["--accelerate-config", str(write(tmp_path, "one.yaml", config))]
    probe = write(tmp_path, "probe.py", PROBE)
    process = subprocess.Popen(
        [sys.executable, "-m", "t5qa.plan.launch", *options, "--", str(probe)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=poisoned_hf_home,
    )
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    (seen,) = probes(tmp_path)
    assert seen["pid"] == process.pid
    if config:
        assert seen["ACCELERATE_MIXED_PRECISION"] == "no" and seen["ACCELERATE_USE_CPU"] == "False"


# --- through Snakemake: the config's content is tracked


@pytest.mark.slow
def test_editing_the_accelerate_config_reruns_training_and_moving_it_does_not(tmp_path):
    """A one-process config (distributed_type NO) in the real workflow: the job runs, the config's content is a
    tracked param (an edit retrains), its path and modification time are not."""
    config_file = write(tmp_path, "accel.yaml", "distributed_type: 'NO'\nmixed_precision: 'no'\n")
    sources = write_tiny_sources(tmp_path)
    config = tiny_config(sources, train={"accelerate_config": str(config_file), "max_steps": 3, "eval_steps": 0})
    path = write_config(tmp_path, config)
    snakemake(tmp_path, "--cores", "2", "results/models/tiny", "--configfile", str(path))
    log = (tmp_path / "logs" / "train" / "tiny.log").read_text()
    assert f"launch (accelerate config {config_file}): " in log  # the launcher's own line

    def plan() -> set[str]:
        return set(planned_jobs(tmp_path, write_config(tmp_path, config), "results/models/tiny"))

    assert plan() == set()
    config_file.touch()
    assert plan() == set()
    moved = tmp_path / "moved.yaml"
    shutil.copy(config_file, moved)
    config["train"]["accelerate_config"] = str(moved)
    assert plan() == set()
    moved.write_text(moved.read_text() + "debug: false\n")
    assert plan() == {"train"}
