"""The export's own record of what it wrote: `.batchedit-export.json` in the destination.

Per name it keeps the sha256 of the content written and, in an object store,
the version tag the store gave that write (its ETag), so a second export can
tell its own unchanged objects from a single listing, without a request per
object. Before writing, an export records each name it is about to write as
`pending` with the content's sha256: if it stops half-way, the next export
recognises what the stopped one wrote (the sha256 in the object's metadata,
or the file's own hash) and skips it, and still recognises the old content
of a name that was about to be replaced. Everything else at a name is
someone else's.

The format is the one local exports have written since the first (`files`:
name -> sha256), with `tags` and `pending` beside it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace

from batchedit.errors import UsageError

LEDGER = ".batchedit-export.json"
#: A ledger is a few hundred bytes per published file.
MAX_LEDGER_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Owned:
    """What the ledger says the export wrote at one name."""

    sha256: str | None = None  # the content written and seen complete; None: not yet
    tag: str | None = None  # the store's version of that write (None in a folder)
    pending: str | None = None  # the content being written when an export stopped

    def claims(self, sha256: str | None) -> bool:
        """Whether content `sha256` is the export's own at this name."""
        return sha256 is not None and sha256 in (self.sha256, self.pending)

    def about_to_write(self, sha256: str) -> Owned:
        return replace(self, pending=sha256)

    @staticmethod
    def written(sha256: str, tag: str | None) -> Owned:
        return Owned(sha256, tag)


def decode_ledger(data: bytes | None, where: str) -> dict[str, Owned]:
    """The ledger's entries; {} when there is none. An unreadable one is refused,
    since without it nothing at the destination can be told apart."""
    if data is None:
        return {}
    try:
        document = json.loads(data)
        files = document["files"]
        tags = document.get("tags") or {}
        pending = document.get("pending") or {}
        if not all(_text_map(part) for part in (files, tags, pending)):
            raise TypeError("not a mapping of names to strings")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(
            f"{where}/{LEDGER} is unreadable ({exc}); remove it only if the destination "
            "holds no earlier export"
        ) from None
    return {
        name: Owned(files.get(name), tags.get(name), pending.get(name))
        for name in {**files, **pending}
    }


def encode_ledger(entries: Mapping[str, Owned]) -> bytes:
    names = sorted(entries)
    document = {
        "written_by": "batchedit export",
        "files": {n: entries[n].sha256 for n in names if entries[n].sha256 is not None},
        "tags": {n: entries[n].tag for n in names if entries[n].tag is not None},
        "pending": {n: entries[n].pending for n in names if entries[n].pending is not None},
    }
    return (json.dumps(document, indent=1, ensure_ascii=False) + "\n").encode()


def _text_map(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )
