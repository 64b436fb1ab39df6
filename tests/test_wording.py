"""Claims in the help and the docs that code can check: what `t5qa ask` calls its score, what the quick start
downloads, and which torch wheel `make install` gets."""

import re

import pytest

from t5qa.commands.ask import build_parser

from .conftest import REPO


def test_ask_help_calls_the_score_the_sum_the_predict_step_computes():
    text = build_parser().format_help()
    assert "sum of the log-probabilities" in text and "mean log" not in text


def test_the_quick_start_does_not_promise_no_network():
    quick_start = (REPO / "README.md").read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "no network needed" not in quick_start and "PyPI" in quick_start


@pytest.mark.parametrize("path", ["Makefile", "docs/cluster.md"])
def test_torch_from_pypi_is_not_called_the_cpu_wheel(path):
    text = (REPO / path).read_text()
    assert not re.search(r"CPU wheel[` ]*torch==", text) and "The CPU wheel for" not in text
    assert "CUDA build" in text
