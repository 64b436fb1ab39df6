"""A real Slurm cluster on this machine (Debian's slurm-wlm 22.05 + munge), for the profile tests: one node, or two
(two slurmd on this host, `slurmd -N NAME`, which Debian's build allows) for multi-node jobs.

The node advertises two fake A100s (gres.conf lines pointing at empty files, AutoDetect=off): Slurm schedules
and accounts them like real ones, there is just no CUDA behind them, so training runs on the CPU.
The node also claims the CPUs and memory the profile asks of an A100 node (SlurmdParameters=config_overrides).
There is no accounting database: the plugin's status checks use squeue, and its account check reads a
stand-in `sacctmgr` that lists the profile's account (sbatch itself accepts any account without accounting).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

PACKAGES = ["slurm-wlm", "munge"]
# Job steps (srun inside a batch job) read the default location, whatever SLURM_CONF the submitter had.
SYSTEM_CONF_DIR = Path("/etc/slurm")
OURS = "# written by t5qa's test suite\n"


class Unavailable(Exception):
    """Slurm cannot be started here (not root, no apt); the reason is the message."""


def ensure_installed() -> None:
    if shutil.which("slurmctld") and shutil.which("munged"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise Unavailable("slurm-wlm/munge missing and cannot be installed (needs root and apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", *PACKAGES], check=True, env=env, capture_output=True)


def start_munge() -> None:
    if subprocess.run(["munge", "-n"], capture_output=True).returncode == 0:
        return
    Path("/run/munge").mkdir(parents=True, exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    if not Path("/etc/munge/munge.key").exists():
        subprocess.run(["mungekey", "--create"], check=True)
        shutil.chown("/etc/munge/munge.key", "munge", "munge")
    subprocess.run(["runuser", "-u", "munge", "--", "munged"], check=True)


def node_names(nodes: int = 1) -> list[str]:
    """This host's name, and for a second node `localhost`: two slurmd on one host (Debian's slurmd is built with
    --enable-multiple-slurmd), under names that both resolve here, as a training rendezvous needs."""
    if nodes > 2:
        raise ValueError("this host can pose as two nodes at most")
    return [socket.gethostname().split(".")[0], "localhost"][:nodes]


def write_config(
    root: Path, account: str, gpus: int = 2, cpus: int = 16, memory_mb: int = 128000, nodes: int = 1
) -> Path:
    node = socket.gethostname().split(".")[0]
    for sub in ("state", "spool", "log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    conf = root / "slurm.conf"
    conf.write_text(
        OURS
        + f"""ClusterName=t5qa-test
SlurmctldHost={node}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
MinJobAge=86400
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool{"/%n" if nodes > 1 else ""}
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/{"slurmd.%n.pid" if nodes > 1 else "slurmd.pid"}
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/{"slurmd.%n.log" if nodes > 1 else "slurmd.log"}
SlurmctldPort=6817
SlurmdPort=6818
{node_lines(node, nodes, f"CPUs={cpus} RealMemory={memory_mb} Gres=gpu:a100:{gpus} State=UNKNOWN")}
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""
    )
    # One distinct stand-in device file per fake GPU (slurmd rejects a device file named twice).
    devices = []
    for name in node_names(nodes):
        if nodes > 1:
            (root / "spool" / name).mkdir(parents=True, exist_ok=True)
        for index in range(gpus):
            device = root / (f"fake-gpu{index}" if nodes == 1 else f"fake-gpu-{name}-{index}")
            device.touch()
            devices.append(f"{f'NodeName={name} ' if nodes > 1 else ''}Name=gpu Type=a100 File={device}\n")
    (root / "gres.conf").write_text("AutoDetect=off\n" + "".join(devices))
    bin_dir = root / "bin"
    bin_dir.mkdir(exist_ok=True)
    sacctmgr = bin_dir / "sacctmgr"
    sacctmgr.write_text(f"#!/bin/sh\n# stand-in: this test cluster has no accounting database\necho {account}\n")
    sacctmgr.chmod(0o755)
    return conf


def node_lines(host: str, nodes: int, spec: str) -> str:
    if nodes == 1:
        return f"NodeName={host} {spec}"
    # Several slurmd on this host: each its own name and port (slurmd -N NAME).
    return "\n".join(
        f"NodeName={name} NodeHostname={host} NodeAddr=127.0.0.1 Port={6818 + 1 + index} {spec}"
        for index, name in enumerate(node_names(nodes))
    )


def install_system_config(root: Path) -> None:
    """Copy our slurm.conf and gres.conf to /etc/slurm, unless a real configuration lives there."""
    existing = SYSTEM_CONF_DIR / "slurm.conf"
    if existing.exists() and not existing.read_text(errors="replace").startswith(OURS):
        raise Unavailable(f"{existing} belongs to a real Slurm installation; not touching it")
    SYSTEM_CONF_DIR.mkdir(parents=True, exist_ok=True)
    for name in ("slurm.conf", "gres.conf"):
        shutil.copy(root / name, SYSTEM_CONF_DIR / name)


def remove_system_config() -> None:
    existing = SYSTEM_CONF_DIR / "slurm.conf"
    if existing.exists() and existing.read_text(errors="replace").startswith(OURS):
        for name in ("slurm.conf", "gres.conf"):
            (SYSTEM_CONF_DIR / name).unlink(missing_ok=True)


# What a test run of Snakemake adds to the profile. squeue: this cluster keeps no accounting for sacct. A first
# status check 2 s after submitting (the profile's 20 s suit a real cluster's load): the plugin then adds 10 s to the
# wait after each check that finds no job finished, so a short job is seen done seconds after it ends.
SNAKEMAKE_ARGS = ("--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2")


class Cluster:
    def __init__(self, root: Path, account: str, nodes: int = 1, gpus: int = 2):
        self.root = root
        self.nodes = nodes
        self.conf = write_config(root, account, gpus=gpus, nodes=nodes)
        install_system_config(root)
        self.env = {**os.environ, "SLURM_CONF": str(self.conf), "PATH": f"{root / 'bin'}:{os.environ['PATH']}"}

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(command, env=self.env, capture_output=True, text=True, check=check)

    def start(self) -> None:
        self.run("slurmctld", "-c", "-f", str(self.conf))
        for node in node_names(self.nodes):
            self.run("slurmd", "-N", node, "-f", str(self.conf))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = self.run("sinfo", "-h", "-N", "-o", "%t", check=False).stdout.split()
            if len(states) == self.nodes and all(state in ("idle", "mix", "alloc") for state in states):
                return
            time.sleep(1)
        logs = sorted((self.root / "log").glob("slurmd*.log"))
        log = "".join(path.read_text(errors="replace")[-2000:] for path in logs)
        raise RuntimeError(f"the Slurm nodes did not come up (states {states!r}):\n{log}")

    def stop(self) -> None:
        self.run("scontrol", "shutdown", check=False)
        remove_system_config()
        slurmd = ["slurmd.pid"] if self.nodes == 1 else [f"slurmd.{name}.pid" for name in node_names(self.nodes)]
        for pid_file in ("slurmctld.pid", *slurmd):
            path = self.root / pid_file
            if path.exists():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(path.read_text().strip()), 15)

    def jobs(self) -> list[dict[str, str]]:
        """`scontrol show jobs -o`, one dict per job."""
        out = self.run("scontrol", "show", "jobs", "-o").stdout
        jobs = []
        for line in out.splitlines():
            fields = {}
            for token in line.split():
                key, _, value = token.partition("=")
                fields[key] = value
            if fields:
                jobs.append(fields)
        return jobs


def start_cluster(root: Path, account: str, nodes: int = 1, gpus: int = 2) -> Cluster:
    ensure_installed()
    start_munge()
    cluster = Cluster(root, account, nodes=nodes, gpus=gpus)
    cluster.start()
    return cluster
