"""Deleting a run's uploads at the service: `uploads purge` and `uploads: {delete_after: run}`.

The photos of unreleased products should not wait at the service for its
retention to run out. Each upload the run directory remembers (the upload
cache) is first forgotten, so no later run sends its URL, then deleted
through the media endpoint, a few at a time as uploads are made; an upload
the service no longer has (404) counts as deleted. A later run uploads the
same photos again when it needs them: an upload is free, a task is not, and
no task is paid twice for it (the request fingerprint counts images by
content, not by URL).

Only uploads to the origin being talked to are deleted: one to another
origin (an earlier `--simulate` run's simulator, another gateway) is left
and counted. A deletion that fails stays owed: the next purge tries again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from batchedit.api.client import ModellixClient
from batchedit.errors import ApiError, FatalApiError
from batchedit.events import emit
from batchedit.pipeline.produce.upload_cache import UPLOADS_FILE, UploadCache
from batchedit.state.rundir import RunPaths

log = logging.getLogger(__name__)

#: Deletions at a time, as for uploads: the media endpoint's concurrency is limited.
MAX_PARALLEL_DELETES = 2
MAX_ERRORS_KEPT = 5


@dataclass(frozen=True, slots=True)
class Purged:
    deleted: int  # deleted at the service now
    gone: int  # the service no longer had them (deleted before, or expired)
    failed: int  # not deleted now: the next purge tries again
    younger: int  # uploaded more recently than `older_than_s`: kept
    elsewhere: int  # uploaded to another origin: not this service's to delete
    errors: tuple[str, ...] = ()  # the first few failures, for the user

    def line(self) -> str:
        parts = [f"{self.deleted} upload(s) deleted at the service"]
        if self.gone:
            parts.append(f"{self.gone} already gone")
        if self.younger:
            parts.append(f"{self.younger} younger than --older-than kept")
        if self.elsewhere:
            parts.append(f"{self.elsewhere} made at another API origin left alone")
        if self.failed:
            parts.append(f"{self.failed} not deleted (purge again to retry)")
        return "; ".join(parts)


async def delete_uploads_after_run(client: ModellixClient, paths: RunPaths) -> None:
    """`uploads: {delete_after: run}`, at the end of a run that finished: every
    upload of the run directory deleted. A deletion that fails leaves the run's
    outcome as it is (it is said, and the next run or purge deletes it)."""
    cache = UploadCache(paths.state_dir / UPLOADS_FILE, client.endpoint.base_url)
    try:
        purged = await purge_uploads(client, cache)
    except FatalApiError as exc:
        log.warning("uploads not deleted: %s", exc)
        return
    log.info("uploads: %s", purged.line())
    for error in purged.errors:
        log.warning("upload not deleted: %s", error)


async def purge_uploads(
    client: ModellixClient,
    cache: UploadCache,
    *,
    older_than_s: float | None = None,
    now: Callable[[], float] = time.time,
) -> Purged:
    """Delete the cache's uploads to `client`'s origin (those older than
    `older_than_s`, if given) and forget them."""
    uploads = await asyncio.to_thread(cache.uploads)
    origin = client.endpoint.base_url
    mine = [u for u in uploads if u.origin == origin and u.file_id]
    cutoff = None if older_than_s is None else now() - older_than_s
    due = [u for u in mine if cutoff is None or u.uploaded_at <= cutoff]
    await asyncio.to_thread(cache.forget, [u for u in due if not u.forgotten])
    outcomes: dict[str, bool | ApiError] = {}
    queue = iter(due)

    async def deleter() -> None:  # a few of them share the queue: few requests at a time
        for upload in queue:
            try:
                outcomes[upload.file_id] = await client.delete_media(upload.file_id)
            except ApiError as exc:  # a FatalApiError (401) stops the purge
                log.warning("upload %s not deleted: %s", upload.file_id, exc)
                outcomes[upload.file_id] = exc

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(MAX_PARALLEL_DELETES):
                group.create_task(deleter())
    except BaseExceptionGroup as stopped:
        raise stopped.exceptions[0] from None  # a refused key, say: one cause to tell
    finally:  # what was deleted is recorded, however the purge ends
        done = [u for u in due if isinstance(outcomes.get(u.file_id), bool)]
        await asyncio.shield(asyncio.to_thread(cache.mark_deleted, done))
    errors = [str(e) for e in outcomes.values() if isinstance(e, ApiError)]
    purged = Purged(
        deleted=sum(1 for o in outcomes.values() if o is True),
        gone=sum(1 for o in outcomes.values() if o is False),
        failed=len(errors),
        younger=len(mine) - len(due),
        elsewhere=sum(1 for u in uploads if u.origin != origin),
        errors=tuple(errors[:MAX_ERRORS_KEPT]),
    )
    emit("uploads_purged", deleted=purged.deleted, gone=purged.gone, failed=purged.failed)
    return purged
