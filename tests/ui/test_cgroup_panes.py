"""cgroups on screen: the Syscalls CGROUP column names each row's group; the Tree marks where a process
starts a container or unit of its own and shows its PID inside its PID namespace; names are sanitized."""

from __future__ import annotations

from ebpftop.cgroups import describe
from ebpftop.model.frame import LIVE, Frame, ProbeStatus
from ebpftop.model.proctree import EXEC, FORK, ProcEvent, ProcSample, ProcSeed, ProcTreeModel
from ebpftop.model.syscalls import SyscallCount, SyscallSample, SyscallsModel
from ebpftop.registry import SPECS
from ebpftop.settings import Settings
from ebpftop.ui.app import EbpftopApp
from ebpftop.ui.fasttable import FastTable
from ebpftop.ui.proctree_pane import ProcTreePane
from tests.ui.scripted import ScriptedSource

DOCKER = "3f2a9c1b7d0e11223344556677889900aabbccddeeff00112233445566778899"
T0 = 1_700_000_000.0
NAMES = {
    1: describe(1, "/"),
    40: describe(40, "/system.slice/nginx.service"),
    41: describe(41, f"/system.slice/docker-{DOCKER}.scope"),
    42: describe(42, "/evil\x1b[2J[bold]x"),
}


def _frame(panes: dict[str, object]) -> Frame:
    statuses = tuple(ProbeStatus(s.name, LIVE) for s in SPECS)
    return Frame(time=T0, elapsed=1.0, probes=statuses, panes=panes, cgroups=NAMES)  # type: ignore[arg-type]


async def test_syscalls_rows_name_their_cgroup() -> None:
    counts = (
        SyscallCount(100, 39, "getpid", 30, "nginx", 40),
        SyscallCount(200, 39, "getpid", 20, "app", 41),
        SyscallCount(300, 39, "getpid", 10, "evil", 42),
        SyscallCount(400, 39, "getpid", 5, "unknown", 0),
    )
    table = SyscallsModel().update(SyscallSample(counts), 1.0)
    source = ScriptedSource()
    app = EbpftopApp(Settings(), source, initial_pane="syscalls")
    async with app.run_test(size=(160, 30)) as pilot:
        source.emit(_frame({"syscalls": table}))
        await pilot.pause()
        grid = app.query_one("#syscalls-table", FastTable)
        col = list(grid.columns).index("cgroup")
        shown = [str(grid.get_row_at(i)[col]).strip() for i in range(grid.row_count)]
        assert shown == ["nginx.service", "docker:3f2a9c1b7d0e", "/evil\\x1b[2J[bold]x", "–"]
    source = ScriptedSource()
    app = EbpftopApp(Settings(), source, initial_pane="syscalls")
    async with app.run_test(size=(80, 24)) as pilot:  # narrow: the column gives way first
        source.emit(_frame({"syscalls": table}))
        await pilot.pause()
        grid = app.query_one("#syscalls-table", FastTable)
        assert grid.columns["cgroup"].hidden and not grid.columns["comm"].hidden


async def test_tree_marks_container_starts_and_namespace_pids() -> None:
    seed = (ProcSeed(1, 0, "systemd", ("/sbin/init",), T0 - 100, cgroup=1, ns_pid=1),)
    events = (
        ProcEvent(FORK, 500, 1, "containerd-shim", T0 - 0.5, cgroup=1, ns_pid=500),
        ProcEvent(FORK, 501, 500, "sh", T0 - 0.4, cgroup=41, ns_pid=1, ns_level=1),
        ProcEvent(
            EXEC,
            501,
            500,
            "nginx",
            T0 - 0.3,
            filename="/usr/sbin/nginx",
            argv=("nginx",),
            cgroup=41,
            ns_pid=1,
            ns_level=1,
        ),
        ProcEvent(FORK, 502, 501, "nginx", T0 - 0.2, cgroup=41, ns_pid=2, ns_level=1),
    )
    model = ProcTreeModel()
    model.update(ProcSample((), 0, T0 - 1, seed=seed, scan_time=T0 - 1), 1.0)
    tree = model.update(ProcSample(events, 0, T0), 1.0)
    source = ScriptedSource()
    app = EbpftopApp(Settings(), source, initial_pane="procs")
    async with app.run_test(size=(160, 30)) as pilot:
        source.emit(_frame({"procs": tree}))
        await pilot.pause()
        pane = app.query_one(ProcTreePane)
        labels = {key[0]: str(node.label) for key, node in pane._tree_nodes.items()}
        # The container starts at 501 (its parent is in the root): marked there, not on its child.
        assert "⟦docker:3f2a9c1b7d0e⟧" in labels[501] and "⟦" not in labels[502] and "⟦" not in labels[500]
        assert "501 (ns pid 1)" in labels[501] and "502 (ns pid 2)" in labels[502]
        assert "(ns pid" not in labels[500]


async def test_files_g_cycles_path_process_cgroup() -> None:
    from ebpftop.model.files import FileIO, FilesModel, FilesSample
    from ebpftop.ui.files_pane import FilesPane

    io = (
        FileIO(100, 3, 1, "/var/log/nginx/access.log", "file", "nginx", 0, 10, 0, 5000, cgroup=40),
        FileIO(101, 3, 1, "/var/log/nginx/error.log", "file", "nginx", 0, 2, 0, 100, cgroup=40),
        FileIO(200, 4, 1, "/data/db", "file", "postgres", 5, 5, 4000, 4000, cgroup=41),
    )
    table = FilesModel().update(FilesSample(io), 1.0)
    source = ScriptedSource()
    app = EbpftopApp(Settings(), source, initial_pane="files")
    async with app.run_test(size=(160, 30)) as pilot:
        source.emit(_frame({"files": table}))
        await pilot.pause()
        pane = app.query_one(FilesPane)
        grid = app.query_one("#files-table", FastTable)
        col = list(grid.columns).index("cgroup")

        def shown(column: int) -> list[str]:
            return [str(grid.get_row_at(i)[column]).strip() for i in range(grid.row_count)]

        assert shown(col) == ["docker:3f2a9c1b7d0e", "nginx.service", "nginx.service"]
        await pilot.press("g")  # per process, each in its cgroup
        assert pane.grouping == "process" and len(shown(0)) == 3
        assert sorted(shown(col)) == ["docker:3f2a9c1b7d0e", "nginx.service", "nginx.service"]
        await pilot.press("g")  # per cgroup: the container, then the unit with its two processes
        assert pane.grouping == "cgroup"
        assert shown(0) == ["1 process: docker:3f2a9c1b7d0e", "2 processes: nginx.service"]
        assert shown(col) == ["docker:3f2a9c1b7d0e", "nginx.service"]
        await pilot.press("g")  # back to per path
        assert pane.grouping == "path" and len(shown(0)) == 3
