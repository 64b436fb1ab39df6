"""What a local model folder holds, as a value Snakemake tracks: each file's relative path, size and sha256. A folder
whose weights were replaced (same path, new files) then retrains and re-predicts instead of scoring the old
predictions as the new model's. Hashing a few GiB takes seconds, so each file's digest is cached by (size, mtime).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from t5qa.atomic import write_json

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_identity(folder: Path, cache_path: Path | None = None) -> list[list]:
    """[relative path, size, sha256] of every file under `folder`, sorted; digests of files whose size and mtime
    are unchanged come from `cache_path` (a JSON file, rewritten when anything was hashed)."""
    try:
        cache = json.loads(cache_path.read_text()) if cache_path and cache_path.is_file() else {}
    except ValueError:
        cache = {}  # a damaged cache is only slower
    files, changed = [], False
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        key = str(path.resolve())
        stamp = [stat.st_size, stat.st_mtime_ns]
        if cache.get(key, {}).get("stamp") != stamp:
            cache[key] = {"stamp": stamp, "sha256": sha256_file(path)}
            changed = True
        files.append([path.relative_to(folder).as_posix(), stat.st_size, cache[key]["sha256"]])
    if changed and cache_path is not None:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        write_json(cache_path, cache)
    return files
