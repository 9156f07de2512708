"""`batchedit review RUN_DIR`: the review page served on loopback, recording decisions.

The page is the one `report --html` writes, with live links: results from
`outputs/`, thumbnails and large copies of the input images (made into the
state folder, `.batchedit/review/`), and `POST api/decisions`, which appends
each decision to decisions.jsonl and fsyncs before it answers. Nothing
outside the run directory is ever served: a result's path is resolved and
must stay inside `outputs/`, thumbnails are named by a fixed pattern, and an
input image is reachable only through a token the server made for it while
building the page. A request for anything else is a 404.

Served on 127.0.0.1 only, and only to the holder of this start's token
(review_auth.py); a decision must come as JSON from the page's own origin, so
another site open in the same browser cannot post one. A run directory that
cannot be written (read-only, full) is still shown: thumbnails go to a
private temporary folder, and a decision that cannot be stored is answered
with a one-line JSON error (503, or 507 when the disk is full) the page shows.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import io
import json
import os
import re
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from batchedit.clock import utc_now_iso
from batchedit.errors import SourceError, UsageError
from batchedit.records import ReportRecord, Verdict
from batchedit.report.decisions import (
    Decision,
    append_decisions,
    chosen_output,
    clean_note,
    decided_sha256,
    parse_choice,
    review_state,
)
from batchedit.report.review import RunReport, all_pictures, load_run, write_run_page
from batchedit.report.review_auth import Owner, new_token, owner_only
from batchedit.report.thumbnails import Picture, Shown, Thumb, make_preview, make_thumbnails
from batchedit.state.rundir import RunPaths

PREVIEW_SIDE_PX = 1600
THUMB_NAME = re.compile(r"[0-9a-f]{20}\.jpg")
TOKEN = re.compile(r"[0-9a-f]{24}")
MAX_BODY_BYTES = 64 * 1024
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'",
}


@dataclass
class ServedLinks:
    """Links for a served page: results under `outputs/`, inputs by token."""

    root: Path  # the run directory, resolved
    previews: dict[str, Picture] = field(default_factory=dict)

    def to(self, path: Path) -> str | None:
        outputs = RunPaths(self.root).outputs
        resolved = Path(os.path.abspath(path))
        if resolved.is_relative_to(outputs):
            return "outputs/" + quote(resolved.relative_to(outputs).as_posix())
        token = hashlib.sha256(str(resolved).encode("utf-8", "surrogatepass")).hexdigest()[:24]
        self.previews[token] = Picture(key=str(resolved), path=resolved, is_input=True)
        return f"preview/{token}"

    def thumb(self, thumb: Thumb) -> str:
        return f"thumbs/{thumb.name}"


class ReviewSite:
    """The run directory as the server sees it: the page, the files, the decisions."""

    def __init__(self, run_dir: Path, folder: Path | None = None) -> None:
        self.root = run_dir.resolve()
        self.paths = RunPaths(self.root)
        self.folder = folder or self.paths.state_dir / "review"  # thumbnails, large copies
        self.links = ServedLinks(self.root)
        self._appending = asyncio.Lock()
        self._records: tuple[tuple[int, int], dict[str, ReportRecord]] | None = None
        self._thumbs: dict[str, Shown] = {}  # by thumbnail name: each made or read once

    def load(self) -> RunReport:
        return load_run(self.root)

    def thumbnails(self, run: RunReport, *, progress: bool = False) -> Mapping[str, Shown]:
        """Every picture's thumbnail, made (in threads, under the pixel budget) only
        where this server has not made or read it before."""
        pictures = all_pictures(run)
        return make_thumbnails(
            pictures, self.folder / "thumbs", known=self._thumbs, progress=progress
        )

    def page(self) -> str:
        """The page as the run directory is now (a retry may have run since):
        only thumbnails of what changed are made at request time."""
        run = self.load()
        thumbs = self.thumbnails(run)
        out = io.StringIO()
        write_run_page(out, run, thumbs, self.links, live=True)
        return out.getvalue()

    def output_file(self, tail: str) -> Path | None:
        """A file under outputs/, or None for anything that resolves elsewhere."""
        outputs = self.paths.outputs.resolve()
        if "\x00" in tail:
            return None
        candidate = (outputs / tail).resolve()
        if candidate == outputs or not candidate.is_relative_to(outputs):
            return None
        return candidate if candidate.is_file() else None

    def thumb_file(self, name: str) -> Path | None:
        path = self.folder / "thumbs" / name
        return path if THUMB_NAME.fullmatch(name) and path.is_file() else None

    def preview_file(self, token: str) -> Path | None:
        picture = self.links.previews.get(token) if TOKEN.fullmatch(token) else None
        if picture is None:
            return None
        return make_preview(picture, self.folder / "large", max_side_px=PREVIEW_SIDE_PX)

    async def decide(self, body: Any) -> dict[str, Any]:
        """Check one decision against the report and append it durably."""
        if not isinstance(body, dict):
            raise _error(web.HTTPBadRequest, "send a JSON object {id, decision, note}")
        row_id, decision, note = body.get("id"), body.get("decision"), body.get("note", "")
        allowed = ", ".join(v.value for v in Verdict)
        if decision not in {v.value for v in Verdict}:
            raise _error(
                web.HTTPBadRequest, f"decision must be one of {allowed} (got {decision!r})"
            )
        if not isinstance(row_id, str) or not isinstance(note, str):
            raise _error(web.HTTPBadRequest, "id and note must be strings")
        record = await asyncio.to_thread(self._record, row_id)
        sha256 = decided_sha256(record)
        if sha256 is None:
            raise _error(web.HTTPConflict, f"row {row_id!r} has no result to decide on")
        if body.get("sha256") not in (None, sha256):  # a run replaced it since the page loaded
            raise _error(web.HTTPConflict, f"row {row_id!r} has a new result: reload the page")
        try:
            choice = parse_choice(body.get("choice"))
        except ValueError as exc:
            raise _error(web.HTTPBadRequest, str(exc)) from exc
        if choice is not None and choice > len(record.outputs):
            raise _error(
                web.HTTPConflict,
                f"row {row_id!r} has {len(record.outputs)} output(s), not {choice}: "
                "reload the page",
            )
        made = Decision(
            row_id,
            sha256,
            Verdict(decision),
            clean_note(note),
            utc_now_iso(),
            record.task_id,
            choice,
        )
        async with self._appending:  # one line at a time, each fsynced before the answer
            try:
                await asyncio.to_thread(append_decisions, self.paths.decisions, [made])
            except OSError as exc:
                raise _not_stored(self.paths.decisions, exc) from exc
        return {
            "id": made.id,
            "state": review_state(record, made).value,
            "note": made.note,
            "sha256": made.sha256,
            "at": made.at,
            "choice": chosen_output(record, made)[0] + 1,
        }

    def _record(self, row_id: str) -> ReportRecord:
        """The row as report.jsonl has it now; read again only when the file changed."""
        stat = self.paths.report.stat()
        version = (stat.st_mtime_ns, stat.st_size)
        if self._records is None or self._records[0] != version:
            records = {record.id: record for record in self.load().records}
            self._records = (version, records)
        record = self._records[1].get(row_id)
        if record is None:
            raise _error(web.HTTPNotFound, f"no row {row_id!r} in {self.paths.report}")
        return record

    def decisions(self) -> dict[str, Any]:
        run = self.load()
        return {
            record.id: {
                "state": review_state(record, run.decisions.get(record.id)).value,
                "note": decision.note,
                "choice": chosen_output(record, decision)[0] + 1,
            }
            for record in run.records
            if (decision := run.decisions.get(record.id)) is not None
        }


def _error(kind: type[web.HTTPError], message: str) -> web.HTTPError:
    """An answer to the page's fetch: `{"error": message}`, which it shows as it is."""
    return kind(text=json.dumps({"error": message}), content_type="application/json")


def _not_stored(path: Path, exc: OSError) -> web.HTTPError:
    """A decision the disk refused: 507 when it is full, 503 otherwise (read-only,
    permissions), with the one line that says which."""
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    kind: type[web.HTTPError] = web.HTTPInsufficientStorage if full else web.HTTPServiceUnavailable
    return _error(kind, f"cannot write {path} ({exc.strerror or exc})")


def unwritable(path: Path) -> str | None:
    """Why a decision could not be stored at `path` (decisions.jsonl), or None.
    Tried for real (access() says yes to root on a read-only folder's mode bits)."""
    try:
        if path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
        else:
            tempfile.TemporaryFile(dir=path.parent, prefix=".write-check").close()
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _writable_folder(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".write-check"):
            return True
    except OSError:
        return False


def create_app(site: ReviewSite, owner: Owner) -> web.Application:
    app = web.Application(middlewares=[_guard, owner_only(owner)], client_max_size=MAX_BODY_BYTES)

    async def page(request: web.Request) -> web.Response:
        try:
            html = await asyncio.to_thread(site.page)
        except (UsageError, SourceError, OSError) as exc:
            raise web.HTTPInternalServerError(text=f"cannot show the page: {exc}") from exc
        return web.Response(
            text=html, content_type="text/html", headers={"Cache-Control": "no-store"}
        )

    async def output(request: web.Request) -> web.StreamResponse:
        return await _file(site.output_file, request.match_info["tail"])

    async def thumb(request: web.Request) -> web.StreamResponse:
        return await _file(site.thumb_file, request.match_info["name"])

    async def preview(request: web.Request) -> web.StreamResponse:
        return await _file(site.preview_file, request.match_info["token"])

    async def post_decision(request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            raise _error(web.HTTPUnsupportedMediaType, "send application/json")
        try:
            body = await request.json()
        except ValueError as exc:
            raise _error(web.HTTPBadRequest, f"not JSON: {exc}") from exc
        return web.json_response(await site.decide(body))

    async def get_decisions(request: web.Request) -> web.Response:
        return web.json_response(await asyncio.to_thread(site.decisions))

    app.router.add_get("/", page)
    app.router.add_get("/outputs/{tail:.+}", output)
    app.router.add_get("/thumbs/{name}", thumb)
    app.router.add_get("/preview/{token}", preview)
    app.router.add_post("/api/decisions", post_decision)
    app.router.add_get("/api/decisions", get_decisions)
    return app


async def _file(find: Callable[[str], Path | None], name: str) -> web.StreamResponse:
    path = await asyncio.to_thread(find, name)
    if path is None:
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Loopback names only (no DNS rebinding), same-origin writes, safe headers."""
    host = request.host.rsplit(":", 1)[0].strip("[]")
    if host not in {"127.0.0.1", "localhost", "::1"}:
        raise web.HTTPForbidden(text="the review server answers on 127.0.0.1 only")
    origin = request.headers.get("Origin")
    if request.method != "GET" and origin is not None and origin != f"http://{request.host}":
        raise web.HTTPForbidden(text="decisions come from the review page itself")
    response = await handler(request)
    response.headers.update(SECURITY_HEADERS)
    return response


@dataclass(frozen=True, slots=True)
class Served:
    """Where a review server listens, and what it needs to answer."""

    base: str  # http://127.0.0.1:P/
    owner: Owner
    unwritable: str | None  # why decisions cannot be stored, or None

    @property
    def url(self) -> str:
        """The URL to open (and print): the page, with this start's token."""
        return self.owner.url(self.base)


@asynccontextmanager
async def running_review(
    run_dir: Path, *, port: int = 0, token: str | None = None
) -> AsyncIterator[Served]:
    """Serve RUN_DIR's review page on 127.0.0.1:`port` (0: a free one) to the
    holder of `token` (None: a new random one)."""
    async with AsyncExitStack() as stack:
        probe = ReviewSite(run_dir)
        run = await asyncio.to_thread(probe.load)  # a bad run directory fails now, not later
        refused = await asyncio.to_thread(unwritable, probe.paths.decisions)
        folder = None
        if not await asyncio.to_thread(_writable_folder, probe.folder):
            # Thumbnails cannot go into the run directory: a private folder, removed at the end.
            folder = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="batchedit-review-"))
            )
        site = ReviewSite(run_dir, folder)
        # Every thumbnail before the URL is printed (a bar on stderr in a terminal),
        # so the first page is written from what is made, not while it is made.
        await asyncio.to_thread(site.thumbnails, run, progress=True)
        owner = Owner(token or new_token())
        runner = web.AppRunner(create_app(site, owner), access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        tcp = web.TCPSite(runner, "127.0.0.1", port)
        try:
            await tcp.start()
        except OSError as exc:
            raise UsageError(f"cannot serve on 127.0.0.1:{port}: {exc.strerror}") from exc
        yield Served(f"http://127.0.0.1:{int(runner.addresses[0][1])}/", owner, refused)


async def serve_review(
    run_dir: Path,
    *,
    port: int = 0,
    token: str | None = None,
    on_ready: Callable[[Served], Awaitable[None]] | None = None,
) -> None:
    """Serve until cancelled (Ctrl-C in the CLI)."""
    async with running_review(run_dir, port=port, token=token) as served:
        if on_ready is not None:
            await on_ready(served)
        await asyncio.Event().wait()
