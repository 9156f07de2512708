"""Bringing a destination to the chosen files: write what changed, nothing else.

One export, in order:

1. read the ledger (what earlier exports wrote here) and look once at what
   is present at every name concerned;
2. tell, for each present name, whether it is the export's own: its ledger
   entry's version tag still matches (a store), or its content (a file's
   hash, an object's sha256 metadata) is what the ledger says was written
   or was being written when an export stopped;
3. refuse, before writing anything, when a name to write holds someone
   else's file (exit 2, every such name listed) unless `force`;
4. record the intent (each name about to change as `pending` in the
   ledger), then upload the files whose content differs, a bounded number at
   a time, with a progress bar; a second export of the same choices finds
   every file in place and uploads nothing;
5. write the feeds last, so a feed never names a picture not yet there;
6. files the export wrote that are no longer chosen: removed with `prune`,
   otherwise left in place and counted;
7. write the ledger with each write's version tag.

A stop anywhere leaves the ledger's intent behind: the next export
recognises what the stopped one wrote and goes on from there.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from tqdm import tqdm

from batchedit.errors import UsageError
from batchedit.report.publish.destination import Destination, Found, Upload
from batchedit.report.publish.ledger import (
    LEDGER,
    MAX_LEDGER_BYTES,
    Owned,
    decode_ledger,
    encode_ledger,
)

T = TypeVar("T")
#: Names listed in a refusal; the count says how many more.
MAX_NAMES_SHOWN = 20


@dataclass(frozen=True, slots=True)
class Feed:
    """A file the export makes (feed.csv, a shop feed), written after the pictures."""

    name: str
    data: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class SyncOptions:
    force: bool = False  # replace files at the chosen names that the export did not write
    prune: bool = False  # remove files an earlier export wrote that are no longer chosen
    max_in_flight: int = 8  # uploads (and ownership checks) at a time
    show_progress: bool = False


@dataclass(frozen=True, slots=True)
class Synced:
    files: int  # chosen files at the destination now
    written: int  # of them, written by this export (the others were in place)
    removed: int  # written by an earlier export, no longer chosen, removed (prune)
    left: int  # written by an earlier export, no longer chosen, left in place
    replaced: int  # someone else's files replaced (force)


async def sync(
    dest: Destination,
    uploads: Sequence[Upload],
    feeds: Sequence[Feed],
    options: SyncOptions,
) -> Synced:
    """Bring `dest` to `uploads` and `feeds` (see the module's docstring)."""
    wanted = {u.name: u.sha256 for u in uploads}
    wanted.update({f.name: hashlib.sha256(f.data).hexdigest() for f in feeds})
    _check_names([u.name for u in uploads] + [f.name for f in feeds], dest)
    run = await _Sync.look(dest, wanted, options)
    changing = await run.record_intent()
    todo = [u for u in uploads if u.name in changing]
    await run.write_files(todo)
    for feed in feeds:
        if feed.name in changing:
            await run.write(feed.name, feed.data, feed.content_type)
    removed, left = await run.tidy()
    await run.write_ledger(final=True)
    return Synced(len(uploads), len(todo), removed, left, len(run.foreign))


class _Sync:
    """One export's view of the destination, and the ledger it keeps as it writes."""

    def __init__(
        self,
        dest: Destination,
        wanted: dict[str, str],
        options: SyncOptions,
        owned: dict[str, Owned],
        found: dict[str, Found],
        held: dict[str, str | None],
        ledger_found: bool,
    ) -> None:
        self.dest = dest
        self.wanted = wanted  # name -> sha256 of the content it must hold
        self.options = options
        self.owned = owned  # the ledger as read
        self.found = found  # what was present at each name concerned
        self.held = held  # of those: the content's sha256 if the export's own, else None
        self.ledger = dict(owned)  # the ledger as it is being written
        self.ledger_found = ledger_found
        self.foreign = [n for n in wanted if n in found and held[n] is None]

    @classmethod
    async def look(cls, dest: Destination, wanted: dict[str, str], options: SyncOptions) -> _Sync:
        """Read the ledger, look at every name concerned, tell the export's own
        from the rest; refuse if a name to write is someone else's (unless forced)."""
        data = await dest.read_bytes(LEDGER, max_bytes=MAX_LEDGER_BYTES)
        owned = decode_ledger(data, dest.where)
        stale = [name for name in owned if name not in wanted]
        found = await dest.found([*wanted, *stale, LEDGER])
        ledger_found = found.pop(LEDGER, None) is not None

        async def held(name: str) -> str | None:
            return await _content_if_ours(dest, name, found[name], owned.get(name))

        run = cls(
            dest,
            wanted,
            options,
            owned,
            found,
            await _bounded_map(found, held, options),
            ledger_found,
        )
        if run.foreign and not options.force:
            raise _refusal(dest, run.foreign)
        return run

    async def record_intent(self) -> set[str]:
        """The names whose content changes, recorded as pending before the first write."""
        changing = {name for name, sha in self.wanted.items() if self.held.get(name) != sha}
        for name, sha in self.wanted.items():
            if name in changing:
                previous = self.owned.get(name) if self.held.get(name) is not None else None
                self.ledger[name] = (previous or Owned()).about_to_write(sha)
            else:  # in place already: adopt its version (a stopped export's write among them)
                self.ledger[name] = Owned.written(sha, self.found[name].tag)
        if changing:
            await self.write_ledger()
        return changing

    async def write_files(self, todo: Sequence[Upload]) -> None:
        with tqdm(
            total=sum(u.size for u in todo),
            unit="B",
            unit_scale=True,
            desc="uploaded",
            disable=not self.options.show_progress or not todo,
        ) as bar:

            async def put(upload: Upload) -> None:
                tag = await self.dest.put_file(upload, over=self.found.get(upload.name))
                self.ledger[upload.name] = Owned.written(upload.sha256, tag)
                bar.update(upload.size)

            await _bounded(todo, put, self.options)

    async def write(self, name: str, data: bytes, content_type: str) -> None:
        over = self.found.get(name)
        tag = await self.dest.put_bytes(name, data, content_type=content_type, over=over)
        self.ledger[name] = Owned.written(self.wanted[name], tag)

    async def tidy(self) -> tuple[int, int]:
        """(removed, left) of the files no longer chosen: only the export's own
        are removed, and only with `prune`."""
        removed = left = 0
        for name in [n for n in self.owned if n not in self.wanted]:
            if name not in self.found or self.held[name] is None:
                del self.ledger[name]  # gone, or someone else's now: not the export's to touch
            elif self.options.prune:
                await self.dest.delete(name)
                del self.ledger[name]
                removed += 1
            else:
                left += 1
        return removed, left

    async def write_ledger(self, *, final: bool = False) -> None:
        if final and self.ledger == self.owned and self.ledger_found:
            return  # nothing changed: not even the ledger is written again
        await self.dest.put_bytes(
            LEDGER,
            encode_ledger(self.ledger),
            content_type="application/json",
            over=Found(0) if self.ledger_found else None,
        )
        self.ledger_found = True


async def _content_if_ours(
    dest: Destination, name: str, found: Found, owned: Owned | None
) -> str | None:
    """The sha256 of what is at `name` if the export wrote it, None if someone else did."""
    if owned is None:
        return None
    if owned.tag is not None and found.tag == owned.tag:
        return owned.sha256
    content = await dest.content_sha256(name)
    return content if owned.claims(content) else None


def _check_names(names: list[str], dest: Destination) -> None:
    seen: set[str] = set()
    for name in names:
        if name == LEDGER or name in seen:
            raise UsageError(f"two files would be published as {dest.shown(name)}")
        seen.add(name)


def _refusal(dest: Destination, foreign: list[str]) -> UsageError:
    shown = "\n  ".join(dest.shown(name) for name in foreign[:MAX_NAMES_SHOWN])
    more = len(foreign) - MAX_NAMES_SHOWN
    shown += f"\n  ... and {more} more" if more > 0 else ""
    return UsageError(
        f"refusing to overwrite {len(foreign)} file(s) that batchedit export did not write "
        f"(or that changed since):\n  {shown}\nexport to an empty place, move them "
        "away, or give --force to replace them"
    )


async def _bounded(
    items: Iterable[T], work: Callable[[T], Awaitable[None]], options: SyncOptions
) -> None:
    """`work` on every item, at most `max_in_flight` at a time: that many workers
    share one iterator, so a million items never become a million tasks."""
    shared = iter(items)

    async def worker() -> None:
        for item in shared:
            await work(item)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(max(1, options.max_in_flight)):
                group.create_task(worker())
    except BaseExceptionGroup as errors:
        raise errors.exceptions[0] from None  # the first cause; the others were the same stop


async def _bounded_map(
    items: Iterable[str], work: Callable[[str], Awaitable[T]], options: SyncOptions
) -> dict[str, T]:
    results: dict[str, T] = {}

    async def keep(item: str) -> None:
        results[item] = await work(item)

    await _bounded(items, keep, options)
    return results
