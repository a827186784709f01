"""Attacks on the exporter and the recorder (#14) that need no kernel."""

from __future__ import annotations

import socket
import urllib.request

from ebpftop.model.metrics import MetricsOptions
from ebpftop.output.metrics import MAX_CLIENTS, Exporter


def test_peers_trickling_their_requests_cannot_lock_the_scrapes_out() -> None:
    """MAX_CLIENTS peers that each send a request line and then a header line now and then are never
    idle for HANDLER_TIMEOUT, so they held every place for good and every scrape was closed unanswered
    (a local user's denial of the metrics). A scrape now takes the oldest one's place."""
    exp = Exporter("127.0.0.1", 0, MetricsOptions())
    exp.start()
    peers = []
    try:
        for _ in range(MAX_CLIENTS):
            peer = socket.create_connection(("127.0.0.1", exp.port))
            peer.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            peers.append(peer)
        for peer in peers:  # a header line each: still sending, never idle
            peer.sendall(b"X-Slow: 1\r\n")
        for _ in range(3):  # scrape after scrape, each answered in full
            with urllib.request.urlopen(exp.url, timeout=30) as r:
                assert r.status == 200
                assert b"ebpftop_build_info" in r.read()
            for peer in peers[1:]:
                peer.sendall(b"X-Slow: 2\r\n")
    finally:
        for peer in peers:
            peer.close()
        exp.stop()


def test_answered_scrapes_are_not_cut_by_newcomers() -> None:
    """A scraper whose request was read keeps its place: newcomers beyond MAX_CLIENTS, when nobody is
    still sending a request, are closed unanswered as before."""
    exp = Exporter("127.0.0.1", 0, MetricsOptions())
    exp.start()
    try:
        for _ in range(MAX_CLIENTS * 3):
            with urllib.request.urlopen(exp.url, timeout=30) as r:
                assert r.status == 200 and b"ebpftop_frames_total" in r.read()
    finally:
        exp.stop()
