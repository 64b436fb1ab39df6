"""Fetch a hub model or tokenizer into the local Hugging Face cache (run on a login node with internet),
so GPU jobs can run with HF_HUB_OFFLINE=1. A local folder or `scratch` needs nothing and is just recorded.

Example:
  python workflow/scripts/prefetch.py --name google-t5/t5-small --output results/prefetch/model.json
"""

import logging
from pathlib import Path

from t5qa import cli
from t5qa.atomic import write_json
from t5qa.errors import InputError
from t5qa.manifest import now

COMMAND = cli.Command("prefetch", "fetch a hub model or tokenizer into the cache (on a login node with network)")

log = logging.getLogger("t5qa.prefetch")
# What from_pretrained reads for a T5 checkpoint and its tokenizer; skips TF/Flax/ONNX copies. Older checkpoints
# (UnifiedQA, for one) have PyTorch weights only as *.bin: fetched when the repository has no safetensors.
HUB_FILES = ["*.json", "*.safetensors", "*.model", "*.txt"]
LEGACY_WEIGHTS = ["*.bin"]


def hub_patterns(name: str) -> list[str]:
    from huggingface_hub import list_repo_files

    files = list_repo_files(name)
    return HUB_FILES if any(f.endswith(".safetensors") for f in files) else HUB_FILES + LEGACY_WEIGHTS


def main(argv: list[str] | None = None) -> None:
    parser = COMMAND.parser(__doc__)
    parser.add_argument("--name", required=True, help="hub id, local folder, or 'scratch'")
    parser.add_argument("--output", required=True, help="a JSON record of what was fetched")
    args = parser.parse_args(argv)
    if not args.name.strip():
        raise InputError("--name: empty; give a hub id, a local folder or 'scratch'")
    cli.check_paths({"--name": args.name}, {"--output": args.output})
    record = {"name": args.name, "fetched": now()}
    if args.name == "scratch" or Path(args.name).exists():
        if args.name != "scratch" and not Path(args.name).is_dir():
            raise InputError(f"--name: {args.name} is a file; a local model or tokenizer is a folder")
        record["location"] = "local"
        log.info("%s is local: nothing to fetch", args.name)
    else:
        from huggingface_hub import snapshot_download

        try:
            record["location"] = snapshot_download(args.name, allow_patterns=hub_patterns(args.name))
        except Exception as err:
            # Whatever stops the fetch (a malformed id, an unknown or gated repository, no network: the hub client's
            # connection errors are not OSErrors) is the same news for the user: one line, and what to do.
            raise InputError(
                f"--name: {args.name} is no local folder and cannot be fetched from the hub ({cli.first_line(err)}); "
                "fetch it where there is network (on a cluster: `snakemake --profile profiles/slurm prefetch` on the "
                "login node), or work offline with the scratch stand-ins (model: {name_or_path: scratch, tokenizer: "
                "scratch}, as config/demo.yaml does)"
            ) from err
        # The snapshot folder is named by the commit fetched: the revision every step downstream used.
        record["revision"] = Path(record["location"]).name
        log.info("fetched %s (revision %s) into %s", args.name, record["revision"], record["location"])
    write_json(args.output, record)


if __name__ == "__main__":
    cli.run(main)
