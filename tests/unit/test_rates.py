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


def test_json_rate_times_window_rounds_to_the_count() -> None:
    """What the README promises a script: round(events_per_s * window_s) is the frame's count.

    window_s is rounded to the ns in the JSON and events_per_s not at all; the worst cases sit just
    off a rounding boundary of the window, and at the longest interval (3600 s) with a tiny count.
    The failure CI met: 628 052 events in 0.293921525 s (2.1 million/s) gave a product 1.01 off
    with the window kept to 1 µs.
    """
    import json
    import random

    from ebpftop.model.frame import ProbeStatus

    rng = random.Random(7)
    windows = [0.29392152505408187, 1e-6, 0.0000015, 1.0000005, 2.9999995, 3600.0000003, 3599.9999996]
    windows += [rng.uniform(1e-4, 10.0) for _ in range(2000)] + [rng.uniform(10.0, 3600.5) for _ in range(500)]
    for window in windows:
        # 2 events in an hour: with events_per_s kept to 0.001 that came back as 4 (the new-user review)
        for count in (1, 2, 628_052, int(window * 9_999_999), rng.randrange(0, int(window * 1e7) + 1)):
            status = ProbeStatus(name="syscalls", state="live", events_per_s=rate(count, window), window_s=window)
            out = json.loads(json.dumps(status.to_json()))
            assert round(out["events_per_s"] * out["window_s"]) == count, (count, window, out)
