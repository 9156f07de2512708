"""The one redactor: every text from outside (the service's messages, HTTP
bodies, exception texts, URLs) passes here before it reaches a log line, the
journal, the report, the summary or the screen (invariants 8 and 10).

Two things happen to such a text:

- the API key, registered once at start with `add_secret`, is replaced by
  `[redacted]` wherever it stands as a whole token (not glued to other letters
  or digits), as written or as it reads inside a JSON string; a key is at
  least MIN_KEY_CHARS long (`check_api_key`), so a key of `k` cannot turn every
  "unknown" into "un[redacted]nown";
- control characters (CR and LF above all, which would let a task id or a
  message forge log lines; also the Unicode line separators, bidi
  overrides and lone surrogates) become spaces.

The registry is process-wide on purpose: a key registered by the launcher
must be blotted out of a line logged by any module, however deep.
"""

from __future__ import annotations

import json
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
_pattern: re.Pattern[str] | None = None


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
    global _pattern
    if not secret or secret in _secrets:
        return
    _secrets.add(secret)
    spellings = set()
    for value in _secrets:
        spellings.add(value)
        spellings.add(json.dumps(value)[1:-1])  # as it reads inside a JSON string
    alternatives = "|".join(re.escape(s) for s in sorted(spellings, key=len, reverse=True))
    _pattern = re.compile(f"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])")


def redact(text: str) -> str:
    """`text` with every registered secret, as a whole token, replaced."""
    if _pattern is None:
        return text
    return _pattern.sub(REDACTED, text)


def strip_controls(text: str) -> str:
    """`text` with control, format and line-separator characters made spaces."""
    if text.isprintable():
        return text
    return "".join(
        " " if unicodedata.category(char) in _STRIPPED_CATEGORIES else char for char in text
    )


def scrub(text: str, *, max_chars: int | None = None) -> str:
    """A text from outside, safe to log or store: redacted, without control
    characters, and cut to `max_chars` when given."""
    cleaned = redact(strip_controls(text))
    if max_chars is not None and len(cleaned) > max_chars:
        cleaned = cleaned[: max_chars - 1] + "…"
    return cleaned
