"""Token-budget batching (t5qa.data.batching): the budget, every example once per epoch, batches as a function of
(seed, epoch), whole batches per process; training with it resumes to the same model and learns; prediction with
it gives the same answers as fixed batches, with one process or two. And torch's thread count."""

import json
import random
import re
import signal
import subprocess

import pytest
from accelerate.data_loader import BatchSamplerShard

from t5qa.data.batching import (
    TokenBudgetBatchSampler,
    padded_length,
    split_to_multiple,
    token_budget_batches,
    torch_threads,
)
from t5qa.errors import InputError
from t5qa.settings import PredictSettings, TrainSettings

from .conftest import REPO
from .trained import (
    ONE_THREAD,
    PREDICT,
    TRAIN,
    TWO_PROCESSES,
    assert_same_weights,
    checkpoint_steps,
    predict,
    train_command,
    training_log,
    wait_for_checkpoint,
)


def random_lengths(n: int, seed: int, low: int = 3, high: int = 300) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(low, high) for _ in range(n)]


def cost(batch: list[int], lengths: list[int], multiple: int) -> int:
    return len(batch) * max(padded_length(lengths[i], multiple) for i in batch)


# --- prediction's batches


def test_prediction_batches_are_length_sorted_and_within_the_budget():
    lengths = random_lengths(500, seed=1)
    batches = token_budget_batches(lengths, 1000)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(500))  # every input exactly once
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)  # longest first
    assert all(cost(batch, lengths, 1) <= 1000 for batch in batches)
    # Greedy: no batch could have taken the next input.
    for batch in batches[:-1]:
        assert (len(batch) + 1) * lengths[batch[0]] > 1000


def test_an_input_over_the_budget_is_a_batch_of_its_own():
    assert token_budget_batches([5, 50, 3, 40], 45) == [[1], [3], [0, 2]]
    assert token_budget_batches([7], 1) == [[0]]


def test_settings_take_batch_tokens_null_by_default():
    assert PredictSettings.from_dict({}).batch_tokens is None
    assert TrainSettings.from_dict({}).batch_tokens is None
    assert PredictSettings.from_dict({"batch_tokens": 4096}).batch_tokens == 4096
    with pytest.raises(InputError, match="batch_tokens"):
        TrainSettings.from_dict({"batch_tokens": 0})


# --- training's batch sampler


@pytest.mark.parametrize("processes", [1, 2, 3])
def test_training_batches_hold_every_example_once_within_the_budget(processes):
    lengths = random_lengths(700, seed=2)
    sampler = TokenBudgetBatchSampler(lengths, budget=2048, seed=0, multiple=8, processes=processes)
    assert len(sampler) % processes == 0
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler)  # the same count every epoch (the Trainer counts steps once)
        assert sorted(i for batch in batches for i in batch) == list(range(700))
        assert all(batch for batch in batches)
        assert all(cost(batch, lengths, 8) <= 2048 for batch in batches)
        longest = max(padded_length(n, 8) for n in lengths)
        assert max(padded_length(lengths[i], 8) for i in batches[0]) == longest  # the longest batch first


def test_training_batches_depend_only_on_seed_and_epoch():
    lengths = random_lengths(400, seed=3)

    def epoch_batches(seed, epoch):
        sampler = TokenBudgetBatchSampler(lengths, budget=1500, seed=seed)
        sampler.set_epoch(epoch)
        return list(sampler)

    assert epoch_batches(0, 1) == epoch_batches(0, 1)  # a fresh sampler (a resumed run) gives the same batches
    assert epoch_batches(0, 1) != epoch_batches(0, 2)  # another order, and other examples together, each epoch
    assert {tuple(sorted(b)) for b in epoch_batches(0, 1)} != {tuple(sorted(b)) for b in epoch_batches(0, 2)}
    assert epoch_batches(0, 1) != epoch_batches(1, 1)


def test_examples_of_one_padded_length_share_batches_with_different_partners_each_epoch():
    lengths = [16] * 64  # one bucket: 4 examples per batch of 64 tokens
    sampler = TokenBudgetBatchSampler(lengths, budget=64, seed=0)
    partners = []
    for epoch in range(2):
        sampler.set_epoch(epoch)
        partners.append({frozenset(b) for b in sampler})
    assert all(len(b) == 4 for b in partners[0]) and partners[0] != partners[1]


@pytest.mark.parametrize("processes", [2, 3, 4])
def test_processes_get_whole_batches_and_together_every_example_once(processes):
    """As accelerate deals the batches out (BatchSamplerShard: batch b to process b % N, evened out by repeating
    batches when their count is not a multiple of N, which the sampler's count never needs)."""
    lengths = random_lengths(301, seed=4)
    sampler = TokenBudgetBatchSampler(lengths, budget=900, seed=5, processes=processes)
    sampler.set_epoch(2)
    everything = list(sampler)
    shards = [list(BatchSamplerShard(sampler, processes, rank)) for rank in range(processes)]
    assert len({len(shard) for shard in shards}) == 1  # the same number of steps on every process
    for rank, shard in enumerate(shards):
        assert shard == everything[rank::processes]  # whole batches, dealt round-robin
    assert sorted(i for shard in shards for batch in shard for i in batch) == list(range(301))


def test_the_batch_count_is_made_a_multiple_of_the_processes_by_halving_the_largest_batches():
    assert split_to_multiple([3, 5, 2], 2) == [3, 3, 2, 2]
    assert split_to_multiple([1, 1, 1], 3) == [1, 1, 1]
    assert split_to_multiple([4], 4) == [1, 1, 1, 1]
    with pytest.raises(InputError, match="3 training examples cannot be spread over 4 processes"):
        split_to_multiple([1, 2], 4)


# --- torch threads


def test_torch_threads_follow_the_job_the_cores_and_the_local_processes(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert torch_threads() == 4  # every core this process may use
    assert torch_threads(2) == 2  # the job's threads
    assert torch_threads(16) == 4  # never more than the cores (Slurm's cgroup), whatever the job says
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert torch_threads() == 3
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")  # accelerate launch: two processes share the job's threads
    assert torch_threads(4) == 2
    assert torch_threads(1) == 1


# --- training and prediction end to end (the tiny data of tests/trained.py)

# 160 training rows of 40-90 tokens: a budget of 512 padded tokens makes batches of 5-8.
BUDGET_TRAIN = {**TRAIN, "batch_tokens": 512, "save_steps": 5, "eval_steps": 0, "epochs": 2}


@pytest.fixture(scope="module")
def budget_trained(prepared, tmp_path_factory):
    out = tmp_path_factory.mktemp("budget_trained")
    result = subprocess.run(
        train_command(prepared, out, settings=BUDGET_TRAIN), cwd=REPO, capture_output=True, text=True, env=ONE_THREAD
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result.stderr


def test_training_with_batch_tokens_learns(budget_trained):
    out, stderr = budget_trained
    batches = re.search(r"batch_tokens 512: (\d+) batches per epoch of ([\d.]+) examples on average", stderr)
    assert batches, stderr[-3000:]
    steps_per_epoch = int(batches.group(1))
    history = training_log(out)
    assert history["final_step"] == 2 * steps_per_epoch
    losses = [entry["loss"] for entry in history["log_history"] if "loss" in entry]
    assert losses[-1] < 0.85 * losses[0], losses


def test_training_with_batch_tokens_resumes_to_the_same_model(prepared, budget_trained, tmp_path):
    """Killed in the second epoch; the rerun skips the batches it trained on and ends where an uninterrupted run
    does."""
    reference, stderr = budget_trained
    steps_per_epoch = int(re.search(r"(\d+) batches per epoch", stderr).group(1))
    after = 5 * (steps_per_epoch // 5 + 1)  # the first checkpoint in the second epoch
    process = subprocess.Popen(
        train_command(prepared, tmp_path, settings=BUDGET_TRAIN),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=ONE_THREAD,
    )
    wait_for_checkpoint(tmp_path / "checkpoints", after, process)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert checkpoint_steps(tmp_path / "checkpoints")[-1] > steps_per_epoch

    rerun = subprocess.run(
        train_command(prepared, tmp_path, settings=BUDGET_TRAIN),
        cwd=REPO,
        capture_output=True,
        text=True,
        env=ONE_THREAD,
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    resumed = re.search(r"resuming from \S+/checkpoint-(\d+)", rerun.stderr)
    assert resumed and int(resumed.group(1)) % steps_per_epoch, rerun.stderr[-3000:]  # mid-epoch: batches skipped
    assert_same_weights(tmp_path / "model", reference / "model")


def test_predictions_are_the_same_with_batch_tokens_and_batch_size_and_with_two_processes(
    prepared,
    budget_trained,
    tmp_path,
):
    model = budget_trained[0] / "model"
    fixed = predict(prepared, model, tmp_path / "fixed.jsonl")
    budget = {**PREDICT, "batch_tokens": 300}
    one = predict(prepared, model, tmp_path / "one.jsonl", settings=budget)
    two = predict(prepared, model, tmp_path / "two.jsonl", TWO_PROCESSES, settings=budget)
    # Batches are formed once, then dealt out: the same answers with two processes. Scores agree to float precision
    # only: each process gets its share of the job's threads, and CPU kernels split sums by thread count. Other
    # batches (a budget instead of a count) pad differently: the same answers again, scores to float precision.
    for other in (two, fixed):
        assert [(r["id"], r["prediction"], r["generated"]) for r in one] == [
            (r["id"], r["prediction"], r["generated"]) for r in other
        ]
        for a, b in zip(one, other):
            assert a["score"] == pytest.approx(b["score"], abs=1e-4)
            assert a["na_prob"] == pytest.approx(b["na_prob"], abs=1e-4)
    assert json.dumps(one)  # plain JSON rows
