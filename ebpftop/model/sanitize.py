"""The one sanitizer every kernel- or /proc-sourced string passes before it is shown."""

from __future__ import annotations

import unicodedata

# Categories that must never reach a terminal as themselves: controls (C0, C1,
# DEL), format characters (BiDi overrides like U+202E, zero-width joiners),
# surrogates (from undecodable bytes), private use, unassigned, and the line
# and paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})

DEFAULT_LIMIT = 256
ELLIPSIS = "\u2026"


def decode(raw: bytes) -> str:
    """Kernel bytes to str: cut at the first NUL, keep undecodable bytes as surrogate escapes.

    The result round-trips exactly (``s.encode('utf-8', 'surrogateescape')``),
    which is what JSON output carries; display goes through :func:`sanitize`.
    """
    nul = raw.find(b"\0")
    if nul >= 0:
        raw = raw[:nul]
    return raw.decode("utf-8", "surrogateescape")


def _escape(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a surrogate-escaped raw byte
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def sanitize(text: str | bytes, limit: int = DEFAULT_LIMIT) -> str:
    """A printable, single-line version of an untrusted string.

    Bytes are cut at NUL and decoded; every non-printable character (ESC,
    C1 controls, newlines, BiDi overrides, undecodable bytes) becomes a
    visible escape such as ``\\x1b``; the result is capped at ``limit``
    characters with an ellipsis. Rich markup is not touched here: widgets
    must render the result as ``rich.text.Text``, which never parses markup.
    """
    if isinstance(text, bytes):
        text = decode(text)
    out: list[str] = []
    size = 0
    for ch in text:
        if ch == "\0":
            break
        piece = _escape(ch) if unicodedata.category(ch) in _UNSAFE_CATEGORIES else ch
        size += len(piece)
        if size > limit:
            out.append(ELLIPSIS)
            break
        out.append(piece)
    return "".join(out)


def elide_middle(text: str, width: int) -> str:
    """Shorten an already sanitized string to width by cutting its middle (paths keep both ends)."""
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    if width == 1:
        return ELLIPSIS
    head = (width - 1) // 2
    tail = width - 1 - head
    return text[:head] + ELLIPSIS + (text[-tail:] if tail else "")
