"""Rate arithmetic: first sample, zero elapsed, counter reset, empty input."""

from ebpftop.model.rates import average, counter_delta, rate


def test_rate_uses_measured_elapsed() -> None:
    assert rate(300, 1.5) == 200.0


def test_rate_zero_or_negative_elapsed_is_zero() -> None:
    assert rate(100, 0.0) == 0.0
    assert rate(100, -1.0) == 0.0


def test_counter_first_sample_has_no_delta() -> None:
    assert counter_delta(None, 12345) == 0


def test_counter_growth() -> None:
    assert counter_delta(100, 250) == 150


def test_counter_reset_counts_what_is_there_now() -> None:
    assert counter_delta(1000, 40) == 40


def test_average_of_nothing_is_zero() -> None:
    assert average(500, 0) == 0.0
    assert average(500, 5) == 100.0
