"""--metrics: the Prometheus exporter, prometheus_client's exposition of the accumulator's latest snapshot.

The sampler thread hands every frame to ``Exporter.sink``, which adds it into
a ``MetricsAccumulator`` (ebpftop/model/metrics.py) and thereby publishes a new
immutable snapshot with one reference assignment. A scrape runs in an HTTP
handler thread (a daemon, one per connection) and renders whichever snapshot
is current through a custom Collector in the exporter's own CollectorRegistry:
no lock is shared between the two sides, so a scraper that stops reading
holds only its own thread, never the sampler or the exit. A connection idle
for ``HANDLER_TIMEOUT`` seconds is dropped, and at most ``MAX_CLIENTS`` are
served at once (a new one beyond takes the place of the oldest still sending
its request, else is closed at once), so slow or many scrapers cost bounded
memory and cannot lock a scraper out.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ebpftop import __version__
from ebpftop.model.metrics import COUNTER, MetricsAccumulator, MetricsOptions, Snapshot
from ebpftop.sampler import LiveSource

DEFAULT_HOST = "127.0.0.1"
HANDLER_TIMEOUT = 10.0  # seconds a connection may stall (not sending its request, not reading the answer)
MAX_CLIENTS = 16  # connections served at once; beyond that a new one is closed unanswered


class SnapshotCollector(Collector):
    """Yields the accumulator's latest snapshot, plus ebpftop's own CPU time and build info."""

    def __init__(self, accumulator: MetricsAccumulator) -> None:
        self._acc = accumulator

    def collect(self) -> Iterator[Metric]:
        snap: Snapshot = self._acc.snapshot  # one read: the sampler may publish a newer one meanwhile
        for fam in snap.families:
            spec = fam.spec
            metric: CounterMetricFamily | GaugeMetricFamily
            if spec.kind == COUNTER:
                metric = CounterMetricFamily(spec.name, spec.help, labels=spec.labels)
            else:
                metric = GaugeMetricFamily(spec.name, spec.help, labels=spec.labels)
            divisor = spec.divisor
            if divisor == 1:
                for labels, value in fam.samples.items():
                    metric.add_metric(labels, value)
            else:
                for labels, value in fam.samples.items():
                    metric.add_metric(labels, value / divisor)
            yield metric
        times = os.times()
        cpu = CounterMetricFamily(
            "ebpftop_cpu_seconds", "CPU time ebpftop itself used (all its threads), by mode", labels=("mode",)
        )
        cpu.add_metric(("user",), times.user)
        cpu.add_metric(("system",), times.system)
        yield cpu
        info = GaugeMetricFamily("ebpftop_build_info", "Always 1; the running ebpftop's version", labels=("version",))
        info.add_metric((__version__,), 1)
        yield info


class _Handler(WSGIRequestHandler):
    """No access log on stderr; a socket timeout, so a stalled peer frees its thread."""

    timeout = HANDLER_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def parse_request(self) -> bool:
        ok = super().parse_request()
        self.server.request_read(self.request)  # type: ignore[attr-defined]
        return ok


class _Server(ThreadingMixIn, WSGIServer):
    """At most MAX_CLIENTS connections served at once. When all are taken, a new connection takes the
    place of the oldest one still sending its request: a scraper sends its request at once, so peers
    that trickle theirs (a header line every few seconds, never idle for HANDLER_TIMEOUT) cannot hold
    every place and lock the scrapes out."""

    daemon_threads = True  # a handler stuck on a peer never holds the exit
    allow_reuse_address = True  # a restarted exporter rebinds at once (TIME_WAIT from the last scrape)
    EVICT_WAIT = 2.0  # seconds a new connection waits for the place of the one it closed

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._slots = threading.BoundedSemaphore(MAX_CLIENTS)
        self._waiters = threading.BoundedSemaphore(MAX_CLIENTS)  # newcomers waiting for an evicted place
        self._lock = threading.Lock()
        self._reading: dict[Any, None] = {}  # served connections still sending their request, oldest first
        super().__init__(*args, **kwargs)

    def request_read(self, request: Any) -> None:
        with self._lock:
            self._reading.pop(request, None)

    def _evict(self) -> bool:
        """Cut the oldest served connection still sending its request (its thread then frees its place)."""
        with self._lock:
            victim = next(iter(self._reading), None)
            if victim is None:
                return False
            del self._reading[victim]
        try:
            victim.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return True

    def process_request(self, request: Any, client_address: Any) -> None:
        if self._slots.acquire(blocking=False):
            waiting = False
        elif self._waiters.acquire(blocking=False):
            if not self._evict():
                self._waiters.release()
                self.shutdown_request(request)  # every place busy answering: closed, unanswered
                return
            waiting = True
        else:
            self.shutdown_request(request)  # a flood of newcomers: closed, unanswered
            return
        thread = threading.Thread(
            target=self._serve, args=(request, client_address, waiting), name="ebpftop-scrape", daemon=True
        )
        thread.start()

    def _serve(self, request: Any, client_address: Any, waiting: bool) -> None:
        if waiting:
            placed = self._slots.acquire(timeout=self.EVICT_WAIT)
            self._waiters.release()
            if not placed:
                self.shutdown_request(request)
                return
        with self._lock:
            self._reading[request] = None
        try:
            self.process_request_thread(request, client_address)
        finally:
            self.request_read(request)
            self._slots.release()


def _server_class(family: int) -> type[_Server]:
    return type("_FamilyServer", (_Server,), {"address_family": family})


class Exporter:
    """The accumulator, its registry and its HTTP server; ``sink`` takes frames on the sampler thread."""

    def __init__(self, host: str, port: int, opts: MetricsOptions) -> None:
        self.accumulator = MetricsAccumulator(opts)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(SnapshotCollector(self.accumulator))
        self.host, self.port = host, port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind and serve from a daemon thread; OSError (address in use, unknown host) if it cannot bind."""
        infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, _type, _proto, _name, sockaddr = infos[0]
        self._server = make_server(
            str(sockaddr[0]), self.port, make_wsgi_app(self.registry), _server_class(family), handler_class=_Handler
        )
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="ebpftop-metrics", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def sink(self, frame: Any) -> None:
        self.accumulator.add(frame)

    def render(self) -> bytes:
        """One /metrics body in the Prometheus text format, as a scrape gets it (bench and tests)."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop accepting scrapes; bounded: a handler stuck on a peer is a daemon and is left behind."""
        server, self._server = self._server, None
        if server is None:
            return
        closer = threading.Thread(target=server.shutdown, daemon=True)
        closer.start()
        closer.join(timeout)
        server.server_close()


class TappedSource(LiveSource):
    """The TUI's live source, with every frame also handed to the exporter (on the sampler thread)."""

    def __init__(self, settings: Any, exporter: Exporter) -> None:
        super().__init__(settings)
        self._exporter = exporter

    def start(self, on_frame: Any, on_status: Any, on_notice: Any) -> None:
        sink = self._exporter.sink

        def both(frame: Any) -> None:
            sink(frame)
            on_frame(frame)

        super().start(both, on_status, on_notice)


def options(settings: Any) -> MetricsOptions:
    return MetricsOptions(
        max_series=settings.metrics_max_series, pid_label=settings.metrics_pid, top_paths=settings.metrics_paths
    )
