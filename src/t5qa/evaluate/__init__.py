"""Scoring predictions: the official SQuAD v2.0 measures, ROUGE-L, the CausalQA paper's measures."""
