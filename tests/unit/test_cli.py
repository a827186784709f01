"""Bad command lines: one line on stderr, exit code 2, nothing loaded."""

import os
import re
import subprocess
import sys

import pytest

from ebpftop.cli import parse
from ebpftop.pids import pid_max


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ebpftop", *args], capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--probes", "nosuch"], "unknown probe 'nosuch'"),
        (["--interval", "-1"], "interval must be between"),
        (["--interval", "abc"], "interval must be a number"),
        (["--batch", "--count", "-3"], "count must be between 1 and 1000000, not -3"),
        (["--count", "3"], "--count only applies with --batch"),
        (["--pid", "1,999999999"], "PID 999999999 is out of range: PIDs here are 1 to"),
        (["--pid", "2147483648"], "PID 2147483648 is out of range"),
        (["--pid", "0"], "PID 0 is out of range"),
        # pid_max is one past the largest PID the kernel gives (alloc_pid: < pid_max)
        (["--pid", str(pid_max())], f"PID {pid_max()} is out of range: PIDs here are 1 to {pid_max() - 1}"),
        (["--pid", "\uff11"], "not a PID: '\uff11' (PIDs are ASCII digits 0-9)"),
        (["--pid", "\u0663"], "not a PID: '\u0663'"),
        (["--pid", "-5"], "a PID must be positive, not -5"),
        (["--pid", "systemd-journald"], "longer than the kernel's 15 bytes"),
        (["--pid", "1,x,"], "no process named 'x'"),
        (["--xdp", "nosuch0"], "no interface named 'nosuch0'"),
        (["--linger", "-3"], "linger must be between 0 and 3600"),
        # Unicode digits are digits to int()/float(), not to ebpftop.
        (["--interval", "\uff11"], "interval must be a number of seconds in ASCII digits, not '\\uff11'"),
        (["--batch", "--count", "\u0663"], "count must be a whole number in ASCII digits, not '\\u0663'"),
        (["--linger", "\u0665"], "linger must be a number of seconds in ASCII digits"),
        (["--interval", "nan"], "interval must be a number of seconds in ASCII digits, not 'nan'"),
        (["--interval", "inf"], "interval must be a number"),
        (["--interval", "1_0"], "interval must be a number"),
        (["--interval", "1e3"], "interval must be a number"),
        (["--interval", "0.01"], "interval must be between 0.1 and 3600 seconds, not 0.01"),
        (["--interval", "3600.5"], "interval must be between 0.1 and 3600 seconds"),
        (["--interval", "\x1b[31m1"], "not '\\x1b[31m1'"),  # escaped, never raw to the terminal
        (["--batch", "--count", "0"], "count must be between 1 and 1000000, not 0"),
        (["--batch", "--count", "1000001"], "count must be between 1 and 1000000"),
        (["--batch", "--count", "9" * 5000], "count must be between 1 and 1000000, not 999999999999999999999999..."),
        (["--batch", "--count", "2.0"], "count must be a whole number"),
        (["--linger", "3601"], "linger must be between 0 and 3600 seconds"),
    ],
)
def test_bad_arguments_one_line_exit_2(args: list[str], needle: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ebpftop: ") and needle in lines[0]


def test_not_root_is_told_to_use_sudo() -> None:
    if os.geteuid() != 0:
        result = run("--batch", "--count", "1")
    else:
        # Drop to nobody with no capabilities, keeping the venv readable.
        result = subprocess.run(
            [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
                sys.executable,
                "-m",
                "ebpftop",
                "--batch",
                "--count",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
            env={**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.dirname(__file__)))},
        )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "sudo" in result.stderr


def test_defaults() -> None:
    settings, _ = parse([])
    assert settings.interval == 1.0 and not settings.batch and settings.pids is None


def test_linger_reaches_the_tree_model() -> None:
    from ebpftop.registry import BY_NAME

    settings, _ = parse(["--linger", "12"])
    assert BY_NAME["proctree"].make_model(settings).linger == 12.0


def test_pid_list_and_interval() -> None:
    settings, _ = parse(["-p", f"{os.getpid()},1", "-i", "0.5", "--probes", "syscalls"])
    assert settings.pids is not None and settings.pids.pids == frozenset({os.getpid(), 1})
    assert settings.pids.names == frozenset()
    assert settings.interval == 0.5 and settings.probes == ("syscalls",)


@pytest.mark.parametrize(
    "args, value",
    [(["-i", "0.1"], 0.1), (["-i", "3600"], 3600.0), (["-i", "+2"], 2.0), (["-i", ".5"], 0.5), (["-i", "07"], 7.0)],
)
def test_interval_edges_accepted(args: list[str], value: float) -> None:
    assert parse(args)[0].interval == value


def test_count_and_linger_edges_accepted() -> None:
    assert parse(["--batch", "-n", "1000000", "--linger", "0"])[0].count == 1_000_000
    assert parse(["--linger", "3600"])[0].proc_linger == 3600.0


def test_help_states_ranges_and_exit_codes() -> None:
    text = run("--help").stdout
    assert "0.1 to 3600" in text and "1 to 1000000" in text and "0 to 3600" in text
    # Every number the help shows can be typed back: the parser refuses '1_000_000' (and '10_000').
    assert not re.search(r"[0-9]_[0-9]", text), re.findall(r"\S*[0-9]_[0-9]\S*", text)
    for code in ("0  ended normally", "1  failed while running", "2  bad arguments", "3  --batch: no probe"):
        assert code in text


def test_replay_refuses_cgroup(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """--cgroup with --replay was accepted and ignored: every recorded row came out as if filtered. It is
    refused like --pid (the cgroup stands in for one this machine has: the check is the replay's)."""
    import ebpftop.cli

    monkeypatch.setattr(ebpftop.cli, "_cgroups", lambda text: text)
    with pytest.raises(SystemExit) as exc:
        parse(["--replay", "rec.gz", "--batch", "--cgroup", "nuweb.service"])
    assert exc.value.code == 2
    assert "--cgroup does not apply to --replay" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["abc", "0", "-5", "nan", "inf", "1e3", "\uff15", "86401"])
def test_bad_compile_timeout_one_line_exit_2(value: str) -> None:
    """EBPFTOP_COMPILE_TIMEOUT is checked at startup: one line, exit 2, before anything is loaded.

    It was parsed with float() when the probes were imported: 'abc' ended in a
    traceback (exit 1), '0' or '-5' failed every probe with "compile took
    longer than -5 s", 'nan' was taken as no limit at all.
    """
    result = run("--batch", "-n", "1", env={**os.environ, "EBPFTOP_COMPILE_TIMEOUT": value})
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("ebpftop: EBPFTOP_COMPILE_TIMEOUT must be a number of seconds above 0"), lines
    assert lines[0].endswith(f"not {value!a}"), lines
