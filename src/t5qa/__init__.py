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
