"""Build the offline stand-ins for a hub checkpoint: a sentencepiece tokenizer trained on our own
text, or a small random-init T5 for such a tokenizer. Both are saved with `save_pretrained`.

Examples:
  python workflow/scripts/scratch_model.py tokenizer --texts train.parquet --output tok/ --settings '{...}'
  python workflow/scripts/scratch_model.py model --tokenizer tok/ --output model/ --settings '{...}'
"""

import argparse
import logging
from pathlib import Path

from t5qa import cli
from t5qa.atomic import atomic_path
from t5qa.data.features import load_tokenizer
from t5qa.model.model_io import honour_umask
from t5qa.model.scratch_model import build_model, tokenizer_texts, train_tokenizer
from t5qa.settings import ScratchModelSettings, ScratchTokenizerSettings

COMMAND = cli.Command("scratch-model", "a scratch tokenizer or small random-init T5 (offline stand-ins)")
log = logging.getLogger("t5qa.scratch")


def main(argv: list[str] | None = None) -> None:
    parser = COMMAND.parser(__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    tok = sub.add_parser(
        "tokenizer",
        help="train a sentencepiece tokenizer on normalised tables",
        epilog=f"settings:\n{ScratchTokenizerSettings.describe()}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tok.add_argument("--texts", nargs="+", required=True, help="normalised tables (.parquet)")
    tok.add_argument("--output", required=True)
    cli.add_settings_option(tok)
    mod = sub.add_parser(
        "model",
        help="a random-init T5 sized for a tokenizer",
        epilog=f"settings:\n{ScratchModelSettings.describe()}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mod.add_argument("--tokenizer", required=True)
    mod.add_argument("--output", required=True)
    cli.add_settings_option(mod)
    args = parser.parse_args(argv)
    inputs = {"--texts": args.texts} if args.what == "tokenizer" else {"--tokenizer": args.tokenizer}
    cli.check_paths(inputs, {}, {"--output": args.output})

    if args.what == "tokenizer":
        settings = ScratchTokenizerSettings.from_json(args.settings)
        frames = [cli.read_table(Path(p), ["id", "question", "context", "answer"]) for p in args.texts]
        texts = tokenizer_texts(frames, settings.template, settings.unanswerable_target)
        tokenizer = train_tokenizer(texts, settings.vocab_size, settings.seed)
        log.info("trained a %d-piece tokenizer on %d texts", len(tokenizer), len(texts))
        with atomic_path(args.output, is_dir=True) as tmp:
            tokenizer.save_pretrained(tmp)
    else:
        settings = ScratchModelSettings.from_json(args.settings)
        tokenizer = load_tokenizer(args.tokenizer)
        model = build_model(tokenizer, settings.architecture, settings.seed)
        log.info("built a random-init T5 with %.2fM parameters", model.num_parameters() / 1e6)
        with atomic_path(args.output, is_dir=True) as tmp:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            honour_umask(tmp)


if __name__ == "__main__":
    cli.run(main)
