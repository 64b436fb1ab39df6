"""Fetch one raw file (a URL, a local path, a zip member or a hub dataset split) with checksum checks.

Examples:
  python workflow/scripts/download.py --location '{"url": "https://example.org/dev-v2.0.json", "md5": "..."}' \
      --output results/raw/squad2/validation.json
  python workflow/scripts/download.py --location '{"member": "input/x.csv"}' --archive a.zip --output x.csv
"""

import logging
import math
from pathlib import Path

from t5qa import cli
from t5qa.data.archive_entries import MAX_EXTRACTED_BYTES
from t5qa.data.download import fetch, manifest_path
from t5qa.errors import InputError

COMMAND = cli.Command("download", "fetch one raw file (URL, local path, zip member, hub split) with checksum checks")

log = logging.getLogger("t5qa.data.download")


def main(argv: list[str] | None = None) -> None:
    parser = COMMAND.parser(__doc__)
    parser.add_argument(
        "--location",
        required=True,
        help='JSON: {"url"|"path": ..., "md5"?, "sha256"?}, {"member": ...} or {"hub": ..., "split": ...}',
    )
    parser.add_argument("--output", required=True, help="the file to create")
    parser.add_argument("--archive", help="the zip a member is extracted from")
    parser.add_argument(
        "--max-bytes",
        type=int,
        default=MAX_EXTRACTED_BYTES,
        help=f"the most an archive's member may hold (default {MAX_EXTRACTED_BYTES}, 64 GiB)",
    )
    parser.add_argument("--retries", type=int, default=4, help="attempts for transient network errors")
    parser.add_argument("--backoff", type=float, default=2.0, help="seconds before the first retry (doubles)")
    parser.add_argument("--config-key", help="where the config declares this location (named when it is unpinned)")
    args = parser.parse_args(argv)
    location = cli.parse_settings(args.location, where="--location")
    local = location.get("path")
    cli.check_paths(
        {"--archive": args.archive, "--location's path": local if isinstance(local, str) else None},
        {"--output": args.output, "the manifest": manifest_path(Path(args.output))},
    )
    if args.retries < 1:
        raise InputError(f"--retries: must be at least 1, not {args.retries}")
    if not (args.backoff >= 0 and math.isfinite(args.backoff)):
        raise InputError(f"--backoff: must be 0 or more seconds, not {args.backoff}")
    manifest = fetch(
        location,
        Path(args.output),
        Path(args.archive) if args.archive else None,
        retries=args.retries,
        backoff=args.backoff,
        max_bytes=args.max_bytes,
    )
    log.info(
        "%s -> %s (%d bytes, sha256 %s)",
        manifest["origin"],
        args.output,
        manifest["bytes"],
        manifest["sha256"],
    )
    if "url" in location and not (location.get("sha256") or location.get("md5")):
        # A re-published file would change every number silently: say once how to pin this one.
        log.warning(
            "not pinned: %s has sha256 %s; pin it by adding  sha256: %s  to %s in your config",
            location["url"],
            manifest["sha256"],
            manifest["sha256"],
            args.config_key or "its location",
        )


if __name__ == "__main__":
    cli.run(main)
