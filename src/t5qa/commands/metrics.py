"""Score predictions with the official SQuAD v2.0 EM/F1 (plus ROUGE-L and a per-source breakdown).

When every prediction carries an 'na_prob' (the model's probability of no answer), the official tuned-threshold
keys best_exact, best_exact_thresh, best_f1, best_f1_thresh are added. 'causalqa_measures' holds EM/F1/ROUGE-L as
the Webis-CausalQA-22 paper's measures.py computes them (see t5qa.evaluate.causalqa_measures).

Example:
  python workflow/scripts/metrics.py --predictions P.jsonl --references R.parquet --output M.json
References are normalised tables; name them SOURCE=PATH when the predictions span several sources (unnamed, each is
named after its folder). A single unnamed reference matches predictions by id alone.
"""

import logging
from pathlib import Path

from t5qa import cli
from t5qa.atomic import atomic_paths, write_json
from t5qa.evaluate.metrics import load_predictions, name_references, question_table, score
from t5qa.manifest import build_manifest, now

COMMAND = cli.Command(
    "metrics",
    "score predictions as the official SQuAD v2.0 script does (+ ROUGE-L, per source)",
    aliases=("evaluate",),
)

log = logging.getLogger("t5qa.evaluate.metrics")


def main(argv: list[str] | None = None) -> None:
    parser = COMMAND.parser(__doc__)
    parser.add_argument(
        "--predictions",
        required=True,
        help="JSONL with 'id' and 'prediction' (and 'source', 'na_prob', 'score')",
    )
    parser.add_argument("--references", nargs="+", required=True, help="[SOURCE=]normalised validation table")
    parser.add_argument(
        "--train-references",
        nargs="*",
        default=[],
        help="normalised train tables, for the most-frequent-answer baseline",
    )
    parser.add_argument("--output", required=True, help="the metrics JSON")
    parser.add_argument("--manifest", help="also write a run manifest here")
    parser.add_argument(
        "--questions",
        help="also write one row per question here (CSV, worst F1 first: question, gold, prediction, scores)",
    )
    parser.add_argument("--model-name", help="recorded in the metrics")
    parser.add_argument("--dataset-name", help="recorded in the metrics")
    args = parser.parse_args(argv)
    started = now()
    references = [cli.split_name(a, "--references") for a in args.references]
    cli.check_paths(
        {
            "--predictions": args.predictions,
            "--references": [path for _, path in references],
            "--train-references": args.train_references,
        },
        {"--output": args.output, "--manifest": args.manifest, "--questions": args.questions},
    )
    train_answers = [
        answer
        for path in args.train_references
        for answer in cli.read_table(Path(path), ["answer"], "train table")["answer"]
    ]
    predictions = load_predictions(Path(args.predictions))
    references, by_id = name_references(references, predictions)
    result = score(predictions, references, Path(args.predictions), train_answers or None, by_id)
    questions = question_table(predictions, references, Path(args.predictions), by_id) if args.questions else None
    result = {"dataset": args.dataset_name, "model": args.model_name, **result}
    log.info("exact %.2f  f1 %.2f  (%d questions)", result["exact"], result["f1"], result["total"])
    if args.manifest:
        inputs = {"predictions": args.predictions, **{f"references:{s}": str(p) for s, p in references}}
        settings = {"dataset": args.dataset_name, "model": args.model_name}
        manifest = build_manifest("metrics", settings, inputs, started)
    # The metrics, their manifest and the question table appear together, from this run, or not at all.
    outputs = {args.output: result, **({args.manifest: manifest} if args.manifest else {})}
    with atomic_paths(*outputs, *([args.questions] if args.questions else [])) as temporaries:
        for tmp, document in zip(temporaries, outputs.values()):
            write_json(tmp, document)
        if questions is not None:
            questions.to_csv(temporaries[-1], index=False)


if __name__ == "__main__":
    cli.run(main)
