"""Write outputs under a temporary name and rename, so no reader ever sees a half-written file.

The temporary is created the way open() and mkdir() create things (mode 0o666 or 0o777, which the kernel narrows
by the umask and a shared folder's default ACL), so an output gets the permissions any other file of the user
gets: a labmate can read it on a group project space. tempfile.mkstemp/mkdtemp would make it 0600/0700.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from t5qa.errors import InputError

log = logging.getLogger("t5qa.atomic")
# The random part of a temporary's name: ours are hex; older runs used tempfile's [a-z0-9_]{8}.
RANDOM_PART = r"[a-z0-9_]{8}"


def temporary_pattern(final: Path) -> re.Pattern:
    """`.NAME.XXXXXXXX.tmp`: the temporaries of this output only (not of `NAME.manifest.json` beside it)."""
    return re.compile(re.escape(f".{final.name}.") + RANDOM_PART + re.escape(".tmp"))


def remove_stale_temporaries(final: Path) -> None:
    """A step killed mid-write leaves its temporary behind; the next write of the same output removes it."""
    pattern = temporary_pattern(final)
    for sibling in final.parent.iterdir():
        if not pattern.fullmatch(sibling.name):
            continue
        log.info("removing %s, left by an interrupted run", sibling)
        if sibling.is_dir() and not sibling.is_symlink():
            shutil.rmtree(sibling, ignore_errors=True)
        else:
            sibling.unlink(missing_ok=True)


def _create_temporary(final: Path, is_dir: bool) -> Path:
    while True:
        tmp = final.with_name(f".{final.name}.{secrets.token_hex(4)}.tmp")
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


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike, *, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of `final`; on success rename it onto `final`, on error delete it.

    The sibling lives in the same folder so the rename is atomic (same filesystem).
    """
    final = Path(final)
    check_destination(final, is_dir=is_dir)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(final)
    tmp = _create_temporary(final, is_dir)
    try:
        yield tmp
        if is_dir and final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def write_json(path: str | os.PathLike, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n", encoding="utf-8")


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
