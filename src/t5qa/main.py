"""`t5qa`: one command for every step of the pipeline, and for asking a trained model.

t5qa ask MODEL --question Q --context C      answer questions as the predict step would
t5qa <step> --help                           each step's own options (the workflow runs the same code)
"""

from __future__ import annotations

import importlib
import sys

from t5qa import cli

# subcommand -> (module under t5qa.commands, one line of help)
COMMANDS = {
    "ask": ("ask", "answer questions with a trained model, as the predict step would"),
    "download": ("download", "fetch one raw file (URL, local path, zip member, hub split) with checksum checks"),
    "normalize": ("normalize", "one split of one source into the uniform table and its stats"),
    "scratch-model": ("scratch_model", "a scratch tokenizer or small random-init T5 (offline stand-ins)"),
    "tokenize-data": ("tokenize_data", "tokenize a dataset into an Arrow folder and its stats"),
    "train": ("train", "fine-tune T5 on a tokenized dataset"),
    "predict": ("predict", "generate answers for a tokenized validation or test split"),
    "estimate": ("estimate", "tokens, FLOPs and GPU hours of a run's train and predict jobs, before submitting"),
    "metrics": ("metrics", "score predictions as the official SQuAD v2.0 script does (+ ROUGE-L, per source)"),
    "evaluate": ("metrics", "the same as metrics"),
    "prefetch": ("prefetch", "fetch a hub model or tokenizer into the cache (on a login node with network)"),
    "prefetch-archive-model": ("prefetch_archive_model", "extract a model folder from a downloaded zip"),
    "summary": ("summary", "compare experiments: one table over many metrics files, mean ± std over seeds"),
    "summary-page": ("summary_page", "a comparison table as one sortable HTML page"),
    "report-page": ("report_page", "a dataset's report page (scores, data stats) as one HTML file"),
    "plot-training": ("plot_training", "plot a training run's curves"),
    "causalqa-table": ("causalqa_table", "the Webis-CausalQA-22 fine-tuning table from the metrics files"),
    "demo-data": ("make_demo_data", "regenerate the embedded demo data"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    return "usage: t5qa COMMAND [options]   (t5qa COMMAND --help for its options)\n\ncommands:\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        sys.exit(0 if argv else 2)
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}\n{usage()}", file=sys.stderr)
        sys.exit(2)
    module = importlib.import_module(f"t5qa.commands.{COMMANDS[name][0]}")
    sys.argv[0] = f"t5qa {name}"  # what argparse names in usage lines
    cli.run(lambda: module.main(rest))


if __name__ == "__main__":
    main()
