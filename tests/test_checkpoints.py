"""Checkpoints are verified before they are resumed: sizes and end hashes recorded in the run marker."""

import logging

from t5qa.model.checkpoints import RUN_MARKER, checkpoint_damage, newest_checkpoint, resumable_checkpoint, write_marker

FINGERPRINT = {"settings": {}, "model": {}, "train_data": [], "processes": 1, "bf16": False, "launch": {}}


def make_checkpoint(root, step, weights=b"w" * 5000):
    folder = root / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(weights)
    (folder / "trainer_state.json").write_text("{}")
    (folder / "optimizer.pt").write_bytes(b"o" * 3000)
    write_marker(folder, step, None, FINGERPRINT)
    return folder


def test_an_intact_checkpoint_has_no_damage(tmp_path):
    folder = make_checkpoint(tmp_path, 6)
    assert checkpoint_damage(folder) == ""
    assert resumable_checkpoint(tmp_path, FINGERPRINT) == (folder, "")


def test_each_kind_of_damage_is_named(tmp_path):
    cut = make_checkpoint(tmp_path, 1)
    with (cut / "model.safetensors").open("r+b") as stream:
        stream.truncate(100)
    assert checkpoint_damage(cut) == "model.safetensors is 100 bytes, 5000 were written (cut short?)"
    gone = make_checkpoint(tmp_path, 2)
    (gone / "optimizer.pt").unlink()
    assert checkpoint_damage(gone) == "optimizer.pt is missing"
    changed = make_checkpoint(tmp_path, 3)
    (changed / "model.safetensors").write_bytes(b"x" * 5000)  # same size, other bytes (zeroed, overwritten)
    assert checkpoint_damage(changed) == "model.safetensors differs from what was written"
    unreadable = make_checkpoint(tmp_path, 4)
    (unreadable / RUN_MARKER).write_text("{")
    assert "unreadable" in checkpoint_damage(unreadable)


def test_the_newest_intact_checkpoint_is_resumed_and_the_damaged_one_logged(tmp_path, caplog):
    older = make_checkpoint(tmp_path, 6)
    newer = make_checkpoint(tmp_path, 12)
    with (newer / "model.safetensors").open("r+b") as stream:
        stream.truncate(10)
    with caplog.at_level(logging.WARNING, logger="t5qa.model.train"):
        assert resumable_checkpoint(tmp_path, FINGERPRINT) == (older, "")
    assert [r.getMessage() for r in caplog.records] == [
        f"skipping {newer}: model.safetensors is 10 bytes, 5000 were written (cut short?)"
    ]
    # During training the newest complete checkpoint is looked up unverified (no hashing at every save).
    assert newest_checkpoint(tmp_path) == newer


def test_only_damaged_checkpoints_mean_a_fresh_start(tmp_path):
    folder = make_checkpoint(tmp_path, 6)
    (folder / "model.safetensors").write_bytes(b"")
    resume, why = resumable_checkpoint(tmp_path, FINGERPRINT)
    assert resume is None and why == "incomplete or damaged checkpoints only (checkpoint-6)"
