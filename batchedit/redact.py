r"""The one redactor: every text from outside (the service's messages, HTTP
bodies, exception texts, URLs) passes here before it reaches a log line, the
journal, the report, the summary or the screen (invariants 8 and 10).

Two things happen to such a text:

- the API key, registered once at start with `add_secret`, is replaced by
  `[redacted]` in every spelling a service or a proxy may echo it in, each
  of its characters as written (in either case), percent-encoded (`%2F`,
  `%2f`, twice: `%252F`), JSON- or backslash-escaped (`\/`, `\u002f`) or
  HTML-escaped (`&#47;`, `&#x2f;`, `&quot;`), whatever stands before or after
  it (`Bearer%20KEY`, `%22KEY%22`, `bearer KEY`). A key is at least
  MIN_KEY_CHARS long (`check_api_key`), so matching it glued to other text
  cannot blot out ordinary words. A text that ends in the key's first
  MIN_KEY_CHARS characters or more (a cut someone made before the text came
  here, with or without an ellipsis) has that prefix redacted too;
- control characters (CR and LF above all, which would let a task id or a
  message forge log lines; also the Unicode line separators, bidi
  overrides and lone surrogates) become spaces.

Redaction comes before any cut (`scrub`'s `max_chars`, and every caller that
shortens an outside text): a key cut in two can no longer be recognised.

The registry is process-wide on purpose: a key registered by the launcher
must be blotted out of a line logged by any module, however deep.
"""

from __future__ import annotations

import re
import unicodedata

REDACTED = "[redacted]"
MIN_KEY_CHARS = 8
#: Unicode categories that are stripped: controls and format characters (bidi
#: overrides, zero-width joiners), line and paragraph separators, and lone
#: surrogates (`"\ud800"` is valid JSON, but no UTF-8 writer takes it: the
#: journal's line would fail, and the re-run's with it).
_STRIPPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_KEY_ALLOWED = re.compile(r"[\x21-\x7e]+")

_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None  # the whole key, in every spelling
_cut_at_end: re.Pattern[str] | None = None  # its prefix, ending a text
_cut_before_ellipsis: re.Pattern[str] | None = None  # its prefix, before "..."
#: Each key's first MIN_KEY_CHARS characters, lower-cased: a text holding none of
#: them, nor any character that starts an escape, cannot hold a key (a fast path).
_heads: set[str] = set()


def check_api_key(key: str, *, where: str) -> str:
    """The key, or ValueError saying why it cannot be one: too short to be told
    apart from ordinary words, or holding spaces or control characters that
    would break the Authorization header (and the log lines)."""
    if len(key) < MIN_KEY_CHARS:
        raise ValueError(
            f"{where} holds {len(key)} character(s); an API key has at least "
            f"{MIN_KEY_CHARS} (copy the whole key from the Modellix console)"
        )
    if not _KEY_ALLOWED.fullmatch(key):
        raise ValueError(
            f"{where} holds a space or a control character; an API key is printable "
            "ASCII without spaces (check for a stray newline or quote)"
        )
    return key


def add_secret(secret: str) -> None:
    """A value no stored or shown text may hold (the API key)."""
    global _pattern, _cut_at_end, _cut_before_ellipsis
    if not secret or secret in _secrets:
        return
    _secrets.add(secret)
    _heads.add(secret[:MIN_KEY_CHARS].lower())
    ordered = sorted(_secrets, key=len, reverse=True)
    # Every spelling starts with the key's first character or an escape's: said
    # first, it spares the regex engine trying every spelling at every position.
    firsts = "".join(sorted({value[0].lower() for value in ordered} | {"\\", "%", "&"}))
    start = f"(?=[{re.escape(firsts)}])"
    whole = "|".join(_spelled(value) for value in ordered)
    _pattern = re.compile(f"{start}(?:{whole})", re.IGNORECASE)
    cut = "|".join(_cut_prefix(value) for value in ordered if len(value) > MIN_KEY_CHARS)
    if cut:
        _cut_at_end = re.compile(f"{start}(?:{cut})(?={_ELLIPSIS}?\\s*\\Z)", re.IGNORECASE)
        _cut_before_ellipsis = re.compile(f"{start}(?:{cut})(?={_ELLIPSIS})", re.IGNORECASE)


#: How a cut is often marked.
_ELLIPSIS = r"(?:\.\.\.|\u2026)"
_ELLIPSES = ("...", "\u2026")
#: The longest spelling of a key's character (`%25XX`, `&#x0XX;`, `%5Cu00XX`), in
#: characters, a few times over for the rarer nestings.
_MAX_SPELLING_CHARS = 12
_HTML_NAMED = {"&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos"}
#: The characters that start an escape, themselves in any spelling: an escape
#: may be escaped again (a JSON escape inside a URL: `%5Cu006d`; a URL inside
#: HTML: `&amp;#109;`).
_PERCENT = "%(?:25)*"
_BACKSLASH = f"(?:\\\\|{_PERCENT}5c|&#0*92;|&#x0*5c;)"
_AMPERSAND = f"(?:&(?:amp;)*|{_PERCENT}26|\\\\u0026)"
_HASH = f"(?:#|{_PERCENT}23)"
_SEMICOLON = f"(?:;|{_PERCENT}3b)"


def _char_forms(char: str) -> str:
    """A pattern for one character of the key in every spelling it may be
    echoed in (the pattern is compiled ignoring case: hex digits and letters)."""
    code = ord(char)
    forms = [
        re.escape(char),  # as written
        f"{_PERCENT}{code:02x}",  # percent-encoded, once or more
        f"{_BACKSLASH}u{code:04x}",  # a JSON escape
        f"{_AMPERSAND}{_HASH}0*{code}{_SEMICOLON}",  # HTML character references
        f"{_AMPERSAND}{_HASH}x0*{code:x}{_SEMICOLON}",
    ]
    if char in _HTML_NAMED:
        forms.append(f"{_AMPERSAND}{_HTML_NAMED[char]}{_SEMICOLON}")
    # Any of them after an escaping backslash (`\"`, `%5C%22`).
    return f"(?:{_BACKSLASH}?(?:{'|'.join(forms)}))"


def _spelled(secret: str) -> str:
    return "".join(_char_forms(char) for char in secret)


def _cut_prefix(secret: str) -> str:
    """The key's first MIN_KEY_CHARS characters, then as many more as follow
    (a text cut inside the key)."""
    head = "".join(_char_forms(char) for char in secret[:MIN_KEY_CHARS])
    tail = ""
    for char in reversed(secret[MIN_KEY_CHARS:-1]):
        tail = f"(?:{_char_forms(char)}{tail})?"
    return head + tail


def redact(text: str) -> str:
    """`text` with every registered secret, in any of its spellings, replaced;
    and a key's cut prefix where the text ends or an ellipsis marks a cut."""
    if _pattern is None or not _may_hold_a_key(text):
        return text
    text = _pattern.sub(REDACTED, text)
    if _cut_at_end is not None:
        cut = _cut_at_end.search(text, max(0, len(text) - _spelled_chars()))
        if cut is not None:
            text = text[: cut.start()] + REDACTED + text[cut.end() :]
    if _cut_before_ellipsis is not None and any(mark in text for mark in _ELLIPSES):
        text = _cut_before_ellipsis.sub(REDACTED, text)
    return text


def _spelled_chars() -> int:
    """The most characters a registered key can take in any spelling, and a margin."""
    return _MAX_SPELLING_CHARS * max(map(len, _secrets), default=0) + 16


def _may_hold_a_key(text: str) -> bool:
    if "%" in text or "\\" in text or "&" in text:
        return True  # a character may be escaped
    lowered = text.lower()
    for head in _heads:
        if head in lowered:
            return True
    return False


def strip_controls(text: str) -> str:
    """`text` with control, format and line-separator characters made spaces."""
    if text.isprintable():
        return text
    return "".join(
        " " if unicodedata.category(char) in _STRIPPED_CATEGORIES else char for char in text
    )


def scrub(text: str, *, max_chars: int | None = None) -> str:
    """A text from outside, safe to log or store: redacted, without control
    characters, and cut to `max_chars` when given: after the redactor, which
    cannot recognise a key cut in two. Only the part that can matter is
    looked at: a key in any spelling that starts before the cut ends within
    `_spelled_chars()` after it (a 1 MiB message costs what 300 characters do)."""
    if max_chars is not None:
        text = text[: max_chars + _spelled_chars()]
    cleaned = redact(strip_controls(text))
    if max_chars is not None and len(cleaned) > max_chars:
        cleaned = cleaned[: max_chars - 1] + "…"
    return cleaned
