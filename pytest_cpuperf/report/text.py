"""Text that tests and users control (test ids, units, metric names, messages, versions), made
safe for a report: visible, bounded, and inert in Markdown.

Markdown reports become GitHub pull request comments and job summaries, where anything that
renders (a heading, an image, a link, an @mention) would be the test's doing, not the report's.
"""

from __future__ import annotations

import re

INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
                       "\ud800-\udfff]")
"""Control characters (but tab and newline), line and paragraph separators, bidirectional
overrides and lone surrogates (bytes a ``surrogateescape`` decode could not read)."""
LINE_BREAK = re.compile(r"\r\n?|\n")
ZWSP = "&#8203;"
"""A zero-width space, as an entity: breaks an @mention or an autolink without showing."""
MARKDOWN_ESCAPES = {"|": "&#124;", "<": "&lt;", ">": "&gt;", "&": "&amp;", "@": "@" + ZWSP,
                    **{c: "\\" + c for c in "\\`*~[]#$"}}
"""Each character Markdown (or GitHub) could act on: a backslash escape or an entity. ``|`` is
an entity, not ``\\|``: a table splits its rows before it reads escapes. ``(``, ``)`` and ``!``
act only with ``[``/``]``, which are always escaped, so they stay as written."""
AUTOLINK = re.compile(r"(?i)(?<=:)(?=//)|(?<=www)(?=\.)|(?<=\\#)(?=\d)")
"""Where GitHub would start a link from bare text: ``http://``, ``www.``, ``#12`` (an issue)."""
ELLIPSIS = "…"


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: object, newlines: bool = True) -> str:
    """``text`` with every invisible character shown as its escape (``\\x07``, ``\\udcff``);
    with ``newlines`` false, line breaks and tabs become spaces (a one-line cell)."""
    text = str(text)
    if not newlines:
        text = LINE_BREAK.sub(" ", text).replace("\t", " ")
    else:
        text = LINE_BREAK.sub("\n", text)
    return INVISIBLE.sub(_escape_char, text)


def clip(text: str, limit: int | None) -> str:
    """``text`` in at most ``limit`` characters (an ellipsis says it was cut)."""
    if limit is None or len(text) <= limit:
        return text
    return text[:max(limit - 1, 0)] + ELLIPSIS


def _underscore(text: str, i: int) -> str:
    """``_`` inside a word (``latency_p90_ms``) cannot open emphasis: kept as it is."""
    inside = 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()
    return "_" if inside else "\\_"


def markdown_text(text: object, limit: int | None = None) -> str:
    """``text`` as inline Markdown on one line that renders as exactly that text: no heading,
    link, image, emphasis, HTML, @mention, autolink or table cell break of its own; at most
    ``limit`` characters of it."""
    plain = clip(visible(text, newlines=False), limit)
    out = [_underscore(plain, i) if c == "_" else MARKDOWN_ESCAPES.get(c, c)
           for i, c in enumerate(plain)]
    return AUTOLINK.sub(ZWSP, "".join(out))


def code_span(text: str) -> str:
    """``text`` as an inline code span no backtick inside can close (so nothing in it is
    Markdown or HTML): fenced by one more backtick than its longest run of them."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def markdown_code(text: object, limit: int | None = None) -> str:
    """``text`` as a code span that is safe in a table cell: one line, visible characters,
    ``|`` escaped the way a table reads it (``\\|``) and no backslash that would undo that."""
    plain = clip(visible(text, newlines=False), limit)
    return code_span(plain.replace("\\|", "\\\u200b|").replace("|", "\\|"))
