"""Outputs are written under a hidden temporary name and renamed: they get the modes the umask gives any file, and a
temporary left by a killed step is removed the next time that output is written."""

import contextlib
import os
import re
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from t5qa.atomic import atomic_path, check_destination, temporary_pattern, write_json, write_text
from t5qa.errors import InputError

from .conftest import run_script


@contextlib.contextmanager
def umask(mask: int):
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("mask", "file_mode", "folder_mode"), [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775)])
def test_outputs_get_the_modes_the_umask_gives(tmp_path, mask, file_mode, folder_mode):
    with umask(mask):
        write_json(tmp_path / "a.json", {"x": 1})
        write_text(tmp_path / "b.txt", "x")
        with atomic_path(tmp_path / "c.bin") as tmp, tmp.open("wb") as out:
            out.write(b"x")
        with atomic_path(tmp_path / "folder", is_dir=True) as tmp:
            (tmp / "inside.txt").write_text("x")
            (tmp / "sub").mkdir()
        # what a plain open() and mkdir() make under the same umask
        (tmp_path / "plain.txt").write_text("x")
        (tmp_path / "plain").mkdir()
    assert mode(tmp_path / "plain.txt") == file_mode and mode(tmp_path / "plain") == folder_mode
    assert [mode(tmp_path / name) for name in ("a.json", "b.txt", "c.bin")] == [file_mode] * 3
    assert mode(tmp_path / "folder") == folder_mode
    assert mode(tmp_path / "folder" / "inside.txt") == file_mode and mode(tmp_path / "folder" / "sub") == folder_mode


def test_a_real_step_honours_the_umask(tmp_path):
    """metrics.py run under `umask 002`: its metrics are group-writable like any file the user makes."""
    import pandas as pd

    from t5qa import UNIFORM_COLUMNS

    pd.DataFrame([["1", "q", "q", "c", "c", "a", "a"]], columns=UNIFORM_COLUMNS).to_parquet(tmp_path / "r.parquet")
    (tmp_path / "p.jsonl").write_text('{"id": "1", "prediction": "a"}\n')
    out = tmp_path / "out" / "m.json"
    script = textwrap.dedent(
        f"""
        import os, runpy, sys
        os.umask(0o002)
        sys.argv = ["metrics.py", "--predictions", {str(tmp_path / "p.jsonl")!r},
                    "--references", {str(tmp_path / "r.parquet")!r}, "--output", {str(out)!r}]
        runpy.run_path({str(Path(__file__).parents[1] / "workflow" / "scripts" / "metrics.py")!r}, run_name="__main__")
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    assert mode(out) == 0o664 and mode(out.parent) == 0o775


def test_failure_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "out.json") as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "folder", is_dir=True) as tmp:
        (tmp / "half").write_text("x")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_temporaries_of_a_killed_step_are_removed_by_the_next_write(tmp_path):
    """SIGKILL in the middle of a write leaves `.out.json.XXXXXXXX.tmp`; writing out.json again removes it."""
    script = textwrap.dedent(
        f"""
        import os, signal
        from t5qa.atomic import atomic_path
        open_writes = [atomic_path({str(tmp_path)!r} + "/" + name, is_dir=is_dir) for name, is_dir in
                       (("out.json", False), ("model", True))]
        for write in open_writes:
            write.__enter__()
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert killed.returncode == -9
    left = sorted(p.name for p in tmp_path.iterdir())
    assert len(left) == 2 and all(name.startswith((".out.json.", ".model.")) for name in left), left
    write_json(tmp_path / "out.json", {})
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out.json.")) == []
    with atomic_path(tmp_path / "model", is_dir=True) as tmp:
        (tmp / "weights").write_text("x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "out.json"]


def test_only_this_outputs_temporaries_are_removed(tmp_path):
    stale = [".out.json.abcd1234.tmp", ".out.json.x_9z0q1w.tmp"]  # ours (hex) and tempfile.mkstemp's alphabet
    kept = [
        ".out.json.manifest.json.abcd1234.tmp",  # the manifest beside it: another output
        ".out.jsonx.abcd1234.tmp",
        ".other.json.abcd1234.tmp",
        "out.json.abcd1234.tmp",  # not hidden
        ".out.json.abcd12345.tmp",  # a longer random part
        ".out.json.ABCD1234.tmp",
        ".out.json.abcd1234.tmp.bak",
    ]
    for name in stale + kept:
        (tmp_path / name).write_text("x")
    (tmp_path / ".out.json.folder12.tmp").mkdir()  # a folder temporary (a step that writes a folder)
    (tmp_path / ".out.json.folder12.tmp" / "f").write_text("x")
    write_json(tmp_path / "out.json", {"ok": True})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*kept, "out.json"])


@settings(max_examples=200, deadline=None, database=None)
@given(
    name=st.text(st.characters(codec="ascii", exclude_characters="/\x00"), min_size=1, max_size=20).filter(
        lambda n: n not in (".", "..")
    ),
    other=st.text(st.characters(codec="ascii", exclude_characters="/\x00"), min_size=1, max_size=20),
    random_part=st.text("abcdefghijklmnopqrstuvwxyz0123456789_", min_size=8, max_size=8),
)
def test_the_pattern_matches_exactly_one_outputs_temporaries(name, other, random_part):
    final = Path("/x") / name
    assert temporary_pattern(final).fullmatch(f".{name}.{random_part}.tmp")
    assert temporary_pattern(final).fullmatch(f".{name}.123@node-1.example.org.{random_part}.tmp")
    # `NAME.PID@HOST` itself is the one other name whose temporaries look like NAME's (with their maker named)
    if other != name and not re.fullmatch(re.escape(name) + r"\.[0-9]+@[A-Za-z0-9_.-]+", other):
        assert not temporary_pattern(final).fullmatch(f".{other}.{random_part}.tmp")


def test_a_file_where_a_folder_goes_and_the_reverse_are_refused(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a folder"):
        write_json(tmp_path / "folder", {})
    with pytest.raises(InputError, match="is a file"), atomic_path(tmp_path / "file", is_dir=True):
        pass
    with pytest.raises(InputError, match="is a file, not a folder"):
        check_destination(tmp_path / "file" / "below.json")


def test_cli_reports_an_unwritable_output_in_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    result = run_script(
        "prefetch.py", "--name", "scratch", "--output", str(tmp_path / "file" / "model.json"), check=False
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
