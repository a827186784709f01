"""XDP model: per-interval deltas from cumulative counters, resets, protocol split, JSON shape."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ebpftop.model import xdp as m
from ebpftop.model.xdp import IfaceSample, LinkCounters, XdpModel, XdpSample


def xdp_counters(**slots: tuple[int, int]) -> tuple[int, ...]:
    """Cumulative counters: slot name -> (packets, bytes)."""
    packets = [slots.get(p, (0, 0))[0] for p in m.PROTOS]
    nbytes = [slots.get(p, (0, 0))[1] for p in m.PROTOS]
    return tuple(packets + nbytes)


NO_LINK = LinkCounters()


def lo(xdp: tuple[int, ...] | None, link: LinkCounters = NO_LINK, attach_id: int = 1, **kw: object) -> IfaceSample:
    state = m.ATTACHED if xdp is not None else m.OFF
    return IfaceSample(
        "lo",
        1,
        kw.pop("state", state),
        up=True,
        mode="generic" if xdp else None,
        link=link,
        xdp=xdp,
        attach_id=attach_id,
        **kw,
    )  # type: ignore[arg-type]


def test_first_read_of_fresh_attach_counts_everything() -> None:
    model = XdpModel()
    table = model.update(XdpSample((lo(xdp_counters(ipv4=(1000, 142_000), udp=(1000, 142_000))),)), 0.5)
    (row,) = table.rows
    assert (row.packets, row.bytes) == (1000, 142_000)
    assert row.pps == 2000.0 and row.bps == 284_000.0
    assert row.by_proto["udp"] == m.ProtoStat(1000, 142_000)
    assert row.by_proto["ipv4"] == m.ProtoStat(1000, 142_000)
    assert row.by_proto["tcp"] == m.ProtoStat(0, 0)
    assert table.total_pps == 2000.0


def test_later_reads_are_deltas() -> None:
    model = XdpModel()
    model.update(XdpSample((lo(xdp_counters(ipv4=(10, 1000), tcp=(10, 1000))),)), 1.0)
    table = model.update(
        XdpSample((lo(xdp_counters(ipv4=(15, 1600), ipv6=(2, 200), tcp=(12, 1200), udp=(3, 400), icmpv6=(2, 200))),)),
        1.0,
    )
    row = table.rows[0]
    assert (row.packets, row.bytes) == (7, 800)
    assert row.by_proto["tcp"].packets == 2
    assert row.by_proto["udp"].packets == 3
    assert row.by_proto["icmpv6"].packets == 2


def test_new_attach_restarts_from_zero() -> None:
    model = XdpModel()
    model.update(XdpSample((lo(xdp_counters(ipv4=(500, 50_000)), attach_id=1),)), 1.0)
    # Detached and attached again: the kernel slot was zeroed, a smaller count is a new attach.
    table = model.update(XdpSample((lo(xdp_counters(ipv4=(600, 60_000)), attach_id=2),)), 1.0)
    assert table.rows[0].packets == 600


def test_counter_going_down_is_a_reset() -> None:
    model = XdpModel()
    model.update(XdpSample((lo(xdp_counters(ipv4=(500, 50_000))),)), 1.0)
    table = model.update(XdpSample((lo(xdp_counters(ipv4=(3, 300))),)), 1.0)
    assert table.rows[0].packets == 3


def test_kernel_counters_first_read_is_a_baseline() -> None:
    model = XdpModel()
    first = model.update(XdpSample((lo(None, LinkCounters(100, 10_000, 1, 90, 9_000, 0)),)), 1.0)
    assert first.rows[0].rx_pps == 0.0
    assert first.rows[0].state == m.OFF
    second = model.update(XdpSample((lo(None, LinkCounters(150, 15_000, 3, 100, 10_000, 2)),)), 0.5)
    row = second.rows[0]
    assert row.rx_pps == 100.0 and row.rx_bps == 10_000.0
    assert row.tx_pps == 20.0 and row.tx_bps == 2_000.0
    assert row.rx_drops_ps == 4.0 and row.tx_drops_ps == 4.0
    assert row.link_delta == LinkCounters(50, 5_000, 2, 10, 1_000, 2)
    assert row.packets == 0  # nothing of ours attached


def test_recreated_interface_restarts_baseline() -> None:
    model = XdpModel()
    model.update(XdpSample((IfaceSample("veth0", 7, m.OFF, link=LinkCounters(1000, 1000)),)), 1.0)
    table = model.update(XdpSample((IfaceSample("veth0", 9, m.OFF, link=LinkCounters(5, 5)),)), 1.0)
    assert table.rows[0].rx_pps == 0.0  # a new ifindex: first read of a new interface


def test_gone_interface_row_goes_and_history_is_dropped() -> None:
    model = XdpModel()
    both = (lo(xdp_counters(ipv4=(1, 100))), IfaceSample("veth0", 5, m.ATTACHED, xdp=xdp_counters(), attach_id=2))
    table = model.update(XdpSample(both), 1.0)
    assert [r.ifname for r in table.rows] == ["lo", "veth0"]
    table = model.update(XdpSample(both[:1]), 1.0)
    assert [r.ifname for r in table.rows] == ["lo"]
    # Back under the same name: a new interface with a fresh history.
    table = model.update(XdpSample(both), 1.0)
    assert table.rows[1].history == (0.0,)


def test_zero_elapsed_and_empty_input() -> None:
    model = XdpModel()
    table = model.update(XdpSample(()), 0.0)
    assert table.rows == () and table.total_pps == 0.0 and table.to_json() == []
    table = model.update(None, 1.0)
    assert table.rows == ()
    table = model.update(XdpSample((lo(xdp_counters(ipv4=(5, 500))),)), 0.0)
    assert table.rows[0].pps == 0.0 and table.rows[0].packets == 5


def test_history_follows_xdp_when_attached_else_kernel_rx() -> None:
    model = XdpModel(history=3)
    for i in range(1, 6):
        table = model.update(XdpSample((lo(xdp_counters(ipv4=(10 * i, 0))),)), 1.0)
    assert table.rows[0].history == (10.0, 10.0, 10.0)
    assert table.history == (10.0, 10.0, 10.0)


def test_busy_and_missing_rows_carry_program_and_reason() -> None:
    model = XdpModel()
    sample = XdpSample(
        (
            IfaceSample(
                "veth0",
                4,
                m.BUSY,
                mode="generic",
                prog_id=77,
                prog_name="xdp_pass",
                reason="another XDP program is attached",
            ),
            IfaceSample("nope", 0, m.MISSING, reason="no interface named 'nope'"),
            lo(None),
        )
    )
    rows = model.update(sample, 1.0).rows
    assert [r.ifname for r in rows] == ["lo", "veth0", "nope"]  # by ifindex, missing names last
    assert rows[1].prog_id == 77 and rows[1].prog_name == "xdp_pass" and rows[1].state == "busy"
    assert rows[2].reason == "no interface named 'nope'"


def test_json_shape_of_issue() -> None:
    model = XdpModel()
    name = "eth\udcff[b]"  # undecodable byte, kept exactly (surrogate escape)
    table = model.update(
        XdpSample(
            (
                IfaceSample(
                    name,
                    3,
                    m.ATTACHED,
                    up=True,
                    mode="generic",
                    xdp=xdp_counters(ipv4=(4, 400), arp=(1, 60), tcp=(4, 400)),
                    attach_id=1,
                ),
            )
        ),
        2.0,
    )
    (row,) = table.to_json()
    for key in ("ifname", "ifindex", "state", "mode", "packets", "bytes", "pps", "bps", "by_proto"):
        assert key in row
    assert row["ifname"] == name
    assert (row["packets"], row["bytes"], row["pps"], row["bps"]) == (5, 460, 2.5, 230.0)
    assert set(row["by_proto"]) == set(m.PROTOS)
    assert row["by_proto"]["arp"] == {"packets": 1, "bytes": 60}
    assert row["by_proto"]["tcp"] == {"packets": 4, "bytes": 400}
    assert set(row["kernel"]) >= {"rx_packets", "rx_pps", "tx_bps", "rx_drops_ps"}
    text = json.dumps(table.to_json(), ensure_ascii=True)
    assert json.loads(text)[0]["ifname"] == name


def test_malformed_counter_tuple_is_ignored() -> None:
    table = XdpModel().update(XdpSample((lo((1, 2, 3)),)), 1.0)
    assert table.rows[0].packets == 0


@pytest.mark.parametrize("module", ["ebpftop.model.xdp"])
def test_model_imports_neither_bcc_nor_textual(module: str) -> None:
    code = f"import sys, {module}; print(sorted(m for m in ('bcc', 'textual', 'psutil') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


PROC_NET_DEV = b"""Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  128000    1000    0    0    0     0          0         0   128000    1000    0    0    0     0       0          0
veth\xff0: 5 1 2 3 0 0 0 0 70 7 0 9 0 0 0 0
"""  # noqa: E501 - the kernel's own line widths


def test_proc_net_dev_parse(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ebpftop.probes.netdev import read_proc_net_dev

    path = tmp_path / "dev"
    path.write_bytes(PROC_NET_DEV)
    stats = read_proc_net_dev(str(path))
    assert stats["lo"] == LinkCounters(1000, 128000, 0, 1000, 128000, 0)
    assert stats["veth\udcff0"] == LinkCounters(1, 5, 3, 7, 70, 9)


def _rta(kind: int, value: bytes) -> bytes:
    import struct

    raw = struct.pack("=HH", 4 + len(value), kind) + value
    return raw + b"\0" * (-len(raw) % 4)


def _newlink(index: int, name: bytes, flags: int, xdp: bytes | None) -> bytes:
    import struct

    msg = struct.pack("=BxHiII", 0, 772, index, flags, 0) + _rta(3, name + b"\0")
    if xdp is not None:
        msg += _rta(43 | 0x8000, xdp)  # NLA_F_NESTED
    return msg


def test_rtnetlink_link_parse_single_and_multi_xdp() -> None:
    import struct

    from ebpftop.probes.netdev import LinkInfo, _parse_link

    u32 = lambda v: struct.pack("=I", v)  # noqa: E731
    single = _newlink(5, b"veth\xff", 1, _rta(2, b"\x02") + _rta(4, u32(77)))
    assert _parse_link(single) == LinkInfo(5, "veth\udcff", True, ((77, "generic"),))
    multi = _newlink(6, b"eth0", 0, _rta(2, b"\x04") + _rta(5, u32(10)) + _rta(7, u32(11)))
    assert _parse_link(multi) == LinkInfo(6, "eth0", False, ((10, "native"), (11, "offload")))
    none = _newlink(1, b"lo", 1, _rta(2, b"\x00"))
    assert _parse_link(none) == LinkInfo(1, "lo", True, ())
    assert _parse_link(_newlink(9, b"", 1, None).replace(_rta(3, b"\0"), b"")) is None
