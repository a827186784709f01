"""XDP pane: one row per interface (our XDP counts and the kernel's own), a pps sparkline, a protocol breakdown."""

from __future__ import annotations

from rich.filesize import decimal
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Sparkline, Static

from ebpftop.model import xdp
from ebpftop.model.sanitize import sanitize
from ebpftop.model.xdp import HISTORY, XdpRow, XdpTable
from ebpftop.ui.fasttable import FastTable
from ebpftop.ui.format import bytes_per_s, num, right, safe, si, spark_label
from ebpftop.ui.pane import ProbeRequest, TablePane, spark_data
from ebpftop.ui.table import Column

PROTOS_SHOWN = 3

_STATE_STYLE = {
    xdp.ATTACHED: "bold",
    xdp.BUSY: "italic",
    xdp.ERROR: "reverse",
    xdp.MISSING: "dim",
    xdp.OFF: "dim",
    xdp.GONE: "dim",
}


COLUMNS = (
    # Kernel order (ifindex), names asked for but missing last.
    Column("ifname", "IFACE", lambda r: (r.ifindex == 0, r.ifindex, r.ifname), False),
    Column("state", "STATE", lambda r: r.state, False),
    Column("mode", "MODE", lambda r: r.mode or "", False, priority=-2),
    Column("pps", "XDP PKT/s", lambda r: r.pps, True, 10),
    Column("bps", "XDP B/s", lambda r: r.bps, True, 11),
    Column("rx_pps", "RX PKT/s", lambda r: r.rx_pps, True, 9, priority=-3),
    Column("rx_bps", "RX B/s", lambda r: r.rx_bps, True, 11, priority=-3),
    Column("tx_pps", "TX PKT/s", lambda r: r.tx_pps, True, 9, priority=-4),
    Column("tx_bps", "TX B/s", lambda r: r.tx_bps, True, 11, priority=-4),
    Column("drops", "DROP/s", lambda r: r.rx_drops_ps + r.tx_drops_ps, True, 7, priority=-1),
    Column("protos", "PROTOCOLS", lambda r: _top_protos(r)[0][0] if _top_protos(r) else "", False),
    Column("prog", "PROGRAM", lambda r: r.prog_id, False, priority=-5),
)
_DEFAULT_SORT = 0  # IFACE: interfaces are few, and their kernel order is the one `ip link` shows


def _top_protos(row: XdpRow) -> list[tuple[str, int]]:
    """L4 protocols when there are IP packets, else L3 ones, busiest first."""
    l4 = [(p, row.by_proto[p].packets) for p in xdp.L4_PROTOS if row.by_proto[p].packets]
    l3 = [(p, row.by_proto[p].packets) for p in xdp.L3_PROTOS if p not in ("ipv4", "ipv6") and row.by_proto[p].packets]
    return sorted(l4 + l3, key=lambda kv: (-kv[1], kv[0]))


def _protos_cell(row: XdpRow) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    if not row.packets:
        return text
    for i, (name, packets) in enumerate(_top_protos(row)[:PROTOS_SHOWN]):
        if i:
            text.append("  ")
        text.append(name)
        text.append(f" {100 * packets / row.packets:.0f}%", style="dim")
    return text


def _prog_cell(row: XdpRow) -> Text:
    if not row.prog_id:
        return Text("")
    text = Text(str(row.prog_id), no_wrap=True, overflow="ellipsis")
    if row.prog_name:
        text.append(" ")
        text.append_text(safe(row.prog_name, 16, style="dim"))
    return text


def breakdown(row: XdpRow) -> Text:
    """The expanded view of one row: every protocol slot, the kernel counters and any reason."""
    text = Text(no_wrap=False)
    text.append_text(safe(row.ifname, 64, style="bold"))
    text.append(f"  ifindex {row.ifindex}  {row.state}")
    if row.mode:
        text.append(f" ({row.mode})")
    if row.prog_id:
        text.append(f"  program {row.prog_id} ")
        text.append_text(safe(row.prog_name, 16))
    if row.reason:
        text.append("\n")
        text.append_text(safe(row.reason, 200, style="italic"))
    if row.state == xdp.ATTACHED or row.packets:
        for title, names in (("L3", xdp.L3_PROTOS), ("L4", xdp.L4_PROTOS)):
            text.append(f"\n{title}  ", style="bold")
            for i, name in enumerate(names):
                s = row.by_proto[name]
                share = 100 * s.packets / row.packets if row.packets else 0.0
                if i:
                    text.append("   ")
                text.append(f"{name} ")
                text.append(f"{s.packets:,} pkt {decimal(s.bytes)} {share:.0f}%", style="dim")
        if row.since_attach:
            l3 = sum(row.since_attach[name].packets for name in xdp.L3_PROTOS)
            text.append("\nsince attach  ", style="bold")
            for i, name in enumerate((*xdp.L3_PROTOS, *xdp.L4_PROTOS)):
                s = row.since_attach[name]
                if i:
                    text.append("   ")
                text.append(f"{name} ")
                text.append(f"{s.packets:,} pkt {decimal(s.bytes)}", style="dim")
            text.append(f"   ({l3:,} packets in all)", style="dim")
    k = row.link_delta
    text.append("\nkernel  ", style="bold")
    text.append(
        f"rx {k.rx_packets:,} pkt {decimal(k.rx_bytes)} drop {k.rx_dropped:,}   "
        f"tx {k.tx_packets:,} pkt {decimal(k.tx_bytes)} drop {k.tx_dropped:,}",
        style="dim",
    )
    return text


class XdpPane(TablePane):
    """Rows are rebuilt each frame; the cursor stays on the same interface. Enter expands the selected row.

    ``a`` asks to attach or detach our counter on the selected interface by
    posting a :class:`ProbeRequest`; the app forwards it to the sampler,
    which calls the probe's ``attach_iface`` / ``detach_iface``.
    """

    COLUMNS = COLUMNS
    NAME = "xdp"
    BINDINGS = [Binding("a", "attach_toggle", "Attach")]
    ROWS_ARE_PROCESSES = False  # interfaces
    KEY_NOTES = {"a": "attaches or detaches the XDP counter"}

    DEFAULT_CSS = """
    XdpPane { height: 1fr; }
    XdpPane #xdp-detail { height: auto; max-height: 8; padding: 0 1; border-top: solid $primary; }
    """

    def __init__(self) -> None:
        super().__init__(id="xdp-pane")
        self.sort_index = _DEFAULT_SORT
        self.reverse = False
        self.expanded = False
        self._placed = False  # the cursor (and so the graph) was put on a counted interface once
        self.data: XdpTable | None = None
        self._shown: list[XdpRow] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="xdp-summary", classes="summary")
        yield Static("", id="xdp-spark-label", classes="spark-label")
        yield Sparkline([], id="xdp-spark", summary_function=max)
        yield self.new_table()
        detail = Static("", id="xdp-detail")
        detail.display = False
        yield detail

    # -- the app's pane contract -------------------------------------------------
    def selected_pid(self) -> int | None:
        return None  # interfaces, not processes

    def selected_iface(self) -> str | None:
        """The interface under the cursor: what the attach/detach key acts on."""
        table = self.table
        if not table.row_count:
            return None
        key = table.cursor_key
        return str(key) if key is not None else None

    def selected_row(self) -> XdpRow | None:
        name = self.selected_iface()
        if name is None or self.data is None:
            return None
        return next((r for r in self.data.rows if r.ifname == name), None)

    def action_attach_toggle(self) -> None:
        row = self.selected_row()
        if row is None or row.state in (xdp.MISSING, xdp.GONE):
            return
        if row.state == xdp.BUSY:
            # Never touch someone else's program; say why nothing happens.
            self.notify(
                f"{sanitize(row.ifname, 32)} runs XDP program {row.prog_id}: left untouched",
                severity="warning",
                timeout=4,
            )
            return
        self.post_message(
            ProbeRequest("xdp", "attach_iface" if row.state != xdp.ATTACHED else "detach_iface", row.ifname)
        )

    def toggle_expanded(self) -> None:
        self.expanded = not self.expanded
        self.refresh_detail()

    # -- events --------------------------------------------------------------------
    def on_fast_table_row_selected(self, event: FastTable.RowSelected) -> None:
        event.stop()
        self.toggle_expanded()

    def on_fast_table_row_highlighted(self, event: FastTable.RowHighlighted) -> None:
        event.stop()
        self.refresh_spark()
        self.refresh_detail()

    def on_mount(self) -> None:
        # The PID filter does not apply here: the summary says so while one is on.
        self.watch(self.app, "pids", lambda _pids: self.show(self.data), init=False)

    # -- rendering -----------------------------------------------------------------
    def show(self, data: XdpTable | None) -> None:
        self.data = data
        summary = self.query_one("#xdp-summary", Static)
        if data is None:
            summary.update("xdp probe off")
        else:
            attached = [r for r in data.rows if r.state == xdp.ATTACHED]
            busy = [r for r in data.rows if r.state == xdp.BUSY]
            line = f"{len(data.rows)} interfaces, XDP counting on {len(attached)}: {si(data.total_pps)} pkt/s"
            if data.netns:
                line += f"  ·  netns {data.netns}"
            if busy:
                line += f"  ·  {len(busy)} busy with another XDP program (left untouched)"
            if data.lost_total:
                line += f"  ·  {data.lost_total:,} packets not counted"
            if getattr(self.app, "pids", None) is not None:
                line += "  ·  the filter does not apply here: received packets have no process or cgroup"
            line += "  ·  enter: breakdown  ·  a: attach/detach"
            summary.update(Text(line, no_wrap=True, overflow="ellipsis"), layout=False)  # one fixed line
        self.refresh_rows()

    def refresh_spark(self) -> None:
        spark = self.query_one("#xdp-spark", Sparkline)
        row = self.selected_row()
        if self.data is None:
            history: tuple[float, ...] = ()
        elif row is not None:
            history = row.history
        else:
            history = self.data.history
        spark.data = spark_data(history, HISTORY) if history else []
        where = f"on {sanitize(row.ifname, 32)}" if row is not None else "on every attached interface"
        label = spark_label(f"XDP pkt/s {where}", history) if self.data is not None else Text("")
        self.query_one("#xdp-spark-label", Static).update(label, layout=False)

    def refresh_detail(self) -> None:
        detail = self.query_one("#xdp-detail", Static)
        row = self.selected_row() if self.expanded else None
        detail.display = row is not None
        if row is not None:
            detail.update(breakdown(row))

    def rows(self) -> list[XdpRow]:
        return list(self.data.rows) if self.data else []

    def cells(self, row: XdpRow) -> tuple[Text, ...]:
        # A row detached with `a` (off) or deleted (gone) carries, once, its counts since the last read.
        counting = row.state == xdp.ATTACHED or row.packets > 0
        return (
            safe(row.ifname, 32),
            Text(row.state, style=_STATE_STYLE.get(row.state, ""), no_wrap=True),
            Text(row.mode or "", no_wrap=True),
            num(row.pps, 10) if counting else right("-", 10, "dim"),
            bytes_per_s(row.bps, 11) if counting else right("-", 11, "dim"),
            num(row.rx_pps, 9),
            bytes_per_s(row.rx_bps, 11),
            num(row.tx_pps, 9),
            bytes_per_s(row.tx_bps, 11),
            num(row.rx_drops_ps + row.tx_drops_ps, 7),
            _protos_cell(row),
            _prog_cell(row),
        )

    def row_key(self, row: XdpRow) -> str:
        return row.ifname

    def after_rows(self) -> None:
        if not self._placed and self.data is not None:
            # Start on the first interface XDP counts on (--xdp v6c), not on the first listed
            # (lo, uncounted): the graph follows the cursor.
            first = next((r for r in self._shown if r.state == xdp.ATTACHED), None)
            if first is not None:
                self._placed = True
                self.table.move_cursor(row=self.table.get_row_index(self.row_key(first)), animate=False)
        self.refresh_spark()
        self.refresh_detail()
