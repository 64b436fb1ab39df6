"""How train and predict start: one process as plain `python`; several (one per GPU of the job, on one node or on
several) under `accelerate launch`, with the accelerate config the user names, or none at all.

- **Hermetic without a named config.** `accelerate launch` reads the user's default config
  ($HF_HOME/accelerate/default_config.yaml) whenever no `--config_file` is given, flags or not: its `use_cpu: true`
  would reach the job as ACCELERATE_USE_CPU, and an unknown key in it crashes the launch. So a launch always names a
  config: the user's (`train.accelerate_config`, `predict.accelerate_config`) or this package's minimal
  accelerate_hermetic.yaml.
- **The job's resources win.** The number of processes (the job's GPUs, all nodes together), of machines (the
  `nodes` resource), this machine's rank and the main address and port are always the launcher's own flags. A named
  config that contradicts them (num_processes 8 on a 1-GPU job, num_machines 2 on a 1-node job, MULTI_GPU with one
  process, fp16, ...) is one `error:` line before anything starts.
- **Several nodes.** The rule runs `srun --nodes N --ntasks-per-node 1 ... python -m t5qa.plan.launch ...`: one launcher
  per node, each finding its machine rank and the main node (the first host of the step's node list) in the Slurm
  environment; the main port is derived from the job id, so every node agrees on it.
- **Signals.** The launcher never stays between Snakemake (or srun) and the trainer as a process of its own: it
  replaces itself (exec) with the trainer, or with accelerate's launcher (torchrun), which forwards SIGTERM to the
  training processes and waits for them.

Run as `python -m t5qa.plan.launch --gpus G [--nodes N] [--accelerate-config FILE] -- SCRIPT ARGS...`.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from t5qa import cli
from t5qa.cli import first_line
from t5qa.errors import InputError

log = logging.getLogger("t5qa.plan.launch")
HERMETIC_CONFIG = Path(__file__).with_name("accelerate_hermetic.yaml")
# The distributed types this launcher starts. FSDP and DeepSpeed run under torchrun even with one process.
DISTRIBUTED_TYPES = ("NO", "MULTI_GPU", "FSDP", "DEEPSPEED")
TORCHRUN_TYPES = ("MULTI_GPU", "FSDP", "DEEPSPEED")
DEFAULT_PORT = 29500


@dataclass(frozen=True)
class Job:
    """The processes a job runs: one per GPU (one on a machine without any), spread evenly over its nodes."""

    processes: int
    nodes: int = 1

    @property
    def per_node(self) -> int:
        return self.processes // self.nodes


def job_shape(gpus: int, nodes: int = 1) -> Job:
    """The `gpu` resource counts the GPUs of the whole job (Slurm's --gpus), `nodes` its nodes."""
    if nodes < 1:
        raise InputError(f"nodes must be 1 or more, not {nodes}")
    if gpus < 0:
        raise InputError(f"gpu must be 0 or more, not {gpus}")
    if nodes > 1 and (gpus < nodes or gpus % nodes):
        raise InputError(
            f"{gpus} GPUs cannot be spread evenly over {nodes} nodes: the gpu resource counts the GPUs of all the "
            f"job's nodes together, so ask for a multiple of {nodes} (e.g. gpu: {4 * nodes} for 4 per node)"
        )
    return Job(processes=max(1, gpus), nodes=nodes)


# --- the user's accelerate config


def read_accelerate_config(path: str | Path) -> dict:
    """The keys the file declares. accelerate's own reader checks it first (so field names are checked against the
    installed version, and anything it would refuse is refused here, in one line)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"accelerate config {path}: no such file")
    from accelerate.commands.config.config_args import load_config_from_file

    try:
        load_config_from_file(str(path))
        declared = yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML too
    except Exception as err:  # accelerate raises ValueError, TypeError, KeyError, yaml errors, ... for a bad file
        raise InputError(f"accelerate config {path}: not a config accelerate can read ({first_line(err)})") from err
    return declared


def config_problems(declared: dict, path: str | Path, job: Job, precision: str = "auto") -> list[str]:
    """What a named accelerate config contradicts: the job (its GPUs and nodes) or the workflow (no fp16). Only
    what the file says counts (accelerate's defaults, e.g. num_machines 1, are no claim about the job)."""
    where = f"accelerate config {path}"
    problems = []
    environment = declared.get("compute_environment", "LOCAL_MACHINE")
    if environment != "LOCAL_MACHINE":
        return [f"{where}: compute_environment {environment}: only LOCAL_MACHINE configs are launched here"]
    kind = declared.get("distributed_type")
    if kind not in DISTRIBUTED_TYPES:
        problems.append(
            f"{where}: distributed_type {kind} is not launched here (use one of {', '.join(DISTRIBUTED_TYPES)})"
        )
    plural = "s" if job.processes > 1 else ""
    gpus = f"{job.processes} GPU{plural}" + (f" on {job.nodes} nodes" if job.nodes > 1 else "")
    if kind == "NO" and job.processes > 1:
        problems.append(
            f"{where}: distributed_type NO runs one process, but the job has {gpus}: "
            "use MULTI_GPU, FSDP or DEEPSPEED (config/accelerate/ has examples)"
        )
    if kind == "MULTI_GPU" and job.processes == 1:
        problems.append(
            f"{where}: distributed_type MULTI_GPU needs 2 or more processes, but the job has 1 GPU: "
            "ask for more (the gpu resource) or name no config"
        )
    processes = declared.get("num_processes")
    if processes not in (None, -1) and processes != job.processes:
        problems.append(
            f"{where}: num_processes {processes}, but the job has {gpus} (one process per GPU): "
            "remove num_processes, or give the job that many GPUs"
        )
    machines = declared.get("num_machines")
    if machines is not None and machines != job.nodes:
        nodes = f"{job.nodes} node{'s' if job.nodes > 1 else ''}"
        problems.append(
            f"{where}: num_machines {machines}, but the job has {nodes} (the nodes resource): "
            "remove num_machines, or give the job that many nodes"
        )
    gpu_ids = declared.get("gpu_ids")
    if gpu_ids not in (None, "all") and len(str(gpu_ids).split(",")) != job.per_node:
        problems.append(f"{where}: gpu_ids {gpu_ids} does not name the {job.per_node} GPU(s) of each node: remove it")
    mixed = declared.get("mixed_precision")
    if mixed == "fp16" or declared.get("fp16"):
        problems.append(f"{where}: mixed_precision fp16: T5 overflows in fp16 (NaN losses); use bf16 or no")
    elif mixed == "bf16" and precision == "fp32":
        problems.append(f"{where}: mixed_precision bf16 contradicts the step's precision fp32")
    if kind == "DEEPSPEED" and importlib.util.find_spec("deepspeed") is None:
        problems.append(f"{where}: distributed_type DEEPSPEED needs the deepspeed package, which is not installed")
    return problems


def check_config(path: str | Path, job: Job, precision: str = "auto") -> dict:
    declared = read_accelerate_config(path)
    problems = config_problems(declared, path, job, precision)
    if problems:
        raise InputError("; ".join(problems))
    return declared


# --- several nodes: where this machine stands, from Slurm


def expand_hostnames(nodelist: str) -> list[str]:
    """`node[01-02],gpu7` -> its host names, in Slurm's order (scontrol does the expansion)."""
    scontrol = shutil.which("scontrol")
    if scontrol is None:
        raise InputError(f"cannot expand the Slurm node list {nodelist!r}: scontrol is not on PATH")
    result = subprocess.run([scontrol, "show", "hostnames", nodelist], capture_output=True, text=True)
    hosts = result.stdout.split()
    if result.returncode != 0 or not hosts:
        raise InputError(f"scontrol show hostnames {nodelist}: {first_line(result.stderr) or 'no hosts'}")
    return hosts


@dataclass(frozen=True)
class Machine:
    rank: int
    main_address: str
    main_port: int


def slurm_machine(job: Job, env: dict[str, str] | None = None) -> Machine:
    """This node's machine rank, the main node's address and the port, from the Slurm environment of a task that
    srun started (one task per node). The rank is the node's position in the node list whose first host is the
    main node, so the two always agree (SLURM_NODEID where the node's own name is not given)."""
    env = os.environ if env is None else env
    nodelist = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST")
    if not nodelist:
        raise InputError(
            f"{job.nodes} nodes: this is no Slurm job step (no SLURM_JOB_NODELIST); the workflow runs one launcher "
            "per node with srun, or give --machine-rank and --main-address"
        )
    hosts = expand_hostnames(nodelist)
    if len(hosts) != job.nodes:
        raise InputError(f"the job asked for {job.nodes} nodes, but this step runs on {len(hosts)} ({nodelist})")
    name = env.get("SLURMD_NODENAME")
    if name in hosts:
        rank = hosts.index(name)
    elif env.get("SLURM_NODEID", "").isdigit():
        rank = int(env["SLURM_NODEID"])
    else:
        raise InputError("no SLURMD_NODENAME or SLURM_NODEID: cannot tell which node this is")
    on_node = env.get("SLURM_GPUS_ON_NODE")
    if on_node and on_node.isdigit() and int(on_node) != job.per_node:
        raise InputError(
            f"Slurm gave node {hosts[rank]} {on_node} GPUs, but the job runs {job.per_node} processes on each node: "
            "Slurm spreads the job's --gpus as it likes; ask for whole nodes (gpu: nodes x the GPUs of one node)"
        )
    return Machine(rank=rank, main_address=hosts[0], main_port=job_port(env))


def job_port(env: dict[str, str]) -> int:
    """One port per job that every node derives alike (two jobs sharing a node rarely collide)."""
    job_id = env.get("SLURM_JOB_ID", "")
    return 20000 + int(job_id) % 20000 if job_id.isdigit() else DEFAULT_PORT


# --- the command


def launch_command(
    script: list[str],
    job: Job,
    config: str | Path | None = None,
    machine: Machine | None = None,
    python: str = sys.executable,
    distributed_type: str | None = None,
) -> list[str]:
    """The argv that starts `script` (a script path and its arguments) for the job."""
    if job.processes == 1 and job.nodes == 1 and config is None:
        return [python, *script]
    command = [python, "-m", "accelerate.commands.launch", "--config_file", str(config or HERMETIC_CONFIG)]
    if config is None:
        command += ["--multi_gpu", "--mixed_precision", "no", "--dynamo_backend", "no"]
    command += ["--num_processes", str(job.processes), "--num_machines", str(job.nodes)]
    if job.nodes > 1:
        if machine is None:
            raise ValueError("several nodes need this machine's rank and the main address")
        command += [
            "--machine_rank",
            str(machine.rank),
            "--main_process_ip",
            machine.main_address,
            "--main_process_port",
            str(machine.main_port),
        ]
        if distributed_type == "DEEPSPEED":  # torchrun on every node, as srun started them (not pdsh over ssh)
            command += ["--deepspeed_multinode_launcher", "standard"]
    else:
        command += ["--main_process_port", "0"]  # a free port: two jobs on one node never collide
    return [*command, *script]


def resolve_simple_launch(command: list[str]) -> tuple[list[str], dict[str, str]]:
    """For a one-process config without a distributed type: what `accelerate launch` would run, and its
    environment, so that the trainer can replace this process instead of running as accelerate's child (which would
    die at SIGTERM at once and leave the trainer's checkpoint unwatched)."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_simple_launcher_cmd_env

    args = launch_command_parser().parse_args(command[3:])
    args, _, _ = _validate_launch_command(args)
    return prepare_simple_launcher_cmd_env(args)


# --- what the rule puts before the script


def rule_launcher(
    gpus: int,
    nodes: int = 1,
    config: str | None = None,
    precision: str = "auto",
    cpus: int = 1,
    mpi: str | None = None,
    tasks: int | None = None,
    tasks_per_gpu: int | None = None,
) -> str:
    """The shell words a rule puts before its script: `python` for one process without a config, else this module,
    behind `srun` (one task per node) for several nodes. Several nodes need the Slurm plugin's `mpi` resource (so it
    runs the rule's command as it is, not inside a one-node step of its own), one task per node, and tasks_per_gpu 0
    (else the plugin asks for `tasks` tasks per GPU)."""
    job = job_shape(gpus, nodes)
    if job.processes == 1 and job.nodes == 1 and not config:
        return "python"
    words = ["python", "-m", "t5qa.plan.launch", "--gpus", str(gpus), "--nodes", str(nodes)]
    if config:
        words += ["--accelerate-config", config, "--precision", precision]
    words.append("--")
    if job.nodes == 1:
        return shlex.join(words)
    if not mpi or tasks != job.nodes or tasks_per_gpu != 0:
        raise InputError(
            f"nodes {job.nodes} needs these resources too (the Slurm profile's set-resources for this rule): "
            f"mpi: srun, tasks: {job.nodes} (one launcher per node), tasks_per_gpu: 0; "
            f"it has mpi {mpi!r}, tasks {tasks!r}, tasks_per_gpu {tasks_per_gpu!r}"
        )
    srun = ["srun", f"--nodes={job.nodes}", "--ntasks-per-node=1", f"--cpus-per-task={cpus}", "--kill-on-bad-exit=1"]
    return shlex.join([*srun, *words])


def main() -> int:
    argv = sys.argv[1:]
    if "--" not in argv:
        raise InputError("usage: python -m t5qa.plan.launch [options] -- SCRIPT [ARGS...]")
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="python -m t5qa.plan.launch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--gpus", type=int, required=True, help="the job's GPUs, all nodes together (0: CPU)")
    parser.add_argument("--nodes", type=int, default=1, help="machines, one launcher on each")
    parser.add_argument("--accelerate-config", help="the user's accelerate config (YAML or JSON)")
    parser.add_argument("--precision", default="auto", help="the step's precision setting (auto, bf16, fp32)")
    parser.add_argument("--machine-rank", type=int, help="several nodes: this one's rank (default: from Slurm)")
    parser.add_argument("--main-address", help="several nodes: the rank-0 node's address (default: from Slurm)")
    parser.add_argument("--main-port", type=int, help="several nodes: the rendezvous port (default: from Slurm)")
    args = parser.parse_args(argv[:split])
    script = argv[split + 1 :]
    if not script:
        raise InputError("no script to launch after --")
    job = job_shape(args.gpus, args.nodes)
    config = None
    if args.accelerate_config:
        config = check_config(args.accelerate_config, job, args.precision)
    machine = None
    if job.nodes > 1:
        if args.machine_rank is not None and args.main_address:
            machine = Machine(args.machine_rank, args.main_address, args.main_port or job_port(os.environ))
        else:
            machine = slurm_machine(job)
            if args.main_port:
                machine = Machine(machine.rank, machine.main_address, args.main_port)
    kind = config.get("distributed_type") if config else None
    command = launch_command(script, job, args.accelerate_config, machine, distributed_type=kind)
    env = dict(os.environ)
    if config is not None and job.nodes == 1 and kind not in TORCHRUN_TYPES:
        command, env = resolve_simple_launch(command)
    context = [f"accelerate config {args.accelerate_config}"] if args.accelerate_config else []
    if machine:
        context.append(f"machine {machine.rank} of {job.nodes}, main {machine.main_address}:{machine.main_port}")
    log.info("launch%s: %s", f" ({'; '.join(context)})" if context else "", shlex.join(command))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe(command[0], command, env)
    return 0  # not reached


if __name__ == "__main__":
    cli.run(main)
