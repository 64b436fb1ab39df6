"""Trust, third round (issue 30), classes 1 and 4: a downloaded zip is untrusted input. Nothing is extracted outside
its folder (entry names are relative paths of plain parts, every target resolved inside the folder), links and
special files are refused, and sizes are checked against what is read and against a stated limit: in
`t5qa prefetch-archive-model` (what the workflow's archive:// models run) and in `t5qa download` with a member."""

import io
import random
import stat
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from t5qa.data.archive_entries import MAX_RATIO, name_problem
from t5qa.data.download import check_archive, extract_folder, fetch
from t5qa.errors import InputError

CONFIG = b'{"model_type": "t5"}'


def write_zip(path: Path, entries: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3  # Unix: the high 16 bits of external_attr are the file's mode
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return path


def forge_size(path: Path, declared: int) -> Path:
    """Rewrite the (only) member's declared size, in its local header and in the central directory."""
    data = bytearray(path.read_bytes())
    assert data[:4] == b"PK\x03\x04"
    struct.pack_into("<I", data, 22, declared)
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, declared)
    path.write_bytes(bytes(data))
    return path


def stored_zip(path: Path, name: str, data: bytes) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(name, data)
    return path


def files_under(root: Path) -> set[Path]:
    return {path for path in root.rglob("*")}


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------- class 1: names and targets


def test_an_absolute_path_behind_an_empty_part_is_refused(tmp_path):
    """models/m//<absolute>/evil.txt was extracted to that absolute path (zip-slip)."""
    victim = tmp_path / "victim"
    victim.mkdir()
    archive = write_zip(tmp_path / "a.zip", {"models/m/config.json": CONFIG, f"models/m//{victim}/evil.txt": b"pwned"})
    with pytest.raises(InputError) as err:
        extract_folder(archive, "models/m", tmp_path / "out")
    assert "has an empty part" in one_line(err)
    assert not (victim / "evil.txt").exists() and not (tmp_path / "out").exists()


def test_prefetch_archive_model_command_refuses_it_in_one_line(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    archive = write_zip(tmp_path / "a.zip", {"models/m/config.json": CONFIG, f"models/m//{victim}/evil.txt": b"pwned"})
    command = [sys.executable, "-m", "t5qa.main", "prefetch-archive-model", "--archive", str(archive)]
    result = subprocess.run(
        [*command, "--member", "models/m", "--output", str(tmp_path / "out")], capture_output=True, text=True
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "empty part" in lines[0], result.stderr
    assert list(victim.iterdir()) == [] and not (tmp_path / "out").exists()


PARTS = st.sampled_from(["w", "sub", "x.bin", "", ".", "..", "..\\..", "C:", "c:x", "/abs", "a\x01b", "~", "…"])


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(PARTS, min_size=1, max_size=5))
@example(parts=["C:", ""])  # a folder's entry models/m/C:/ (drawn in a run): refused like a file's name C:/x
@example(parts=["C:", "x"])
def test_every_extracted_path_stays_inside_its_folder(tmp_path_factory, parts):
    """Any entry name: either every part is plain and the file lands at folder/parts, or the archive is refused in
    one line; never a file outside the folder."""
    root = tmp_path_factory.mktemp("slip")
    relative = "/".join(parts)
    archive = write_zip(root / "a.zip", {"models/m/config.json": CONFIG, f"models/m/{relative}": b"data"})
    out = root / "deep" / "er" / "out"
    out.parent.mkdir(parents=True)
    before = files_under(root)
    # A name ending with / is a folder's entry (nothing to write); the folder's own entry is models/m/.
    folder_entry = relative.endswith("/") or not relative
    names = parts[:-1] if folder_entry else parts
    plain = not names or (
        all(part and part not in (".", "..") and "\\" not in part and "/" not in part for part in names)
        and ":" not in names[0]
        and not any(ord(char) < 32 for char in relative)
    )
    try:
        extracted = extract_folder(root / "a.zip", "models/m", out)
    except InputError as err:
        assert "\n" not in str(err)
        assert not plain, f"a plain name was refused: {relative!r}"
        assert files_under(root) == before
        return
    assert plain, f"{relative!r} was extracted"
    assert extracted == sorted(["config.json"] if folder_entry else ["config.json", relative])
    for name in extracted:
        assert (out / name).resolve().is_relative_to(out.resolve()) and (out / name).is_file()
    assert all(path.resolve().is_relative_to(out.resolve()) for path in files_under(root) - before)
    assert archive.is_file()


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("a//b", "has an empty part"),
        ("/etc/passwd", "is an absolute path"),
        ("a/./b", "has a '.' part"),
        ("a/../b", "has a '..' part"),
        ("a\\..\\b", "has a backslash"),
        ("C:/x", "starts with a drive letter"),
        ("a/b/", None),
        ("models/original-splits/paq", None),
    ],
)
def test_entry_names(name, problem):
    assert name_problem(name) == problem


# --------------------------------------------------------------------------- class 4: links, sizes, limits


@pytest.mark.parametrize("target", ["../../blobs/0123abcd", "/etc/passwd"])
def test_link_entries_are_refused(tmp_path, target):
    archive = write_zip(tmp_path / "a.zip", {"models/m/w.bin": b"w"}, links={"models/m/config.json": target})
    with pytest.raises(InputError) as err:
        extract_folder(archive, "models/m", tmp_path / "out")
    message = one_line(err)
    assert "'models/m/config.json'" in message and "symbolic link" in message and target in message
    assert not (tmp_path / "out").exists()
    with pytest.raises(InputError, match="symbolic link"):
        fetch({"member": "models/m/config.json"}, tmp_path / "c.json", archive=archive)
    assert not (tmp_path / "c.json").exists()


def test_a_member_declaring_more_than_it_holds_is_refused(tmp_path):
    """A header declaring 4 GB over 20 bytes was extracted without a word."""
    archive = forge_size(stored_zip(tmp_path / "a.zip", "models/m/config.json", b"x" * 20), 4_000_000_000)
    for extract in (
        lambda: extract_folder(archive, "models/m", tmp_path / "out", max_bytes=2**40),
        lambda: fetch({"member": "models/m/config.json"}, tmp_path / "c.json", archive=archive, max_bytes=2**40),
    ):
        with pytest.raises(InputError) as err:
            extract()
        assert "'models/m/config.json'" in one_line(err)
    # A lie too small to look like a zip bomb, in a compressed member: what is read is compared with what is declared.
    weights = random.Random(0).randbytes(2 << 20)
    archive = forge_size(write_zip(tmp_path / "b.zip", {"models/m/config.json": weights}), 3 << 20)
    with pytest.raises(InputError) as err:
        extract_folder(archive, "models/m", tmp_path / "out")
    assert f"'models/m/config.json' declares {3 << 20} bytes but holds {2 << 20}" in one_line(err)
    with pytest.raises(InputError, match=f"declares {3 << 20} bytes but holds {2 << 20}"):
        fetch({"member": "models/m/config.json"}, tmp_path / "c.json", archive=archive)
    assert not (tmp_path / "out").exists() and not (tmp_path / "c.json").exists()


def test_a_member_holding_more_than_it_declares_is_refused(tmp_path):
    archive = forge_size(stored_zip(tmp_path / "a.zip", "models/m/config.json", b"x" * 20), 5)
    with pytest.raises(InputError) as err:
        extract_folder(archive, "models/m", tmp_path / "out")
    assert "models/m/config.json" in one_line(err)
    # Also when its checksum is forged to match the first 5 bytes: a stored member's sizes must agree.
    data = bytearray(archive.read_bytes())
    crc = zipfile.crc32(b"x" * 5)
    struct.pack_into("<I", data, 14, crc)
    struct.pack_into("<I", data, data.index(b"PK\x01\x02") + 16, crc)
    archive.write_bytes(bytes(data))
    with pytest.raises(InputError) as err:
        extract_folder(archive, "models/m", tmp_path / "out")
    assert "'models/m/config.json' declares 5 bytes but stores 20" in one_line(err)
    assert not (tmp_path / "out").exists()


def test_a_zip_bomb_is_refused_before_it_is_expanded(tmp_path):
    archive = write_zip(tmp_path / "a.zip", {"models/m/config.json": CONFIG, "models/m/w.bin": bytes(8 << 20)})
    assert archive.stat().st_size < 100_000
    with pytest.raises(InputError) as err:
        extract_folder(archive, "models/m", tmp_path / "out")
    assert "'models/m/w.bin'" in one_line(err) and f"over {MAX_RATIO} times" in one_line(err)
    # Also when the archive is downloaded: the output is not left behind.
    with pytest.raises(InputError, match="expands too far"):
        fetch({"path": str(archive)}, tmp_path / "copy.zip")
    assert not (tmp_path / "copy.zip").exists()


def test_the_total_size_limit(tmp_path):
    archive = write_zip(tmp_path / "a.zip", {"models/m/config.json": CONFIG, "models/m/w.bin": b"w" * 500})
    with pytest.raises(InputError) as err:
        extract_folder(archive, "models/m", tmp_path / "out", max_bytes=400)
    assert "over the limit of 400 bytes (--max-bytes)" in one_line(err)
    with pytest.raises(InputError, match="over the limit of 400 bytes"):
        fetch({"member": "models/m/w.bin"}, tmp_path / "w.bin", archive=archive, max_bytes=400)
    assert extract_folder(archive, "models/m", tmp_path / "out", max_bytes=600) == ["config.json", "w.bin"]


def test_two_entries_of_one_name_and_a_file_under_a_file_are_refused(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        archive.writestr("models/m/config.json", CONFIG)
        archive.writestr("models/m/config.json", b"{}")
    (tmp_path / "a.zip").write_bytes(buffer.getvalue())
    with pytest.raises(InputError, match="given twice"):
        extract_folder(tmp_path / "a.zip", "models/m", tmp_path / "out")
    archive = write_zip(tmp_path / "b.zip", {"models/m/config.json": CONFIG, "models/m/config.json/x": b"x"})
    with pytest.raises(InputError, match="clashes with another entry"):
        extract_folder(archive, "models/m", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_download_log_names_the_archive_not_its_temporary(tmp_path):
    """Class 7: a refused archive was named by the hidden temporary it was being written to."""
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(InputError) as err:
        fetch({"path": str(bad)}, tmp_path / "release.zip")
    assert one_line(err).startswith(f"{tmp_path / 'release.zip'}: not a readable zip archive")


def test_check_archive_accepts_a_plain_release(tmp_path):
    archive = write_zip(tmp_path / "a.zip", {"models/m/config.json": CONFIG, "input/x.csv": b"a,b\n1,2\n"})
    check_archive(archive)
