"""The read-side endpoints: task status, result downloads, account, catalogue, schemas, stats.

Result downloads live under `/_sim/` because in production they come from a
file host, not the API: no key, no rate limit, no injected errors, and they
stop working (410) once the task's results expire.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from batchedit.catalogue import ModelSpec, outputs_for, packaged_catalogue
from batchedit.catalogue.schema import schema_of
from batchedit.simulator.context import API_KEY, CONTEXT
from batchedit.simulator.faults import maybe_slow, maybe_truncated
from batchedit.simulator.responses import ApiError, ok_json
from batchedit.simulator.state import UNLIMITED_BALANCE, SimTask, TaskStatus, iso_utc


async def handle_read_task(request: web.Request) -> web.Response:
    state = request.app[CONTEXT].state
    task_id = request.match_info["task_id"]
    task = state.tasks.get(task_id)
    # Another key's task is as unknown as a task that never existed.
    if task is None or task.key != request[API_KEY]:
        raise ApiError(404, f"unknown task {task_id!r}")
    status = task.status(state.clock())
    data: dict[str, Any] = {
        "status": status.value,
        "task_id": task.task_id,
        "model_id": task.model_id,
        "created_at": iso_utc(task.created_wall),
    }
    if status is TaskStatus.SUCCESS:
        origin = f"{request.scheme}://{request.host}"
        data.update(_success_fields(task, origin, state.options.scaled_expiry_s))
    elif status is TaskStatus.FAILED:
        data["error"] = task.error
    return ok_json(data)


def _success_fields(task: SimTask, origin: str, expire_after_s: float) -> dict[str, Any]:
    expires_at = task.expires_at(expire_after_s)
    if not task.results or expires_at is None:  # success implies both; for the type checker
        return {}
    resources = [
        {
            # Named after the task, as a file host names results: a tool that saves
            # results by their URL's last segment keeps which task each came from.
            "url": f"{origin}/_sim/results/{task.task_id}/{result_file_name(task, number)}",
            "type": "image",
            "width": result.width,
            "height": result.height,
            "format": result.format,
        }
        for number, result in enumerate(task.results)
    ]
    return {
        "result": {"resources": resources},
        "result_expires_at": iso_utc(task.to_wall(expires_at)),
    }


def result_file_name(task: SimTask, number: int) -> str:
    """The last segment of a result's URL: `TASK_ID.png`, `TASK_ID-1.png`, ..."""
    suffix = "" if number == 0 else f"-{number}"
    return f"{task.task_id}{suffix}.{task.results[number].extension}"


def _result_number(task: SimTask, name: str) -> int | None:
    for number in range(len(task.results)):
        if result_file_name(task, number) == name:
            return number
    return None


async def handle_download(request: web.Request) -> web.StreamResponse:
    state = request.app[CONTEXT].state
    task = state.tasks.get(request.match_info["task_id"])
    number = None if task is None else _result_number(task, request.match_info["name"])
    now = state.clock()
    if task is None or number is None or task.status(now) is not TaskStatus.SUCCESS:
        raise ApiError(404, "no such result")
    result = task.results[number]
    expires_at = task.expires_at(state.options.scaled_expiry_s)
    if expires_at is not None and now >= expires_at:
        # Expired results are dropped from disk: they can never be served again.
        prerendered = request.app[CONTEXT].prerendered
        for stale in task.results:
            if not prerendered.owns(stale.path):
                await asyncio.to_thread(stale.path.unlink, missing_ok=True)
        raise ApiError(410, "the result has expired; submit the edit again")
    state.stats.downloads += 1
    content_type = f"image/{result.format}"
    await maybe_slow(state)
    truncated = await maybe_truncated(state, request, result.path, content_type)
    if truncated is not None:
        return truncated
    return web.FileResponse(result.path, headers={"Content-Type": content_type})


async def handle_balance(request: web.Request) -> web.Response:
    state = request.app[CONTEXT].state
    remaining = state.remaining_balance(request[API_KEY])
    return ok_json({"balance": UNLIMITED_BALANCE if remaining is None else remaining})


async def handle_validate_key(request: web.Request) -> web.Response:
    # Reaching the handler means the auth middleware accepted the key.
    return ok_json({"is_valid": True})


async def handle_models(request: web.Request) -> web.Response:
    """The catalogue in both shapes clients read: the official CLI's top-level
    `models` (items with a string `slug`) and the other client's `data.models`."""
    origin = f"{request.scheme}://{request.host}"
    models = [_model_item(spec, origin) for spec in packaged_catalogue().models.values()]
    return web.json_response(
        {"code": 0, "message": "success", "models": models, "data": {"models": models}}
    )


def _model_item(spec: ModelSpec, origin: str) -> dict[str, Any]:
    return {
        "slug": spec.slug,
        "type": spec.type,
        "description": spec.description,
        "docs_url": spec.docs_url,
        "model_id": spec.slug,
        "provider": spec.provider,
        "name": spec.name,
        "submit_path": spec.submit_path,
        "images_field": spec.images.field,
        "max_images": spec.images.max_count,
        "parameters": list(spec.params),
        "outputs": outputs_for(spec, {}).count,
        "api_schema_url": f"{origin}/models/{spec.slug}/api_schema",
    }


async def handle_api_schema(request: web.Request) -> web.Response:
    """The model page's OpenAPI document (no key, as on www.modellix.ai)."""
    slug = f"{request.match_info['provider']}/{request.match_info['model']}"
    spec = packaged_catalogue().find(slug)
    if spec is None:
        raise ApiError(404, f"unknown model {slug!r}")
    origin = f"{request.scheme}://{request.host}"
    return web.json_response(schema_of(spec, origin))


async def handle_stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[CONTEXT].state.stats.as_dict())
