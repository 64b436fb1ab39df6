"""Ask a trained model questions, as the predict step would answer them.

  t5qa ask results/models/demo --question "Why did the mill stop?" --context "The mill stopped because ..."
  t5qa ask results/models/demo --file questions.jsonl        # or .csv: columns question, context[, id]
  cat questions.jsonl | t5qa ask results/models/demo --json  # one JSON object a line in, one a line out

Prints each answer with its score (the sum of the log-probabilities of its tokens, as the predict step's) and
no-answer probability; an empty answer means the model holds the question unanswerable from the context.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from t5qa import cli
from t5qa.data.batching import use_job_threads
from t5qa.data.text_files import decode_utf8
from t5qa.errors import InputError
from t5qa.model.ask import ask, check_tokenizer_files, model_tokenize_settings, read_questions
from t5qa.settings import PredictSettings

COMMAND = cli.Command("ask", "answer questions with a trained model, as the predict step would", workflow=False)


def build_parser() -> argparse.ArgumentParser:
    parser = COMMAND.parser(__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("model", help="a trained model folder (results/models/<dataset>) or a hub id / local model")
    given = parser.add_argument_group("questions (one of)")
    given.add_argument("--question", help="one question (with --context)")
    given.add_argument("--context", default="", help="the context of --question (empty: the question alone)")
    given.add_argument("--file", help="a JSONL or CSV file of questions ('-' or none given: standard input)")
    parser.add_argument("--json", action="store_true", help="one JSON object a line (id, question, prediction, ...)")
    parser.add_argument("--settings", default="{}", help="predict settings as JSON (batch_size, num_beams, ...)")
    parser.add_argument(
        "--tokenize",
        default="{}",
        help="tokenize settings as JSON, over the model's own (template, max_source_length, ...); a model folder "
        "the train step wrote carries its own, a hub model takes the defaults",
    )
    parser.add_argument("--threads", type=int, help="torch threads (default: OMP_NUM_THREADS, else every core)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.question is not None and args.file is not None:
        raise InputError("give --question (and --context) or --file, not both")
    if args.question is not None:
        questions = read_questions(json.dumps({"question": args.question, "context": args.context}), "--question")
    elif args.file in (None, "-"):
        if args.file is None and sys.stdin.isatty():
            raise InputError("no questions: give --question and --context, --file, or questions on standard input")
        questions = read_questions(decode_utf8(sys.stdin.buffer.read(), "standard input"), "standard input")
    else:
        path = Path(args.file)
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        questions = read_questions(decode_utf8(path.read_bytes(), path), str(path))
    check_tokenizer_files(args.model)
    cli.check_threads(args.threads)
    use_job_threads(args.threads)  # as the predict step does: the same threads give the same float rounding
    predict_settings = PredictSettings.from_json(args.settings)
    overrides = cli.parse_settings(args.tokenize, "--tokenize")
    tokenize_settings, longest = model_tokenize_settings(args.model, overrides)
    for record in ask(args.model, questions, predict_settings, tokenize_settings, longest):
        if args.json:
            print(json.dumps(record, ensure_ascii=False))
        else:
            shown = record["prediction"] or "(no answer)"
            scores = f"score {record['score']:.3f}\tno-answer probability {record['na_prob']:.3f}"
            print(f"{record['id']}\t{shown}\t{scores}")
    return 0
