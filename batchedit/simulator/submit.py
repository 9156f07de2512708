"""The paid call: validate an edit request, create and charge a task, render it behind.

Validation uses the same model table as the client's offline checks, so a
row the client lets through is never refused here for a different reason.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from yarl import URL

from batchedit.models import DEFAULT_ASPECT_RATIO, DEFAULT_IMAGE_SIZE, ModelSpec, find_model
from batchedit.simulator.context import API_KEY, CONTEXT, SimContext
from batchedit.simulator.faults import maybe_drop_submit
from batchedit.simulator.inputs import load_input
from batchedit.simulator.render import is_data_uri, render_edit
from batchedit.simulator.responses import ApiError, ok_json, retry_headers
from batchedit.simulator.state import ResultFile, SimTask


@dataclass(frozen=True, slots=True)
class EditRequest:
    model: ModelSpec
    prompt: str
    images: tuple[str, ...]
    aspect_ratio: str
    image_size: str


async def handle_submit(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    state = ctx.state
    slug = f"{request.match_info['provider']}/{request.match_info['model']}"
    spec = find_model(slug)
    if spec is None:
        raise ApiError(404, f"unknown model {slug!r}; GET /api/v1/models lists the models")
    edit = parse_edit_request(spec, await _read_json(request))
    key = request[API_KEY]
    limit = state.options.max_concurrent
    if limit is not None and state.running_count(key) >= limit:
        wait_s = state.seconds_until_slot(key)
        headers = retry_headers(wait_s, state.wall_clock())
        raise ApiError(429, f"{limit} tasks already running for this key", headers)
    if state.remaining_balance(key) == 0:
        raise ApiError(402, "balance exhausted")
    task = state.create_task(key, spec.slug)
    if task.error is None and state.options.prerendered:
        folder = ctx.require_result_dir()
        await ctx.prerendered.settle(task, edit.aspect_ratio, edit.image_size, folder)
    elif task.error is None:
        ctx.start_job(render_task(ctx, task, edit))
    maybe_drop_submit(state)
    origin = f"{request.scheme}://{request.host}"
    return ok_json(
        {
            "status": "pending",
            "task_id": task.task_id,
            "model_id": task.model_id,
            "get_result": {"method": "GET", "url": f"{origin}/api/v1/tasks/{task.task_id}"},
        }
    )


def parse_edit_request(spec: ModelSpec, body: object) -> EditRequest:
    """The request if the body is valid for `spec`; ApiError(400) naming the field if not."""
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise ApiError(400, "prompt is required and must be a non-empty string")
    return EditRequest(
        model=spec,
        prompt=prompt,
        images=_parse_images(spec, body.get("image")),
        aspect_ratio=_parse_choice(body, "aspectRatio", spec.aspect_ratios, DEFAULT_ASPECT_RATIO),
        image_size=_parse_choice(body, "imageSize", spec.image_sizes, DEFAULT_IMAGE_SIZE),
    )


def _parse_images(spec: ModelSpec, value: object) -> tuple[str, ...]:
    images = [value] if isinstance(value, str) else value
    if not isinstance(images, list) or not 1 <= len(images) <= spec.max_images:
        raise ApiError(
            400, f"image must be an array of 1 to {spec.max_images} image URLs for {spec.slug}"
        )
    for index, entry in enumerate(images):
        if not isinstance(entry, str) or not _is_image_ref(entry):
            raise ApiError(
                400,
                f"image[{index}] must be an http(s):// URL or a data:image/...;base64, URI",
            )
    return tuple(images)


def _is_image_ref(entry: str) -> bool:
    if is_data_uri(entry):
        return True
    try:
        url = URL(entry)
    except ValueError:
        return False
    return url.scheme in ("http", "https") and bool(url.host)


def _parse_choice(body: dict[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = body.get(name)
    if value is None:
        return default
    if value not in allowed:
        raise ApiError(400, f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return str(value)


async def _read_json(request: web.Request) -> object:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "the body must be a JSON object") from None


async def render_task(ctx: SimContext, task: SimTask, edit: EditRequest) -> None:
    """Fetch the first input and render the result file; settles the task either way."""
    source = await load_input(edit.images[0], ctx.state, ctx.require_session())
    path = ctx.require_result_dir() / f"{task.task_id}-0"
    try:
        result = await asyncio.to_thread(_render_to_file, source, edit, path)
    except OSError:
        task.error = "Internal Server Error: the simulator could not store the result"
    else:
        task.result = result
    task.rendered_at = ctx.state.clock()


def _render_to_file(source: bytes | None, edit: EditRequest, stem: Path) -> ResultFile:
    rendered = render_edit(
        source, edit.prompt, edit.aspect_ratio, edit.image_size, placeholder_seed=edit.images[0]
    )
    path = stem.with_suffix(f".{rendered.extension}")
    path.write_bytes(rendered.data)
    return ResultFile(path, rendered.width, rendered.height, rendered.format, rendered.extension)
