"""Fetch a raw file: http(s), file:// or a plain path, a member of a zip archive, or a hub dataset split.

Every fetch streams to a temporary file, verifies the checksum when one is given, records the observed
sha256 in a manifest beside the file, then renames: a failed or truncated transfer leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import re
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from tqdm import tqdm

from t5qa.atomic import atomic_path, check_destination, write_json
from t5qa.cli import first_line
from t5qa.data.archive_entries import (
    CHUNK,
    MAX_EXTRACTED_BYTES,
    bomb_problem,
    check_members,
    copy_member,
    name_problem,
    target_inside,
    unsafe_entries,
)
from t5qa.errors import InputError
from t5qa.manifest import now
from t5qa.progress import Ticker, on_terminal
from t5qa.settings import check_value

log = logging.getLogger("t5qa.data.download")
# Server-side and network hiccups are worth retrying; a 404 or 403 is not.
TRANSIENT_HTTP = {408, 425, 429, 500, 502, 503, 504}
# Exactly one of WHERE says where the file is; what else a location may say (any may carry md5/sha256).
WHERE = ("url", "path", "member", "hub")
EXTRA_KEYS = {"url": (), "path": (), "member": ("archive",), "hub": ("config", "split")}
HEX_DIGITS = {"md5": 32, "sha256": 64}
# What reading a broken zip raises: a bad directory, a bad compressed stream, a method zipfile lacks.
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError)


def check_location(location: dict, where: str = "--location") -> str:
    """A location names exactly one place (url, path, member or hub), with text values; returns which."""
    kinds = [key for key in WHERE if key in location]
    if len(kinds) != 1:
        found = f"it has {', '.join(kinds)}" if kinds else "it has none"
        raise InputError(f"{where}: needs exactly one of url, path, member (with --archive) or hub; {found}")
    kind = kinds[0]
    keys = [kind, *EXTRA_KEYS[kind], "md5", "sha256"]
    schema = {"properties": dict.fromkeys(keys, {"type": "string"}), "additionalProperties": False}
    check_value(location, schema, where)
    if not location[kind].strip():
        raise InputError(f"{where}: {kind} is empty")
    if kind == "url":
        try:
            scheme = urlparse(location["url"]).scheme
        except ValueError as err:
            raise InputError(f"{where}: url {location['url']!r} is not a valid URL ({err})") from err
        if scheme not in ("http", "https", "file"):
            raise InputError(f"{where}: url {location['url']!r} must start with http://, https:// or file://")
    for name, digits in HEX_DIGITS.items():
        if name in location and not re.fullmatch(f"[0-9a-fA-F]{{{digits}}}", location[name]):
            raise InputError(f"{where}: {name} must be {digits} hexadecimal digits, not {location[name]!r}")
    return kind


class Hashes:
    def __init__(self):
        self.md5, self.sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()

    def update(self, block: bytes) -> None:
        self.md5.update(block)
        self.sha256.update(block)


def verify(hashes: Hashes, location: dict, source: str) -> None:
    for name in ("md5", "sha256"):
        expected = location.get(name)
        observed = getattr(hashes, name).hexdigest()
        if expected and expected.lower() != observed:
            raise InputError(f"{source}: {name} mismatch: expected {expected}, got {observed}")


def _copy(stream, out, hashes: Hashes, total: int | None, label: str) -> int:
    received = 0
    ticker = None if on_terminal() else Ticker(log, label, total and total // CHUNK, unit="MiB")
    if ticker:
        ticker.update(0)
    with tqdm(total=total, unit="B", unit_scale=True, desc=label, mininterval=2, disable=ticker is not None) as bar:
        for block in iter(lambda: stream.read(CHUNK), b""):
            out.write(block)
            hashes.update(block)
            received += len(block)
            bar.update(len(block))
            if ticker:
                ticker.update(received // CHUNK)
    return received


def _fetch_url_once(url: str, tmp: Path, timeout: float) -> Hashes:
    hashes = Hashes()
    request = urllib.request.Request(url, headers={"User-Agent": "t5qa-download"})
    with urllib.request.urlopen(request, timeout=timeout) as response, tmp.open("wb") as out:
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        received = _copy(response, out, hashes, expected, Path(urlparse(url).path).name)
    if expected is not None and received != expected:
        raise ConnectionError(f"truncated transfer: got {received} of {expected} bytes")
    return hashes


def fetch_url(url: str, tmp: Path, retries: int = 4, backoff: float = 2.0, timeout: float = 60.0) -> Hashes:
    for attempt in range(1, retries + 1):
        try:
            return _fetch_url_once(url, tmp, timeout)
        except urllib.error.HTTPError as err:
            if err.code not in TRANSIENT_HTTP or attempt == retries:
                raise InputError(f"{url}: HTTP {err.code} {err.reason}") from err
            problem = f"HTTP {err.code}"
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError, http.client.HTTPException) as err:
            if attempt == retries:
                raise InputError(f"{url}: download failed after {retries} attempts ({err})") from err
            problem = str(err)
        except ValueError as err:  # urllib and http.client refuse a malformed URL (bad port, a space, ...)
            raise InputError(f"{url}: not a valid URL ({err})") from err
        delay = backoff * 2 ** (attempt - 1)
        log.warning("%s: %s; retrying in %.1fs (attempt %d of %d)", url, problem, delay, attempt + 1, retries)
        time.sleep(delay)
    raise InputError(f"{url}: --retries must be at least 1")


def copy_local(path: Path, tmp: Path) -> Hashes:
    if not path.is_file():
        raise InputError(f"{path}: file not found" if not path.exists() else f"{path}: not a file")
    hashes = Hashes()
    try:
        stream = path.open("rb")
    except OSError as err:
        raise InputError(f"{path}: cannot read it ({err.strerror})") from err
    with stream, tmp.open("wb") as out:
        _copy(stream, out, hashes, path.stat().st_size, path.name)
    return hashes


def check_archive(path: Path, shown: Path | None = None) -> None:
    """A readable zip whose entry names are all plain and none a zip bomb; `shown` is the name messages give (the
    output, while `path` is still its temporary)."""
    shown = shown or path
    if not path.is_file():
        raise InputError(f"{shown}: archive not found")
    try:
        with zipfile.ZipFile(path) as archive:
            bad = unsafe_entries(archive)
            bombs = [f"{info.filename!r}: {problem}" for info in archive.infolist() if (problem := bomb_problem(info))]
            corrupt = None if bad or bombs else archive.testzip()
    except ZIP_ERRORS as err:
        raise InputError(f"{shown}: not a readable zip archive ({first_line(err)})") from err
    if bad:
        raise InputError(
            f"{shown}: refusing an archive whose entries escape the target folder (names must be plain relative "
            f"paths): {bad[:5]}"
        )
    if bombs:
        raise InputError(f"{shown}: refusing an archive with an entry that expands too far: {bombs[0]}")
    if corrupt:
        raise InputError(f"{shown}: corrupt archive entry {corrupt}")


def extract_member(archive_path: Path, member: str, tmp: Path, max_bytes: int = MAX_EXTRACTED_BYTES) -> Hashes:
    check_archive(archive_path)
    try:
        with zipfile.ZipFile(archive_path) as archive:
            names = set(archive.namelist())
            if member not in names:
                near = sorted(n for n in names if PurePosixPath(n).name == PurePosixPath(member).name)
                hint = f"; same name at {near}" if near else ""
                raise InputError(f"{archive_path}: no member {member!r}{hint}")
            info = archive.getinfo(member)
            check_members(archive_path, archive, [info], max_bytes)
            hashes = Hashes()
            with tmp.open("wb") as out:
                copy_member(archive_path, archive, info, out, on_block=hashes.update)
    except ZIP_ERRORS as err:
        raise InputError(f"{archive_path}: cannot extract {member!r} ({first_line(err)})") from err
    return hashes


def fetch_hub(location: dict, tmp: Path) -> Hashes:
    """A hub dataset split (or a local dataset folder/script path), saved as parquet."""
    import datasets
    from datasets.exceptions import DatasetsError

    try:
        dataset = datasets.load_dataset(location["hub"], location.get("config"), split=location.get("split", "train"))
        dataset.to_parquet(str(tmp))
    except (OSError, ValueError, DatasetsError) as err:
        raise InputError(f"{location['hub']}: cannot load this hub dataset ({first_line(err)})") from err
    hashes = Hashes()
    with tmp.open("rb") as stream:
        for block in iter(lambda: stream.read(CHUNK), b""):
            hashes.update(block)
    return hashes


def fetch(
    location: dict,
    output: Path,
    archive: Path | None = None,
    retries: int = 4,
    backoff: float = 2.0,
    max_bytes: int = MAX_EXTRACTED_BYTES,
) -> dict:
    """Fetch `location` into `output` atomically; returns the manifest written beside it. An archive's member may
    not be over `max_bytes`."""
    started = now()
    kind = check_location(location)
    check_destination(output)
    check_destination(manifest_path(output))
    with atomic_path(output) as tmp:
        if kind == "member":
            if archive is None:
                raise InputError(f"--archive: needed to extract the member {location['member']!r}")
            origin = f"{archive}!{location['member']}"
            hashes = extract_member(archive, location["member"], tmp, max_bytes)
        elif kind == "hub":
            origin = f"hub:{location['hub']}"
            hashes = fetch_hub(location, tmp)
        else:
            origin = location[kind]
            scheme = urlparse(origin).scheme if kind == "url" else ""
            if scheme in ("http", "https"):
                hashes = fetch_url(origin, tmp, retries=retries, backoff=backoff)
            elif scheme == "file":
                hashes = copy_local(Path(urllib.request.url2pathname(urlparse(origin).path)), tmp)
            else:
                hashes = copy_local(Path(origin), tmp)
        verify(hashes, location, origin)
        if output.suffix == ".zip":
            check_archive(tmp, shown=output)
    manifest = {
        "origin": origin,
        "location": location,
        "sha256": hashes.sha256.hexdigest(),
        "md5": hashes.md5.hexdigest(),
        "bytes": output.stat().st_size,
        "started": started,
        "finished": now(),
    }
    write_json(manifest_path(output), manifest)
    return manifest


def manifest_path(output: Path) -> Path:
    return output.with_name(output.name + ".manifest.json")


# --- a model that is a folder inside an archive (the Webis-CausalQA-22 release ships its fine-tuned models so)

ARCHIVE_MODEL_PREFIX = "archive://"
# Files that make a folder a tokenizer: a member without any gets the experiment's tokenizer saved beside it.
TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json", "spiece.model")


def archive_member(archive: dict, member: str) -> str:
    """A member's path inside the zip: under the archive's `root` folder when it declares one (the
    Webis-CausalQA-22 zip holds everything under Webis-CausalQA-22-v-1.0/)."""
    root = archive.get("root", "").strip("/")
    return f"{root}/{member}" if root else member


def archive_model(name_or_path: str) -> tuple[str, str] | None:
    """`archive://NAME/MEMBER` -> (NAME, MEMBER): a model folder inside the archive NAME (declared under
    `archives:`); anything else (a hub id, a local folder, `scratch`) -> None. NAME is a plain name and MEMBER a
    relative path of plain parts, none starting with a dot: its extracted folder lies under its archive's folder."""
    if not name_or_path.startswith(ARCHIVE_MODEL_PREFIX):
        return None
    name, _, member = name_or_path.removeprefix(ARCHIVE_MODEL_PREFIX).partition("/")
    member = member.removesuffix("/")
    if not name or not member:
        raise InputError(
            f"model {name_or_path!r}: an archive model is archive://NAME/FOLDER (NAME under 'archives', FOLDER the "
            "model's folder inside the zip), e.g. archive://causalqa/models/original-splits/paq-original-split"
        )
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
        raise InputError(f"model {name_or_path!r}: the archive name {name!r} may hold only letters, digits, _ and -")
    if problem := name_problem(member):
        raise InputError(f"model {name_or_path!r}: the folder {member!r} {problem}; give a path of plain folder names")
    if hidden := [part for part in member.split("/") if part.startswith(".")]:
        raise InputError(
            f"model {name_or_path!r}: the folder {member!r} has a part starting with a dot ({hidden[0]!r})"
        )
    return name, member


def extract_folder(
    archive_path: Path, member: str, output: Path, finish=None, max_bytes: int = MAX_EXTRACTED_BYTES
) -> list[str]:
    """Extract every file under the folder `member` of the zip into `output` (atomically: all or nothing), then
    call `finish(folder)` on the temporary folder before it is renamed into place; returns the extracted paths
    (relative to the folder). Every entry is checked first (t5qa.data.archive_entries: plain names, plain files, sizes
    within `max_bytes`), and every target proven to lie inside the folder."""
    if problem := name_problem(member):
        raise InputError(f"--member {member!r}: {problem}; give a path of plain folder names")
    check_archive(archive_path)
    prefix = member.removesuffix("/") + "/"
    try:
        with zipfile.ZipFile(archive_path) as archive:
            entries = [info for info in archive.infolist() if info.filename.startswith(prefix)]
            files = [info for info in entries if not info.is_dir()]
            if not files:
                folders = sorted(
                    {str(PurePosixPath(n).parent) for n in archive.namelist() if n.endswith("config.json")}
                )[:10]
                hint = f"; folders holding a config.json: {folders}" if folders else ""
                raise InputError(f"{archive_path}: no folder {member!r} in the archive{hint}")
            check_members(archive_path, archive, entries, max_bytes, folder=prefix)
            with atomic_path(output, is_dir=True) as tmp:
                tmp.mkdir(exist_ok=True)
                for info in files:
                    target = target_inside(tmp, info.filename[len(prefix) :])
                    try:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        out = target.open("xb")
                    except (FileExistsError, NotADirectoryError) as err:
                        raise InputError(
                            f"{archive_path}: the entry {info.filename!r} clashes with another entry's file or folder"
                        ) from err
                    with out:
                        copy_member(archive_path, archive, info, out)
                if finish is not None:
                    finish(tmp)
    except ZIP_ERRORS as err:
        raise InputError(f"{archive_path}: cannot extract {member!r} ({first_line(err)})") from err
    return sorted(info.filename[len(prefix) :] for info in files)
