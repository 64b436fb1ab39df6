import pandas as pd

from t5qa.data.demo_data import CAUSES, EVENTS, NEUTRAL, SUBJECTS, render_demo_files, render_long_demo_files
from t5qa.data.normalize import normalize_file
from t5qa.settings import NormalizeSettings

from .conftest import REPO

DEMO = REPO / "resources" / "demo"
DEMO_LONG = REPO / "resources" / "demo_long"


def settings(fmt: str) -> NormalizeSettings:
    return NormalizeSettings.from_dict({"format": fmt})


def test_committed_demo_files_are_what_the_generator_writes():
    for name, text in render_demo_files().items():
        assert (DEMO / name).read_text(encoding="utf-8") == text, f"{name}: run workflow/scripts/make_demo_data.py"


def test_demo_is_large_enough_and_mixes_answerable_and_unanswerable():
    tables = {
        name: normalize_file(DEMO / name, settings("squad_v2_json" if name.endswith(".json") else "causalqa_csv"))[0]
        for name in render_demo_files()
    }
    train = pd.concat([t for n, t in tables.items() if "train" in n])
    validation = pd.concat([t for n, t in tables.items() if "validation" in n])
    assert len(train) >= 2000 and len(validation) >= 300
    for split in (train, validation):
        unanswerable = (split["answer"] == "").mean()
        assert 0.1 < unanswerable < 0.5
    answerable = validation[validation["answer"] != ""]
    # Extractive: every gold is a span of its context.
    assert all(a.split("\t")[0] in c for a, c in zip(answerable["answer"], answerable["context"]))
    assert not set(train["id"]) & set(validation["id"])


def test_committed_long_demo_files_are_what_the_generator_writes_and_answers_lie_anywhere():
    for name, text in render_long_demo_files().items():
        assert (DEMO_LONG / name).read_text(encoding="utf-8") == text, f"{name}: run workflow/scripts/make_demo_data.py"
    table = normalize_file(DEMO_LONG / "squad_validation.json", settings("squad_v2_json"))[0]
    answerable = table[table["answer"] != ""]
    assert 0.2 < 1 - len(answerable) / len(table) < 0.5
    # Answers in every part of the long contexts, not only near the start.
    positions = [c.find(a) / len(c) for a, c in zip(answerable["answer"], answerable["context"])]
    assert min(positions) >= 0 and sum(p > 0.5 for p in positions) > len(positions) / 4
    assert min(map(len, table["context"])) > 4 * max(map(len, table["question"]))
    # The padding sentences name no subject, event or cause: the questions keep the demo's answers.
    words = [*SUBJECTS, *CAUSES, *(past for past, _ in EVENTS)]
    assert not [(n, w) for n in NEUTRAL for w in words if w.lower() in n.lower()]
