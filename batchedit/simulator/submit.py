"""The paid call: validate an edit request, create and charge a task, render it behind.

Validation is the catalogue's `check_body`, the same rules the client checks
rows against offline, so a row the client lets through is never refused here
for a different reason; a wrong or missing field is a 400 in the API's error
envelope. A task renders as many results as the body asks for (`n`), at the
catalogued pixel size where the catalogue knows it.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from yarl import URL

from batchedit.catalogue import (
    BodyError,
    ModelSpec,
    ParamValue,
    check_body,
    output_pixel_size,
    outputs_for,
    packaged_catalogue,
    ratio_size,
)
from batchedit.fsutil import atomic_write_bytes
from batchedit.simulator.context import API_KEY, CONTEXT, SimContext
from batchedit.simulator.faults import draws, maybe_drop_submit, maybe_gateway_timeout
from batchedit.simulator.inputs import load_input
from batchedit.simulator.media import deleted_upload_named
from batchedit.simulator.provenance import ServiceMetadata, metadata_for
from batchedit.simulator.render import DEFECTS, default_format, is_data_uri, render_edit
from batchedit.simulator.responses import ApiError, ok_json, retry_headers
from batchedit.simulator.state import ResultFile, SimTask

#: Where the catalogue does not know a result's size: this long side, for a
#: size keyword (1K, 2k...) its own, and the shape of any ratio the body gives.
_FALLBACK_LONG_SIDE_PX = 1024
_KEYWORD_SIDES = {"512": 512, "1k": 1024, "2k": 2048, "4k": 4096}
_RATIO = re.compile(r"[1-9]\d*:[1-9]\d*")


@dataclass(frozen=True, slots=True)
class EditRequest:
    model: ModelSpec
    prompt: str
    images: tuple[str, ...]
    size_px: tuple[int, int]
    image_format: str  # "png" or "jpeg"
    count: int  # results to render


async def handle_submit(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    state = ctx.state
    slug = f"{request.match_info['provider']}/{request.match_info['model']}"
    spec = packaged_catalogue().find(slug)
    if spec is None:
        raise ApiError(404, f"unknown model {slug!r}; GET /api/v1/models lists the models")
    body = await _read_json(request)
    edit = parse_edit_request(spec, body, state.options.result_profile)
    deleted = deleted_upload_named(edit.images, state)
    if deleted is not None:
        index, file_id = deleted
        raise ApiError(
            400, f"{spec.images.field}[{index}]: the uploaded file {file_id} was deleted"
        )
    key = request[API_KEY]
    limit = state.options.max_concurrent
    if limit is not None and state.running_count(key) >= limit:
        wait_s = state.seconds_until_slot(key)
        headers = retry_headers(wait_s, state.wall_clock())
        raise ApiError(429, f"{limit} tasks already running for this key", headers)
    if state.remaining_balance(key) == 0:
        raise ApiError(402, "balance exhausted")
    task = state.create_task(key, spec.slug, _size_label(body))
    if state.stats.bodies is not None:
        state.stats.bodies.append({"model": spec.slug, "path": request.path, "body": body})
    options = state.options
    meta = metadata_for(task.task_id, options.seed, options.c2pa_rate)
    defect = None
    if task.error is None and draws(state, options.defect_rate):
        defect = state.rng.choice(DEFECTS)
        state.stats.faults[f"defect_{defect}"] += 1
    shared = ctx.realistic if options.result_profile == "realistic" else None
    if shared is None and options.prerendered:
        shared = ctx.prerendered
    if task.error is None and shared is ctx.realistic:
        # A 4K texture takes a while to make: in the background, not in the answer.
        settle = shared.settle(
            task,
            edit.size_px,
            edit.image_format,
            edit.count,
            ctx.require_result_dir(),
            meta=meta,
            defect=defect,
            clock=state.clock,
        )
        ctx.start_job(settle)
    elif task.error is None and shared is not None:
        folder = ctx.require_result_dir()
        await shared.settle(
            task, edit.size_px, edit.image_format, edit.count, folder, meta=meta, defect=defect
        )
    elif task.error is None:
        if ctx.store is not None:
            ctx.store.remember_render(task.task_id, body)
        ctx.start_job(render_task(ctx, task, edit, meta, defect))
    ctx.save_soon()
    maybe_drop_submit(state)
    maybe_gateway_timeout(state)
    origin = f"{request.scheme}://{request.host}"
    return ok_json(
        {
            "status": "pending",
            "task_id": task.task_id,
            "model_id": task.model_id,
            "get_result": {"method": "GET", "url": f"{origin}/api/v1/tasks/{task.task_id}"},
        }
    )


def _size_label(body: object) -> str:
    """The output size as the request names it (`1K`, `4K`...), for the latency profile."""
    size = body.get("imageSize") or body.get("resolution") if isinstance(body, dict) else None
    return str(size) if isinstance(size, str | int) else ""


def parse_edit_request(
    spec: ModelSpec, body: object, result_profile: str | None = None
) -> EditRequest:
    """The request if the body is valid for `spec`; ApiError(400) naming the field if not.
    Its results are PNG at every size with the realistic `result_profile`
    (unless the body asks for a format), else PNG up to the 1K tier."""
    try:
        checked = check_body(spec, body)
    except BodyError as exc:
        raise ApiError(400, str(exc)) from None
    for index, entry in enumerate(checked.images):
        if not _is_image_ref(entry):
            raise ApiError(
                400,
                f"{spec.images.field}[{index}] must be an http(s):// URL or a "
                "data:image/...;base64, URI",
            )
    size_px = output_pixel_size(spec, checked.params) or _fallback_size(checked.params)
    fallback = "png" if result_profile == "realistic" else default_format(size_px)
    image_format = str(checked.params.get("output_format") or fallback)
    count = outputs_for(spec, checked.params).count
    return EditRequest(
        model=spec,
        prompt=checked.prompt,
        images=checked.images,
        size_px=size_px,
        image_format=image_format,
        count=1 if count is None else count,  # undocumented: the simulator makes one
    )


def _fallback_size(params: Mapping[str, ParamValue]) -> tuple[int, int]:
    values = [str(value) for value in params.values()]
    long_side = next(
        (_KEYWORD_SIDES[v.lower()] for v in values if v.lower() in _KEYWORD_SIDES),
        _FALLBACK_LONG_SIDE_PX,
    )
    ratio = next((v for v in values if _RATIO.fullmatch(v)), "1:1")
    return ratio_size(ratio, long_side)


def _is_image_ref(entry: str) -> bool:
    if is_data_uri(entry):
        return True
    try:
        url = URL(entry)
    except ValueError:
        return False
    return url.scheme in ("http", "https") and bool(url.host)


async def _read_json(request: web.Request) -> object:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "the body must be a JSON object") from None


def render_again(ctx: SimContext, task: SimTask, body: object) -> None:
    """Render a task a stopped simulator left unrendered (`store.py`), from its
    request body; one whose body no longer parses fails, as a render can."""
    spec = packaged_catalogue().find(task.model_id)
    try:
        profile = ctx.state.options.result_profile
        edit = None if spec is None else parse_edit_request(spec, body, profile)
    except ApiError:
        edit = None
    if edit is None:
        task.error = "Internal Server Error: the simulator could not render this task again"
        task.rendered_at = ctx.state.clock()
        return
    meta = metadata_for(task.task_id, ctx.state.options.seed, ctx.state.options.c2pa_rate)
    ctx.start_job(render_task(ctx, task, edit, meta))


async def render_task(
    ctx: SimContext,
    task: SimTask,
    edit: EditRequest,
    meta: ServiceMetadata,
    defect: str | None = None,
) -> None:
    """Fetch the first input and render the result files; settles the task either way."""
    source = await load_input(edit.images[0], ctx.state, ctx.require_session())
    folder = ctx.require_result_dir()
    try:
        results = []
        for number in range(edit.count):
            stem = folder / f"{task.task_id}-{number}"
            results.append(
                await asyncio.to_thread(_render_to_file, source, edit, stem, number, meta, defect)
            )
    except OSError:
        task.error = "Internal Server Error: the simulator could not store the result"
    else:
        task.results = tuple(results)
    task.rendered_at = ctx.state.clock()
    ctx.save_soon()


def _render_to_file(
    source: bytes | None,
    edit: EditRequest,
    stem: Path,
    variant: int,
    meta: ServiceMetadata,
    defect: str | None,
) -> ResultFile:
    rendered = render_edit(
        source,
        edit.prompt,
        edit.size_px,
        placeholder_seed=edit.images[0],
        image_format=edit.image_format,
        variant=variant,
        meta=meta,
        defect=defect,
    )
    path = stem.with_suffix(f".{rendered.extension}")
    # Written aside and renamed: whole or absent should the process die mid-write
    # (a store removes what is left aside on its next start). Not fsynced: a
    # simulated result is worth less than an fsync.
    atomic_write_bytes(path, rendered.data, sync=False)
    return ResultFile(path, rendered.width, rendered.height, rendered.format, rendered.extension)
