"""The throughput benchmark's statistics: the scheduler-state split and the like-for-like ratio."""

from benchmarks.throughput import Epoch, fit_rates, state_ratio, state_split


def epoch(rate: float, cores: float) -> Epoch:
    return Epoch(wall_rate=rate, cpu_rate=rate / cores, cores=cores)


def test_state_split_separates_the_two_modes():
    cores = [1.05, 1.72, 1.08, 1.70, 1.75, 1.04, 1.69, 1.10]
    split = state_split(cores)
    assert 1.10 < split < 1.69


def test_state_split_sees_one_state_when_the_cores_agree():
    assert state_split([1.70, 1.72, 1.68, 1.74, 1.71]) is None
    assert state_split([1.0, 1.7]) is None  # too few epochs to call it two states


def test_state_ratio_compares_like_with_like():
    # Plain drew the slow state twice as often as ours: the medians over all epochs disagree by a
    # third, yet in each state the two paths run at the same speed.
    plain = [epoch(7000, 1.7)] * 3 + [epoch(4700, 1.05)] * 6
    ours = [epoch(6900, 1.7)] * 6 + [epoch(4650, 1.05)] * 3
    split = state_split([e.cores for e in plain + ours])
    fast = state_ratio(plain, ours, split, fast=True)
    slow = state_ratio(plain, ours, split, fast=False)
    assert (fast.plain_epochs, fast.our_epochs) == (3, 6)
    assert abs(fast.ratio - 6900 / 7000) < 1e-9 and abs(slow.ratio - 4650 / 4700) < 1e-9
    assert fast.ci90[0] <= fast.ratio <= fast.ci90[1]
    assert fit_rates(ours)[0] / fit_rates(plain)[0] > 1.4


def test_state_ratio_needs_enough_epochs_in_the_state():
    plain = [epoch(7000, 1.7)] * 5 + [epoch(4700, 1.05)]
    ours = [epoch(7000, 1.7)] * 5 + [epoch(4700, 1.05)] * 2
    split = state_split([e.cores for e in plain + ours])
    slow = state_ratio(plain, ours, split, fast=False)
    assert (slow.ratio, slow.plain_epochs, slow.our_epochs) == (None, 1, 2)
    every = state_ratio(plain, ours, None, fast=True)  # one state: every epoch counts
    assert (every.plain_epochs, every.our_epochs) == (6, 7)


def test_pool_keeps_runs_apart_and_takes_the_geometric_mean(tmp_path, monkeypatch):
    import json

    import benchmarks.throughput as throughput

    def saved_run(path, plain_rate, our_rate):
        plains = [[epoch(plain_rate, 1.7), epoch(plain_rate * 0.66, 1.05)] * 2] * 2
        mines = [[epoch(our_rate, 1.7), epoch(our_rate * 0.66, 1.05)] * 2] * 2
        row = throughput.summarise("fast", 128, plains, mines, mines[:1], [3.0, 4.0], 1_000_000, 200.0)
        path.write_text(json.dumps({"result": {"device": "cpu", "tensorflow": "x", "matmul_peak_gflop_s": 200.0,
                                               "models": [row]}}))
        return str(path)

    # The second run's machine is a third slower for both paths: like for like, ours is 0.98 then 1.02.
    first = saved_run(tmp_path / "a.json", 7000, 6860)
    second = saved_run(tmp_path / "b.json", 4690, 4784)
    written = {}
    monkeypatch.setattr(throughput, "save", lambda name, result: written.update(result))
    throughput.pool([first, second])
    row = written["models"][0]
    assert [round(v, 3) for v in row["per_run"]["two_cpu"]] == [0.98, 1.02]
    assert abs(row["geometric_mean"]["two_cpu"] - (6860 / 7000 * 4784 / 4690) ** 0.5) < 1e-9
