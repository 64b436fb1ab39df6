"""Fetch a raw file: http(s), file:// or a plain path, a member of a zip archive, or a hub dataset split.

Every fetch streams to a temporary file, verifies the checksum when one is given, records the observed
sha256 in a manifest beside the file, then renames: a failed or truncated transfer leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import logging
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from tqdm import tqdm

from t5qa.atomic import atomic_path, write_json
from t5qa.errors import InputError
from t5qa.manifest import now

log = logging.getLogger("t5qa.download")
CHUNK = 1 << 20
# Server-side and network hiccups are worth retrying; a 404 or 403 is not.
TRANSIENT_HTTP = {408, 425, 429, 500, 502, 503, 504}


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
    with tqdm(total=total, unit="B", unit_scale=True, desc=label, mininterval=2) as bar:
        for block in iter(lambda: stream.read(CHUNK), b""):
            out.write(block)
            hashes.update(block)
            received += len(block)
            bar.update(len(block))
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
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as err:
            if attempt == retries:
                raise InputError(f"{url}: download failed after {retries} attempts ({err})") from err
            problem = str(err)
        delay = backoff * 2 ** (attempt - 1)
        log.warning("%s: %s; retrying in %.1fs (attempt %d of %d)", url, problem, delay, attempt + 1, retries)
        time.sleep(delay)
    raise AssertionError("unreachable")


def copy_local(path: Path, tmp: Path) -> Hashes:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    hashes = Hashes()
    with path.open("rb") as stream, tmp.open("wb") as out:
        _copy(stream, out, hashes, path.stat().st_size, path.name)
    return hashes


def unsafe_entries(archive: zipfile.ZipFile) -> list[str]:
    """Entries that would land outside the extraction folder: absolute paths or `..` parts."""
    bad = []
    for name in archive.namelist():
        path = PurePosixPath(name.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
            bad.append(name)
    return bad


def check_archive(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            bad = unsafe_entries(archive)
            corrupt = archive.testzip()
    except zipfile.BadZipFile as err:
        raise InputError(f"{path}: not a zip archive ({err})") from err
    if bad:
        raise InputError(f"{path}: refusing an archive whose entries escape the target folder: {bad[:5]}")
    if corrupt:
        raise InputError(f"{path}: corrupt archive entry {corrupt}")


def extract_member(archive_path: Path, member: str, tmp: Path) -> Hashes:
    check_archive(archive_path)
    with zipfile.ZipFile(archive_path) as archive:
        names = set(archive.namelist())
        if member not in names:
            near = sorted(n for n in names if PurePosixPath(n).name == PurePosixPath(member).name)
            hint = f"; same name at {near}" if near else ""
            raise InputError(f"{archive_path}: no member {member!r}{hint}")
        hashes = Hashes()
        with archive.open(member) as stream, tmp.open("wb") as out:
            _copy(stream, out, hashes, archive.getinfo(member).file_size, PurePosixPath(member).name)
    return hashes


def fetch_hub(location: dict, tmp: Path) -> Hashes:
    """A hub dataset split (or a local dataset folder/script path), saved as parquet."""
    import datasets

    dataset = datasets.load_dataset(location["hub"], location.get("config"), split=location.get("split", "train"))
    dataset.to_parquet(str(tmp))
    hashes = Hashes()
    with tmp.open("rb") as stream:
        for block in iter(lambda: stream.read(CHUNK), b""):
            hashes.update(block)
    return hashes


def fetch(location: dict, output: Path, archive: Path | None = None, retries: int = 4, backoff: float = 2.0) -> dict:
    """Fetch `location` into `output` atomically; returns the manifest written beside it."""
    started = now()
    with atomic_path(output) as tmp:
        if "member" in location:
            if archive is None:
                raise InputError(f"{location['member']}: an archive member needs --archive")
            origin = f"{archive}!{location['member']}"
            hashes = extract_member(archive, location["member"], tmp)
        elif "hub" in location:
            origin = f"hub:{location['hub']}"
            hashes = fetch_hub(location, tmp)
        else:
            origin = location.get("url") or location.get("path")
            if not origin:
                raise InputError(f"location {location} names no url, path, archive member or hub dataset")
            scheme = urlparse(origin).scheme
            if scheme in ("http", "https"):
                hashes = fetch_url(origin, tmp, retries=retries, backoff=backoff)
            elif scheme == "file":
                hashes = copy_local(Path(urlparse(origin).path), tmp)
            else:
                hashes = copy_local(Path(origin), tmp)
        verify(hashes, location, origin)
        if output.suffix == ".zip":
            check_archive(tmp)
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
