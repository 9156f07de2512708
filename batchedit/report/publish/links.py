"""Public URLs of published files: `--public-base-url`, the address DEST is served at.

A shop takes pictures by URL: the bucket behind a CDN, or the folder behind
a web server. A published name becomes the base URL, a `/`, and the name
with each path segment percent-encoded (a space is `%20`, `/` stays a
separator), so the URL names exactly the object export wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from batchedit.errors import UsageError


@dataclass(frozen=True, slots=True)
class PublicBase:
    url: str  # without a trailing slash

    @classmethod
    def parse(cls, given: str) -> PublicBase:
        """The base URL, refused unless http(s) with a host and no query or fragment."""
        parts = urlsplit(given.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(
                f"--public-base-url {given!r}: give the http(s) address DEST is served "
                "at, e.g. https://cdn.example.com/catalog"
            )
        if parts.query or parts.fragment or "?" in given or "#" in given:
            raise UsageError(f"--public-base-url {given!r} must not hold a query or a fragment")
        return cls(given.strip().rstrip("/"))

    def link(self, name: str) -> str:
        """The public URL of the published file `name` (a POSIX path under DEST)."""
        return f"{self.url}/{quote(name, safe='/')}"
