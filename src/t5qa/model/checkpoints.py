"""Training checkpoints: what makes one resumable, which one to resume, and what to clear.

Checkpoints go to a folder that is not a Snakemake output (Snakemake deletes a rule's outputs before rerunning it),
so a preempted or timed-out job resumes from the newest complete checkpoint. A checkpoint is resumed only when it
was made by the same run: each carries a marker (RUN_MARKER, written last, once every rank has saved its part) with
a fingerprint of the training settings, the starting model, the tokenized training data and the number of
processes; a checkpoint whose fingerprint differs is set aside (logged, then deleted) so training starts fresh.
The best evaluation's model lives in best-<step> beside the checkpoints, and each marker names the best step then.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

from transformers import Seq2SeqTrainer

from t5qa.manifest import sha256_of
from t5qa.model.model_io import use_bf16
from t5qa.settings import TrainSettings

RUN_MARKER = "t5qa_run.json"  # written into a checkpoint once every rank has saved its part
BEST_PREFIX = "best-"  # best-<step>: the model of the best evaluation so far, beside the checkpoints
# Settings that do not change what is computed: a checkpoint made with other values is still this run's.
# (Not gradient_checkpointing: it computes the same weights only up to float rounding, the order in which gradients
# add up changes.)
OPERATIONAL_SETTINGS = {"save_steps", "logging_steps", "report_to"}
log = logging.getLogger("t5qa.model.train")


def run_fingerprint(settings: TrainSettings, model_source: str, tokenized_dir: Path, world_size: int) -> dict:
    """What makes two training runs the same run: a checkpoint of another run must not be resumed."""
    return {
        "settings": {k: v for k, v in sorted(settings.as_dict().items()) if k not in OPERATIONAL_SETTINGS},
        "model": model_identity(model_source),
        # The Arrow files only: state.json carries a fingerprint that differs between identical tokenize runs.
        "train_data": [sha256_of(f) for f in sorted((Path(tokenized_dir) / "train").glob("*.arrow"))],
        "processes": world_size,
        # precision "auto" resolves per node: a retry on a node without bf16 must not continue a bf16 run in fp32.
        "bf16": use_bf16(settings.precision),
        # What the accelerate config made of the run (DDP or FSDP, its sharding, mixed precision), as `accelerate
        # launch` passes it on: a checkpoint of a DDP run is not resumed under FSDP, nor the reverse.
        "launch": launch_settings(),
    }


def launch_settings(env: dict[str, str] | None = None) -> dict[str, str]:
    env = os.environ if env is None else env
    return {
        key: value
        for key, value in sorted(env.items())
        if key.startswith(("ACCELERATE_", "FSDP_")) and key not in ("ACCELERATE_LOG_LEVEL", "ACCELERATE_DEBUG_MODE")
    }


def model_identity(model_source: str) -> dict:
    """A local folder: its path, and each file's size and a hash of its first and last MiB (hashing all the
    weights of a large model would take minutes; a re-initialised or retrained model differs in both ends).
    A hub id: its name and the cached snapshot's commit, when it is cached."""
    path = Path(model_source)
    if not path.is_dir():
        return {"name": model_source, "snapshot": cached_snapshot(model_source)}
    return {
        "path": str(path.resolve()),
        "files": {p.name: file_sample(p) for p in sorted(path.iterdir()) if p.is_file()},
    }


def file_sample(path: Path, window: int = 1 << 20) -> str:
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as stream:
        digest.update(stream.read(window))
        if size > 2 * window:
            stream.seek(size - window)
        digest.update(stream.read(window))
    return digest.hexdigest()


def cached_snapshot(repo_id: str) -> str | None:
    """The commit of the locally cached snapshot of a hub model (prefetched on the login node)."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, local_files_only=True)).name
    except Exception:  # not cached, or not a hub id at all: the name alone then
        return None


def is_complete_checkpoint(path: Path) -> bool:
    """Complete = every rank saved and the main process then wrote the run marker (last)."""
    has_weights = any((path / name).is_file() for name in ("model.safetensors", "pytorch_model.bin"))
    return has_weights and (path / "trainer_state.json").is_file() and (path / RUN_MARKER).is_file()


def newest_checkpoint(checkpoint_dir: Path, verify: bool = False) -> Path | None:
    """The newest complete checkpoint; with `verify`, the newest whose files are as they were written (a damaged
    one is skipped with a log line naming it and why)."""
    candidates = []
    for path in checkpoint_dir.glob("checkpoint-*"):
        step = path.name.removeprefix("checkpoint-")
        if step.isdigit() and is_complete_checkpoint(path):
            candidates.append((int(step), path))
    for _, path in sorted(candidates, reverse=True):
        damage = checkpoint_damage(path) if verify else ""
        if not damage:
            return path
        log.warning("skipping %s: %s", path, damage)
    return None


def checkpoint_files(folder: Path) -> dict[str, dict]:
    """Every file of a checkpoint as it was written, by relative path: its size and a hash of its ends."""
    return {
        str(path.relative_to(folder)): {"size": path.stat().st_size, "sample": file_sample(path)}
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != RUN_MARKER and not path.name.startswith(".")
    }


def write_marker(folder: Path, step: int, best_step: int | None, fingerprint: dict) -> None:
    """The run marker, written last (once every rank has saved its part): the run's fingerprint, the best step so
    far, and each file's size and sample hash, so that a file cut short later (a full quota, a node dying mid-copy)
    is found before the checkpoint is resumed."""
    marker = {"step": step, "best_step": best_step, "fingerprint": fingerprint, "files": checkpoint_files(folder)}
    tmp = folder / f".{RUN_MARKER}.tmp"
    tmp.write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")
    tmp.replace(folder / RUN_MARKER)


def checkpoint_damage(folder: Path) -> str:
    """Why a complete checkpoint cannot be resumed ('' when its files are as the marker recorded them)."""
    try:
        files = json.loads((folder / RUN_MARKER).read_text())["files"]
        expected = {name: (int(entry["size"]), str(entry["sample"])) for name, entry in files.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return f"its {RUN_MARKER} is unreadable or records no files"
    for name, (size, sample) in sorted(expected.items()):
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        actual = path.stat().st_size
        if actual != size:
            return f"{name} is {actual} bytes, {size} were written (cut short?)"
        if file_sample(path) != sample:
            return f"{name} differs from what was written"
    return ""


def fingerprint_differences(saved: dict, current: dict) -> list[str]:
    """Readable names of what differs: settings keys one by one, then model / data / processes."""
    differences = []
    saved_settings, settings = saved.get("settings", {}), current["settings"]
    for key in sorted(saved_settings.keys() | settings.keys()):
        if saved_settings.get(key) != settings.get(key):
            differences.append(f"{key} {saved_settings.get(key)!r} -> {settings.get(key)!r}")
    for key in ("model", "train_data", "processes", "bf16"):
        if saved.get(key) != current[key]:
            differences.append(key)
    if saved.get("launch", {}) != current["launch"]:
        differences.append("accelerate launch settings")
    return differences


def clear_checkpoint_dir(checkpoint_dir: Path, keep: list[Path]) -> None:
    """Delete everything but what a resumed run needs. An unmarked leftover checkpoint would otherwise count
    towards the Trainer's save_total_limit, which rotates by age, and push out the last complete one; the best
    models and TensorBoard events of a discarded run must not mix with this run's."""
    for path in checkpoint_dir.iterdir() if checkpoint_dir.is_dir() else []:
        if path not in keep:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()


def resumable_checkpoint(checkpoint_dir: Path, fingerprint: dict) -> tuple[Path | None, str]:
    """The newest complete and intact checkpoint if this run made it; else None and why (for the log)."""
    newest = newest_checkpoint(checkpoint_dir, verify=True)
    if newest is None:
        leftovers = sorted(p.name for p in checkpoint_dir.glob("checkpoint-*"))
        return None, f"incomplete or damaged checkpoints only ({', '.join(leftovers)})" if leftovers else ""
    try:
        saved = json.loads((newest / RUN_MARKER).read_text())["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):
        return None, f"{newest.name} has an unreadable {RUN_MARKER}"
    differences = fingerprint_differences(saved, fingerprint)
    if differences:
        return None, f"{newest.name} was made by a different run ({'; '.join(differences)})"
    best = checkpoint_best_step(newest)
    if best is not None and not (checkpoint_dir / f"{BEST_PREFIX}{best}").is_dir():
        return None, f"{newest.name} names {BEST_PREFIX}{best} as its best model, which is missing"
    return newest, ""


def checkpoint_best_step(checkpoint: Path) -> int | None:
    """The step of the best evaluation when the checkpoint was saved (None: no evaluation yet)."""
    try:
        step = json.loads((checkpoint / RUN_MARKER).read_text())["best_step"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return step if type(step) is int else None


def save_best_model(trainer: Seq2SeqTrainer, step: int) -> None:
    """The current model to best-<step>, whole or not at all; every rank takes part (as in save_model)."""
    checkpoint_dir = Path(trainer.args.output_dir)
    staging = checkpoint_dir / f".{BEST_PREFIX}{step}.partial"
    if trainer.is_world_process_zero():
        shutil.rmtree(staging, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(staging))
    if trainer.is_world_process_zero():
        target = checkpoint_dir / f"{BEST_PREFIX}{step}"
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        # Keep the best model the newest checkpoint names too: a run resumed from it needs that one.
        newest = newest_checkpoint(checkpoint_dir)
        prune_best_models(checkpoint_dir, keep={step, checkpoint_best_step(newest) if newest else None})
    trainer.accelerator.wait_for_everyone()


def prune_best_models(checkpoint_dir: Path, keep: set[int | None]) -> None:
    for path in checkpoint_dir.glob(f"{BEST_PREFIX}*"):
        step = path.name.removeprefix(BEST_PREFIX)
        if not (step.isdigit() and int(step) in keep):
            shutil.rmtree(path, ignore_errors=True)
