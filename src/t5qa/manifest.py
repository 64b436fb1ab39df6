"""The run manifest written beside every model and metrics file: what produced it, from what, where."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = [
    "t5qa",
    "torch",
    "transformers",
    "datasets",
    "accelerate",
    "tokenizers",
    "sentencepiece",
    "snakemake",
]


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def sha256_of(path: str | os.PathLike) -> str:
    """A file's sha256; a folder's is the sha256 over its files' relative paths and hashes."""
    path = Path(path)
    if path.is_file():
        digest = hashlib.sha256()
        with path.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    digest = hashlib.sha256()
    for child in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{child.relative_to(path)}\0{sha256_of(child)}\n".encode())
    return digest.hexdigest()


def git_state() -> dict:
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        status = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def hardware() -> dict:
    info = {"machine": platform.machine(), "cpu_count": os.cpu_count(), "python": platform.python_version()}
    try:
        import torch

        info["cuda_available"] = torch.cuda.is_available()
        if torch.cuda.is_available():
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            info["cuda"] = torch.version.cuda
    except ImportError:
        pass
    return info


def package_versions() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def build_manifest(step: str, settings: dict, inputs: dict[str, str], started: str) -> dict:
    return {
        "step": step,
        "settings": settings,
        "inputs": {name: {"path": str(path), "sha256": sha256_of(path)} for name, path in inputs.items()},
        "packages": package_versions(),
        "git": git_state(),
        "hardware": hardware(),
        "started": started,
        "finished": now(),
    }
