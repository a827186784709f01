"""The one sanitizer: nothing non-printable survives, everything stays visible, JSON keeps the exact string."""

import json

from ebpftop.model.sanitize import decode, elide_middle, sanitize


def test_escape_sequences_become_visible_text() -> None:
    assert sanitize("\x1b[2J[bold]x") == "\\x1b[2J[bold]x"


def test_c1_controls_newlines_and_del() -> None:
    assert sanitize("a\x9bb\nc\x7f") == "a\\x9bb\\x0ac\\x7f"


def test_bidi_override_and_zero_width() -> None:
    assert sanitize("evil\u202etxt.exe\u200b") == "evil\\u202etxt.exe\\u200b"


def test_bytes_cut_at_nul_and_invalid_utf8_escaped() -> None:
    assert sanitize(b"ok\xff\xfe\0hidden") == "ok\\xff\\xfe"


def test_osc_sequences() -> None:
    for seq in ("\x1b]52;c;aGVsbG8=\x07", "\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "\x1b]0;title\x07"):
        out = sanitize(seq)
        assert "\x1b" not in out and "\x07" not in out


def test_length_is_capped_with_ellipsis() -> None:
    out = sanitize("x" * 5000, limit=100)
    assert len(out) == 101 and out.endswith("\u2026")


def test_escape_never_split_by_cap() -> None:
    out = sanitize("ab\x1b", limit=4)
    assert out == "ab\u2026"


def test_printable_unicode_kept() -> None:
    assert sanitize("café 日本") == "café 日本"


def test_decode_is_exact_through_json() -> None:
    raw = b"\x1b[2J\xff[bold]x"
    text = decode(raw + b"\0junk")
    back = json.loads(json.dumps(text, ensure_ascii=True))
    assert back.encode("utf-8", "surrogateescape") == raw


def test_elide_middle_keeps_both_ends() -> None:
    assert elide_middle("/very/long/path/to/file.txt", 12) == "/very\u2026le.txt"
    assert elide_middle("short", 12) == "short"
    assert elide_middle("abc", 1) == "\u2026"
    assert elide_middle("abc", 0) == ""
