r"""Extract a model folder from a downloaded zip (a model `archive://NAME/FOLDER`, e.g. the Webis-CausalQA-22
release's fine-tuned models) into --output, on the login node like the rest of the prefetch. A folder without a
tokenizer gets --tokenizer's saved beside the weights (fetched from the hub when it is a hub id and not cached).

Example:
  python workflow/scripts/prefetch_archive_model.py --archive results/raw/archives/causalqa.zip \
      --member models/original-splits/paq-original-split --tokenizer allenai/unifiedqa-v2-t5-base-1363200 \
      --output results/prefetch/archive-models/causalqa/models/original-splits/paq-original-split
"""

import logging
from pathlib import Path

from t5qa import cli
from t5qa.data.archive_entries import MAX_EXTRACTED_BYTES
from t5qa.data.download import TOKENIZER_FILES, extract_folder
from t5qa.errors import InputError

COMMAND = cli.Command("prefetch-archive-model", "extract a model folder from a downloaded zip")

log = logging.getLogger("t5qa.prefetch_archive_model")


def main(argv: list[str] | None = None) -> None:
    parser = COMMAND.parser(__doc__)
    parser.add_argument("--archive", required=True, help="a zip holding the model folder")
    parser.add_argument("--member", required=True, help="the model's folder inside the zip")
    parser.add_argument("--tokenizer", help="the tokenizer saved beside a folder that has none (hub id or folder)")
    parser.add_argument("--output", required=True, help="the extracted model folder")
    parser.add_argument(
        "--max-bytes",
        type=int,
        default=MAX_EXTRACTED_BYTES,
        help=f"the most the folder's files may hold together (default {MAX_EXTRACTED_BYTES}, 64 GiB)",
    )
    args = parser.parse_args(argv)
    archive, output = Path(args.archive), Path(args.output)
    cli.check_paths({"--archive": args.archive}, {}, {"--output": args.output})

    def add_tokenizer(folder: Path) -> None:
        if not (folder / "config.json").is_file():
            raise InputError(f"{archive}: the folder {args.member!r} holds no config.json: not a model folder")
        if any((folder / name).is_file() for name in TOKENIZER_FILES):
            return
        if not args.tokenizer:
            raise InputError(f"{archive}: the folder {args.member!r} holds no tokenizer; give --tokenizer")
        from t5qa.data.features import load_tokenizer

        load_tokenizer(args.tokenizer).save_pretrained(folder)
        log.info("%s has no tokenizer: saved %s's beside it", args.member, args.tokenizer)

    files = extract_folder(archive, args.member, output, finish=add_tokenizer, max_bytes=args.max_bytes)
    log.info("extracted %s!%s (%d files) into %s", archive, args.member, len(files), output)


if __name__ == "__main__":
    cli.run(main)
