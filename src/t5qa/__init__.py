"""Fine-tuning T5 on extractive question answering: the library behind the Snakemake workflow."""

UNIFORM_COLUMNS = [
    "id",
    "question",
    "question_processed",
    "context",
    "context_processed",
    "answer",
    "answer_processed",
]

# Several gold answers share one cell, tab-separated (the Webis-CausalQA-22 convention).
ANSWER_SEPARATOR = "\t"

SPLITS = ("train", "validation")  # every source has a train file; validation may be carved out of it
TEST = "test"  # a source may declare a test file too: never trained on, only scored when an evaluation asks
ALL_SPLITS = (*SPLITS, TEST)
