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
    fast, n_plain, n_ours = state_ratio(plain, ours, split, fast=True)
    slow = state_ratio(plain, ours, split, fast=False)[0]
    assert (n_plain, n_ours) == (3, 6)
    assert abs(fast - 6900 / 7000) < 1e-9 and abs(slow - 4650 / 4700) < 1e-9
    assert fit_rates(ours)[0] / fit_rates(plain)[0] > 1.4


def test_state_ratio_needs_enough_epochs_in_the_state():
    plain = [epoch(7000, 1.7)] * 5 + [epoch(4700, 1.05)]
    ours = [epoch(7000, 1.7)] * 5 + [epoch(4700, 1.05)] * 2
    split = state_split([e.cores for e in plain + ours])
    assert state_ratio(plain, ours, split, fast=False) == (None, 1, 2)
    assert state_ratio(plain, ours, None, fast=True)[1:] == (6, 7)  # one state: every epoch counts
