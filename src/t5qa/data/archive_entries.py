"""What may come out of a zip: plain files under plain names, of the size they declare, within a stated total.

A downloaded archive is untrusted input. An entry name is a relative path of plain parts (no empty part, no `.` or
`..`, no backslash, no drive or absolute prefix, no control character); an entry is a plain file or a folder (a
symbolic link, what `zip -y` stores, is refused: extracted as a small text file it would make a folder look
complete); what is read of a member must be exactly the size its header declares; and the files extracted at once
may not exceed MAX_EXTRACTED_BYTES, nor expand more than MAX_RATIO times their compressed size (a zip bomb's shape).
"""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

from t5qa.errors import InputError

# The most one extraction (a model folder, or one member) may write: the largest released T5 checkpoints are a few
# GiB, so this only stops a runaway archive. `--max-bytes` of `t5qa download` and `t5qa prefetch-archive-model`
# overrides it.
MAX_EXTRACTED_BYTES = 64 * 2**30
# Weights, tokenizers and tables compress two to five times; a member over 1 MiB that expands more than this
# is a zip bomb, not data.
MAX_RATIO = 200
RATIO_FLOOR = 1 << 20
CHUNK = 1 << 20


def gib(size: int) -> str:
    return f"{size / 2**30:.2f} GiB" if size >= 2**30 else f"{size} bytes"


def name_problem(name: str) -> str | None:
    """Why an entry name (or a member asked for) is not a relative path of plain parts; None when it is."""
    if not name:
        return "is empty"
    if "\\" in name:
        return "has a backslash"
    if any(ord(char) < 32 for char in name):
        return "has a control character"
    if name.startswith("/"):
        return "is an absolute path"
    parts = name.removesuffix("/").split("/")  # a folder's entry ends with /
    if ":" in parts[0]:
        return "starts with a drive letter"
    for part in parts:
        if part in ("", ".", ".."):
            return f"has {'an empty' if not part else f'a {part!r}'} part"
    return None


def unsafe_entries(archive: zipfile.ZipFile) -> list[str]:
    """Entries whose name is not plain (see name_problem), each with why."""
    return [f"{info.filename!r} {problem}" for info in archive.infolist() if (problem := name_problem(info.filename))]


def bomb_problem(info: zipfile.ZipInfo) -> str | None:
    """A member that expands far more than data does (over MAX_RATIO times, past RATIO_FLOOR), else None."""
    if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        return (
            f"{info.compress_size} bytes expand to {gib(info.file_size)}, over {MAX_RATIO} times (a zip bomb's shape)"
        )
    return None


def kind_problem(info: zipfile.ZipInfo) -> str | None:
    """A symbolic link or another special file (its Unix mode in the entry's external attributes), else None."""
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind == stat.S_IFLNK:
        return "is a symbolic link"
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "is not a plain file"
    return None


def check_members(
    archive_path: Path, archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], max_bytes: int, folder: str = ""
) -> None:
    """The members about to be extracted: plain files, each name once, within the total and the ratio. Extracting
    the folder `folder` (ending with /), each name is also checked as it lands there: a folder's entry too, though
    nothing is written for it."""
    seen = set()
    for info in infos:
        if problem := name_problem(info.filename):
            raise InputError(f"{archive_path}: refusing the entry {info.filename!r}: its name {problem}")
        relative = info.filename.removeprefix(folder)
        if folder and relative and (problem := name_problem(relative)):
            raise InputError(
                f"{archive_path}: refusing the entry {info.filename!r}: its name inside {folder[:-1]!r} {problem}"
            )
        if problem := kind_problem(info):
            target = archive.read(info)[:200].decode("utf-8", "replace") if info.file_size < 4096 else "..."
            raise InputError(
                f"{archive_path}: refusing the entry {info.filename!r}: it {problem} (-> {target!r}); "
                "an archive may hold plain files only (zip without -y)"
            )
        if info.filename in seen:
            raise InputError(f"{archive_path}: the entry {info.filename!r} is given twice; which one is meant?")
        seen.add(info.filename)
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise InputError(
                f"{archive_path}: the entry {info.filename!r} declares {info.file_size} bytes but stores "
                f"{info.compress_size}"
            )
    total = sum(info.file_size for info in infos)
    if total > max_bytes:
        raise InputError(
            f"{archive_path}: extracting {len(infos)} entries would write {gib(total)}, over the limit of "
            f"{gib(max_bytes)} (--max-bytes)"
        )


def copy_member(archive_path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, out, on_block=None) -> int:
    """Copy one member into the open file `out`, reading no more than it declares; what is read must be exactly
    its declared size (a header may lie either way)."""
    received = 0
    with archive.open(info) as stream:
        while block := stream.read(min(CHUNK, info.file_size - received + 1)):
            received += len(block)
            if received > info.file_size:
                raise InputError(
                    f"{archive_path}: the entry {info.filename!r} holds more than the {info.file_size} bytes it "
                    "declares"
                )
            out.write(block)
            if on_block is not None:
                on_block(block)
    if received != info.file_size:
        raise InputError(
            f"{archive_path}: the entry {info.filename!r} declares {info.file_size} bytes but holds {received}"
        )
    return received


def target_inside(folder: Path, relative: str) -> Path:
    """Where an entry's relative name lands in `folder`, proven (resolved) to stay inside it."""
    target = folder.joinpath(*relative.split("/"))
    if name_problem(relative) or not target.resolve().is_relative_to(folder.resolve()):
        raise InputError(f"refusing to extract {relative!r}: it would land outside {folder}")
    return target
