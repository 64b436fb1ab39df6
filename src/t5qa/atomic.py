"""Write outputs under a temporary name and rename, so no reader ever sees a half-written file.

The temporary is created the way open() and mkdir() create things (mode 0o666 or 0o777, which the kernel narrows
by the umask and a shared folder's default ACL), so an output gets the permissions any other file of the user
gets: a labmate can read it on a group project space. tempfile.mkstemp/mkdtemp would make it 0600/0700.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

from t5qa.errors import InputError

log = logging.getLogger("t5qa.atomic")
# The random part of a temporary's name: ours are hex; older runs used tempfile's [a-z0-9_]{8}.
RANDOM_PART = r"[a-z0-9_]{8}"
# Who made a temporary: `PID@HOST.` before the random part (older runs wrote none).
MAKER_PART = r"(?:(?P<pid>[0-9]+)@(?P<host>[A-Za-z0-9_.-]+)\.)?"


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname())[:64] or "localhost"


def temporary_pattern(final: Path) -> re.Pattern:
    """`.NAME.PID@HOST.XXXXXXXX.tmp` (or an older run's `.NAME.XXXXXXXX.tmp`): the temporaries of this output only
    (not of `NAME.manifest.json` beside it)."""
    return re.compile(re.escape(f".{final.name}.") + MAKER_PART + RANDOM_PART + re.escape(".tmp"))


def _alive(pid: int) -> bool:
    """Whether a process of this id runs on this host (one we may not signal still runs)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:  # e.g. a pid beyond the system's range: no such process
        return False
    return True


def remove_stale_temporaries(final: Path) -> None:
    """A step killed mid-write leaves its temporary behind; the next write of the same output removes it. A temporary
    whose maker still runs (another run writing the same output) is left alone, and so is one made on another host,
    whose processes this one cannot see (the next write there removes it)."""
    pattern = temporary_pattern(final)
    host = _host()
    for sibling in final.parent.iterdir():
        match = pattern.fullmatch(sibling.name)
        if not match:
            continue
        if match["pid"] is not None:
            if match["host"] != host:
                log.warning("leaving %s: made on host %s, which may still be writing it", sibling, match["host"])
                continue
            if _alive(int(match["pid"])):
                log.warning("leaving %s: process %s is still writing it", sibling, match["pid"])
                continue
        log.info("removing %s, left by an interrupted run", sibling)
        _remove(sibling)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _create_temporary(final: Path, is_dir: bool) -> Path:
    maker = f"{os.getpid()}@{_host()}"
    while True:
        tmp = final.with_name(f".{final.name}.{maker}.{secrets.token_hex(4)}.tmp")
        try:
            if is_dir:
                tmp.mkdir()
            else:
                # O_EXCL: never reuse a name another writer holds; 0o666 less the umask, as open() would.
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp


def check_destination(final: str | os.PathLike, *, is_dir: bool = False) -> None:
    """Refuse an output that cannot go where it is asked to. A step checks each of its outputs before it starts
    work, so it never stops with one output written and the next refused."""
    final = Path(final)
    if final.is_dir() and not is_dir:
        raise InputError(f"{final}: is a folder; the output is a file")
    if final.exists() and not final.is_dir() and is_dir:
        raise InputError(f"{final}: is a file; the output is a folder")
    for parent in final.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{final}: {parent} is a file, not a folder")
            break


def disk_full(err: BaseException) -> bool:
    """Whether an error (or one it was raised from) is a full disk or quota: ENOSPC, EDQUOT, or a library's
    message saying so (pyarrow's carry no errno)."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(err) or "Disk quota exceeded" in str(err):
            return True
        err = err.__cause__ or err.__context__
    return False


@contextlib.contextmanager
def _folder_locks(folders: list[Path]) -> Iterator[None]:
    """Exclusive locks on the output folders while outputs are renamed into place, so two runs writing the same
    outputs rename theirs one run after the other, never interleaved. Where a filesystem cannot lock a folder,
    the renames go ahead unlocked."""
    fds = []
    try:
        for folder in sorted({folder.resolve() for folder in folders}):
            try:
                fd = os.open(folder, os.O_RDONLY)
            except OSError:
                continue
            fds.append(fd)
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        for fd in fds:
            os.close(fd)  # closing the descriptor releases its lock


def _commit(tmp: Path, final: Path, is_dir: bool) -> None:
    if is_dir and final.exists():
        # The old folder goes aside under a temporary name first: a kill here leaves it to the next sweep.
        old = _create_temporary(final, is_dir=True)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


@contextlib.contextmanager
def atomic_paths(*finals: str | os.PathLike, is_dir: bool | tuple[bool, ...] = False) -> Iterator[list[Path]]:
    """Yield a temporary sibling of each of `finals`; once every one is written, rename them all onto their finals
    (holding a lock on their folders, so a concurrent run's renames never interleave with these); on error delete
    them all. A step's outputs so appear together, from one run, or not at all. `is_dir`: for all, or per output.

    A temporary lives in its final's folder, so the rename is atomic (same filesystem). A full disk while writing
    is one `InputError` naming the output.
    """
    paths = [Path(final) for final in finals]
    dirs = is_dir if isinstance(is_dir, tuple) else (is_dir,) * len(paths)
    for path, folder in zip(paths, dirs, strict=True):
        check_destination(path, is_dir=folder)
    temporaries: list[Path] = []
    try:
        for path, folder in zip(paths, dirs):
            path.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(path)
            temporaries.append(_create_temporary(path, folder))
        yield list(temporaries)
        with _folder_locks([path.parent for path in paths]):
            for tmp, path, folder in zip(temporaries, paths, dirs):
                _commit(tmp, path, folder)
    except BaseException as err:
        for tmp in temporaries:
            _remove(tmp)
        if disk_full(err):
            names = " and ".join(str(path) for path in paths)
            raise InputError(
                f"{names}: no space left on device while writing (nothing written; free some space)"
            ) from err
        raise


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike, *, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of `final`; on success rename it onto `final`, on error delete it (atomic_paths)."""
    with atomic_paths(final, is_dir=is_dir) as (tmp,):
        yield tmp


def write_json(path: str | os.PathLike, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n", encoding="utf-8")


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
