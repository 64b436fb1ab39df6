"""A real one-node Slurm cluster on this machine (Debian's slurm-wlm 22.05 + munge), for the profile test.

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


def write_config(root: Path, account: str, gpus: int = 2, cpus: int = 16, memory_mb: int = 128000) -> Path:
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
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
NodeName={node} CPUs={cpus} RealMemory={memory_mb} Gres=gpu:a100:{gpus} State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""
    )
    # One distinct stand-in device file per fake GPU (slurmd rejects a device file named twice).
    devices = []
    for index in range(gpus):
        device = root / f"fake-gpu{index}"
        device.touch()
        devices.append(f"Name=gpu Type=a100 File={device}\n")
    (root / "gres.conf").write_text("AutoDetect=off\n" + "".join(devices))
    bin_dir = root / "bin"
    bin_dir.mkdir(exist_ok=True)
    sacctmgr = bin_dir / "sacctmgr"
    sacctmgr.write_text(f"#!/bin/sh\n# stand-in: this test cluster has no accounting database\necho {account}\n")
    sacctmgr.chmod(0o755)
    return conf


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


class Cluster:
    def __init__(self, root: Path, account: str):
        self.root = root
        self.conf = write_config(root, account)
        install_system_config(root)
        self.env = {**os.environ, "SLURM_CONF": str(self.conf), "PATH": f"{root / 'bin'}:{os.environ['PATH']}"}

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(command, env=self.env, capture_output=True, text=True, check=check)

    def start(self) -> None:
        node = socket.gethostname().split(".")[0]
        self.run("slurmctld", "-c", "-f", str(self.conf))
        self.run("slurmd", "-N", node, "-f", str(self.conf))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = self.run("sinfo", "-h", "-o", "%t", check=False).stdout.strip()
            if state in ("idle", "mix", "alloc"):
                return
            time.sleep(1)
        log = (self.root / "log" / "slurmd.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"the Slurm node did not come up (state {state!r}):\n{log}")

    def stop(self) -> None:
        self.run("scontrol", "shutdown", check=False)
        remove_system_config()
        for pid_file in ("slurmctld.pid", "slurmd.pid"):
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


def start_cluster(root: Path, account: str) -> Cluster:
    ensure_installed()
    start_munge()
    cluster = Cluster(root, account)
    cluster.start()
    return cluster
