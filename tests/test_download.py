"""Downloads against a loopback HTTP server (127.0.0.1): no network needed."""

import hashlib
import http.server
import io
import json
import re
import threading
import zipfile

import pandas as pd
import pytest

from t5qa.data.download import fetch, manifest_path
from t5qa.errors import InputError

from .conftest import run_script, squad_json
from .workflow_helpers import snakemake, write_config

SQUAD = squad_json([{"context": "c", "qas": [{"id": "q", "question": "Q?", "answers": []}]}]).encode()


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


CSV_HEADER = b"id,question,question_processed,context,context_processed,answer,answer_processed\n"
# Laid out like the Webis-CausalQA-22 release: both split families, train and valid.
CAUSALQA_ZIP = _zip(
    {
        f"input/{family}-splits/paq_{split}_{family}_split.csv": CSV_HEADER
        + f"{family}-{split}-1,Why?,why?,Because.,because.,Because,because\n".encode()
        for family in ("original", "random")
        for split in ("train", "valid")
    }
)
EVIL_ZIP = _zip({"input/ok.csv": b"x", "../escape.csv": b"boom"})


class Handler(http.server.BaseHTTPRequestHandler):
    flaky_left = {"n": 0}

    def log_message(self, *args):
        pass

    def do_GET(self):
        routes = {"/squad.json": SQUAD, "/causalqa.zip": CAUSALQA_ZIP, "/evil.zip": EVIL_ZIP}
        if self.path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"only a part")
            return
        if self.path == "/flaky.json":
            if self.flaky_left["n"] > 0:
                self.flaky_left["n"] -= 1
                self.send_error(503)
                return
            routes[self.path] = SQUAD
        if self.path not in routes:
            self.send_error(404)
            return
        body = routes[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_download_verifies_checksum_and_records_sha256(server, tmp_path):
    out = tmp_path / "raw" / "train.json"
    md5 = hashlib.md5(SQUAD).hexdigest()
    manifest = fetch({"url": f"{server}/squad.json", "md5": md5}, out)
    assert out.read_bytes() == SQUAD
    assert manifest["sha256"] == hashlib.sha256(SQUAD).hexdigest()
    assert json.loads(manifest_path(out).read_text())["sha256"] == manifest["sha256"]


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ({"path": "squad.json", "md5": "0" * 32}, "md5 mismatch"),
        ({"path": "squad.json", "sha256": "0" * 64}, "sha256 mismatch"),
        ({"path": "missing.json"}, "HTTP 404"),
        ({"path": "truncated"}, "truncated transfer"),
    ],
)
def test_bad_downloads_fail_clearly_and_leave_nothing(server, tmp_path, location, message):
    location = {"url": f"{server}/{location.pop('path')}", **location}
    out = tmp_path / "raw" / "file.json"
    with pytest.raises(InputError, match=message):
        fetch(location, out, retries=2, backoff=0.01)
    assert list((tmp_path / "raw").iterdir()) == []  # no partial file, no temporary, no manifest


def test_transient_errors_are_retried(server, tmp_path):
    Handler.flaky_left["n"] = 2
    fetch({"url": f"{server}/flaky.json"}, tmp_path / "f.json", retries=3, backoff=0.01)
    assert (tmp_path / "f.json").read_bytes() == SQUAD


def test_file_urls_and_plain_paths(tmp_path):
    src = tmp_path / "src.json"
    src.write_bytes(SQUAD)
    fetch({"url": src.as_uri()}, tmp_path / "a.json")
    fetch({"path": str(src)}, tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes() == SQUAD


def test_archive_member_extraction(server, tmp_path):
    archive = tmp_path / "causalqa.zip"
    fetch({"url": f"{server}/causalqa.zip"}, archive)
    out = tmp_path / "paq" / "train.csv"
    fetch({"member": "input/random-splits/paq_train_random_split.csv"}, out, archive=archive)
    assert out.read_bytes().startswith(CSV_HEADER + b"random-train-1,")
    with pytest.raises(InputError, match="no member"):
        fetch({"member": "input/nope.csv"}, tmp_path / "x.csv", archive=archive)


def test_archive_with_escaping_entry_is_refused(server, tmp_path):
    out = tmp_path / "evil.zip"
    with pytest.raises(InputError, match="escape the target folder"):
        fetch({"url": f"{server}/evil.zip"}, out)
    assert not out.exists()
    # Also when such an archive reached the disk some other way.
    out.write_bytes(EVIL_ZIP)
    with pytest.raises(InputError, match="escape"):
        fetch({"member": "input/ok.csv"}, tmp_path / "ok.csv", archive=out)


def test_hub_loading_from_a_local_dataset(tmp_path):
    import datasets

    folder = tmp_path / "hub_like"
    datasets.Dataset.from_list([{"id": "1", "question": "Q?", "context": "c", "answers": {"text": ["c"]}}]).to_json(
        folder / "train.jsonl"
    )
    out = tmp_path / "raw" / "train.parquet"
    fetch({"hub": str(folder), "split": "train"}, out)
    assert pd.read_parquet(out)["id"].tolist() == ["1"]


def test_cli_reports_404_without_traceback(server, tmp_path):
    result = run_script(
        "download.py",
        "--location",
        json.dumps({"url": f"{server}/nope"}),
        "--output",
        str(tmp_path / "x.json"),
        "--retries",
        "1",
        check=False,
    )
    assert result.returncode == 1
    assert "HTTP 404" in result.stderr and "Traceback" not in result.stderr


def test_causalqa_release_through_the_workflow(server, tmp_path):
    """Download the zip once (a local rule), extract the chosen split family's members, normalise them."""
    member = "input/{split_family}-splits/paq_%s_{split_family}_split.csv"
    config = {
        "causalqa_split_family": "random",
        "archives": {"release": {"url": f"{server}/causalqa.zip", "md5": hashlib.md5(CAUSALQA_ZIP).hexdigest()}},
        "sources": {
            "paq": {
                "format": "causalqa_csv",
                "train": {"archive": "release", "member": member % "train"},
                "validation": {"archive": "release", "member": member % "valid"},
            }
        },
        "datasets": {"paq": ["paq"]},
    }
    path = write_config(tmp_path, config)
    targets = ["results/normalized/paq/train.parquet", "results/normalized/paq/validation.parquet"]
    snakemake(tmp_path, "--cores", "1", *targets, "--configfile", str(path))
    assert pd.read_parquet(tmp_path / targets[0])["id"].tolist() == ["random-train-1"]
    assert pd.read_parquet(tmp_path / targets[1])["id"].tolist() == ["random-valid-1"]
    manifest = json.loads((tmp_path / "results/raw/archives/release.zip.manifest.json").read_text())
    assert manifest["sha256"] == hashlib.sha256(CAUSALQA_ZIP).hexdigest()


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ({}, "needs exactly one of url, path, member (with --archive) or hub; it has none"),
        (
            {"url": "http://x/a", "path": "a"},
            "needs exactly one of url, path, member (with --archive) or hub; it has url",
        ),
        ({"path": 5}, "path: 5 is not allowed; allowed: text"),
        ({"path": "a", "md5": "xyz"}, "md5 must be 32 hexadecimal digits"),
        ({"path": "a", "colour": "red"}, "colour: unknown key; the keys here: path, md5, sha256"),
        ({"path": "a", "split": "train"}, "split: unknown key"),
        ({"url": "ftp://example.org/a"}, "must start with http://, https:// or file://"),
        ({"url": "http://[::1"}, "is not a valid URL"),
        ({"path": " "}, "path is empty"),
        ({"member": "input/x.csv"}, "--archive: needed to extract the member"),
    ],
)
def test_bad_locations_are_named_before_anything_is_fetched(tmp_path, location, message):
    with pytest.raises(InputError, match=re.escape(message)):
        fetch(location, tmp_path / "out.json")
    assert list(tmp_path.iterdir()) == []


def test_file_url_with_an_escaped_space(tmp_path):
    src = tmp_path / "my data.json"
    src.write_bytes(SQUAD)
    fetch({"url": src.as_uri()}, tmp_path / "out.json")
    assert "%20" in src.as_uri() and (tmp_path / "out.json").read_bytes() == SQUAD


@pytest.mark.parametrize(
    ("archive", "message"),
    [
        (None, "archive not found"),
        (b"PK\x03\x04 truncated", "not a readable zip archive"),
        (CAUSALQA_ZIP[: len(CAUSALQA_ZIP) // 2], "not a readable zip archive"),
    ],
)
def test_bad_archives_fail_in_one_line(tmp_path, archive, message):
    path = tmp_path / "a.zip"
    if archive is not None:
        path.write_bytes(archive)
    with pytest.raises(InputError, match=message):
        fetch({"member": "input/original-splits/paq_train_original_split.csv"}, tmp_path / "x.csv", archive=path)
    assert not (tmp_path / "x.csv").exists()
    result = run_script(
        "download.py",
        "--location",
        json.dumps({"member": "input/x.csv"}),
        "--archive",
        str(path),
        "--output",
        str(tmp_path / "y.csv"),
        check=False,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {path}: ")
