"""--metrics exposition: hostile names parse back exactly, the HTTP server, a stalled scraper, the CLI's choices."""

from __future__ import annotations

import socket
import threading
import urllib.request

import pytest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from ebpftop import cli
from ebpftop.model.frame import Frame
from ebpftop.model.metrics import MetricsOptions
from ebpftop.model.syscalls import SyscallCount, SyscallSample, SyscallsModel
from ebpftop.output.metrics import Exporter
from ebpftop.settings import Settings

HOSTILE = [
    b"a\xff\xfeb",  # invalid UTF-8
    b'q"uote',
    b"back\\slash",
    b"new\nline",
    b"\x1b[31mred\x1b[0m",  # terminal escape
    b"\\xff",  # the text a raw 0xff byte becomes: the documented ambiguity, still a valid value
    b"\xc3\xa9t\xc3\xa9",  # valid UTF-8
    b"}{=,#",
]


def syscall_frame(model: SyscallsModel, counts: list[tuple[int, str, str, int]], i: int = 1) -> Frame:
    sample = SyscallSample(tuple(SyscallCount(pid, 0, name, n, comm) for pid, comm, name, n in counts))
    return Frame(time=1e9 + i, elapsed=1.0, probes=(), panes={"syscalls": model.update(sample, 1.0)})


def hostile_frame() -> Frame:
    comms = [raw.decode("utf-8", "surrogateescape") for raw in HOSTILE]  # as model.sanitize.decode gives them
    return syscall_frame(SyscallsModel(), [(100 + i, c, "getppid", i + 1) for i, c in enumerate(comms)])


def syscall_values(families: object) -> dict[str, float]:
    out = {}
    for fam in families:  # type: ignore[attr-defined]
        for s in fam.samples:
            if s.name == "ebpftop_syscalls_total":
                out[s.labels["comm"]] = s.value
    return out


def expected() -> dict[str, float]:
    return {raw.decode("utf-8", "backslashreplace"): i + 1 for i, raw in enumerate(HOSTILE)}


def test_hostile_names_parse_back_exactly_in_the_text_format() -> None:
    exp = Exporter("127.0.0.1", 0, MetricsOptions())
    exp.sink(hostile_frame())
    text = exp.render().decode("utf-8")
    assert syscall_values(parse_text(text)) == expected()


def test_hostile_names_parse_back_exactly_in_openmetrics() -> None:
    exp = Exporter("127.0.0.1", 0, MetricsOptions())
    exp.sink(hostile_frame())
    text = openmetrics_latest(exp.registry).decode("utf-8")
    assert text.endswith("# EOF\n")
    assert syscall_values(parse_openmetrics(text)) == expected()


def test_served_over_http_from_its_own_registry() -> None:
    exp = Exporter("127.0.0.1", 0, MetricsOptions())
    exp.start()
    try:
        exp.sink(hostile_frame())
        body = urllib.request.urlopen(exp.url, timeout=10).read().decode()
        assert syscall_values(parse_text(body)) == expected()
        names = {fam.name for fam in parse_text(body)}
        assert {"ebpftop_cpu_seconds", "ebpftop_build_info", "ebpftop_frames"} <= names
        # Not the library's global registry: no python_gc_* / process_* of prometheus_client's defaults.
        assert not any(n.startswith(("python_", "process_")) for n in names)
        req = urllib.request.Request(exp.url, headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        om = urllib.request.urlopen(req, timeout=10).read().decode()
        assert syscall_values(parse_openmetrics(om)) == expected()
    finally:
        exp.stop()


def test_stalled_scrapers_never_hold_the_sampler_or_the_stop() -> None:
    exp = Exporter("127.0.0.1", 0, MetricsOptions(max_series=20_000))
    exp.start()
    model = SyscallsModel()
    big = [(i, f"proc{i}", f"call{j}", 1) for i in range(1000) for j in range(10)]  # 10 000 series, ~1 MB
    exp.sink(syscall_frame(model, big))
    # One peer connects and says nothing; another asks and never reads its megabyte.
    silent = socket.create_connection(("127.0.0.1", exp.port))
    greedy = socket.socket()
    greedy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    greedy.connect(("127.0.0.1", exp.port))
    greedy.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
    try:
        done = threading.Event()

        def sampler() -> None:
            for i in range(20):
                exp.sink(syscall_frame(model, big, i + 2))
            done.set()

        t = threading.Thread(target=sampler, daemon=True)
        t.start()
        assert done.wait(120), "the sampler's hand-over waited on a stalled scrape"
        # A scrape from a well-behaved client is still answered meanwhile, with the latest totals.
        body = urllib.request.urlopen(exp.url, timeout=60).read().decode()
        assert 'ebpftop_syscalls_total{comm="proc7",syscall="call3"} 21.0' in body
        stopper = threading.Thread(target=exp.stop, daemon=True)
        stopper.start()
        stopper.join(60)
        assert not stopper.is_alive(), "stop() waited on a stalled scrape"
    finally:
        silent.close()
        greedy.close()


def test_port_in_use_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        code = cli._metrics_run(Settings(metrics=("127.0.0.1", port)))
    finally:
        taken.close()
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"ebpftop: cannot serve metrics on 127.0.0.1:{port}: Address already in use\n"


def test_unknown_host_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli._metrics_run(Settings(metrics=("no-such-host.invalid", 9100)))
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("ebpftop: cannot serve metrics on no-such-host.invalid:9100: ")


@pytest.mark.parametrize(
    "text, want",
    [
        ("9100", ("127.0.0.1", 9100)),
        ("0.0.0.0:9100", ("0.0.0.0", 9100)),
        ("[::1]:9100", ("::1", 9100)),
        ("[::]:1", ("::", 1)),
        ("node7.example:65535", ("node7.example", 65535)),
    ],
)
def test_listen_addresses(text: str, want: tuple[str, int]) -> None:
    settings, _ns = cli.parse(["--metrics", text])
    assert settings.metrics == want
    assert settings.metrics_max_series == 10_000 and not settings.metrics_pid and settings.metrics_paths == 0


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--metrics", "0"], "the metrics port must be a number from 1 to 65535, not '0'"),
        (["--metrics", "65536"], "the metrics port must be a number from 1 to 65535, not '65536'"),
        (["--metrics", "host:"], "the metrics port must be a number from 1 to 65535, not ''"),
        (["--metrics", "9\uff11"], "not '9\\uff11'"),
        (["--metrics", "+80"], "not '+80'"),
        (["--metrics", ":9100"], "no host before the ':'"),
        (["--metrics", "::1:9100"], "an IPv6 address goes in brackets"),
        (["--metrics", "a b:9100"], "bad host"),
        (["--metrics", "9100", "--metrics-max-series", "0"], "metrics-max-series must be between 1 and"),
        (["--metrics-pid"], "--metrics-pid only applies with --metrics"),
        (["--tui"], "--tui only applies with --metrics"),
        (["--metrics-paths", "5"], "--metrics-paths only applies with --metrics"),
        (["--metrics", "9100", "--tui", "--batch"], "--tui and --batch exclude each other"),
        (["--metrics", "9100", "--tui", "--count", "3"], "--count only applies with --batch or a headless --metrics"),
    ],
)
def test_bad_metrics_arguments(args: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.parse(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_modes() -> None:
    headless, _ = cli.parse(["--metrics", "9100", "--count", "2"])
    assert cli._metrics_headless(headless) and headless.count == 2
    with_batch, _ = cli.parse(["--metrics", "9100", "--batch"])
    assert not cli._metrics_headless(with_batch)
    with_tui, _ = cli.parse(["--metrics", "9100", "--tui", "--metrics-pid", "--metrics-paths", "20"])
    assert with_tui.metrics_tui and with_tui.metrics_pid and with_tui.metrics_paths == 20
    assert not cli._metrics_headless(with_tui)
