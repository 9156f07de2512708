"""The simulator as an aiohttp application: routes, middlewares and the running parts.

Everything that needs the event loop (the client session for loopback
inputs, the folder of results, the render jobs) is opened and closed by one
cleanup context, so an app that is never started leaves nothing behind and
one that stops cancels and awaits its renders.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
from aiohttp import web

from batchedit.catalogue import packaged_catalogue
from batchedit.simulator.context import CONTEXT, SimContext
from batchedit.simulator.handlers import (
    handle_api_schema,
    handle_balance,
    handle_download,
    handle_models,
    handle_read_task,
    handle_stats,
    handle_validate_key,
)
from batchedit.simulator.media import handle_delete_upload, handle_serve_upload, handle_upload
from batchedit.simulator.middleware import READ_TASK_ROUTE, STATS_PATH, answer_and_count, api_gate
from batchedit.simulator.options import SimOptions
from batchedit.simulator.state import SimState
from batchedit.simulator.store import SimStore
from batchedit.simulator.submit import handle_submit, render_again

#: Room for a JSON body carrying several data URIs of large images.
_MAX_BODY_BYTES = 128 * 1024 * 1024
#: The name of the scratch folder of rendered results starts so (`run --simulate`
#: removes one a killed run left behind).
SCRATCH_PREFIX = "batchedit-sim-"
_INPUT_FETCH_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=5)


def create_app(
    options: SimOptions,
    *,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
    scratch_dir: Path | None = None,
    store_dir: Path | None = None,
) -> web.Application:
    """A Modellix-compatible application scripted by `options`, on the given clocks.

    Rendered results are kept in a folder made inside `scratch_dir` (the system's
    temporary folder by default) and removed on cleanup. With `store_dir`
    (`run --simulate` gives the run's state folder), tasks, uploads and results
    are kept there instead and loaded again by the next start (`store.py`).
    """
    packaged_catalogue()  # read the model data now, not on the event loop at the first submit
    app = web.Application(middlewares=[answer_and_count, api_gate], client_max_size=_MAX_BODY_BYTES)
    app[CONTEXT] = SimContext(
        state=SimState(options, clock, wall_clock),
        scratch_dir=scratch_dir,
        store=None if store_dir is None else SimStore(store_dir),
    )
    app.cleanup_ctx.append(_running_parts)
    app.router.add_post("/api/v1/{provider}/{model}/async", handle_submit, name="submit_async")
    app.router.add_post("/api/v1/{provider}/{model}", handle_submit, name="submit")
    app.router.add_get("/api/v1/tasks/{task_id}", handle_read_task, name=READ_TASK_ROUTE)
    app.router.add_post("/api/v1/media/files", handle_upload)
    app.router.add_delete("/api/v1/media/files/{file_id}", handle_delete_upload)
    app.router.add_get("/api/v1/team/balance", handle_balance)
    app.router.add_get("/api/v1/apikey/validate", handle_validate_key)
    app.router.add_get("/api/v1/models", handle_models)
    # The model pages' schemas live on www.modellix.ai, outside the API: no key.
    app.router.add_get("/models/{provider}/{model}/api_schema", handle_api_schema)
    app.router.add_get("/_sim/results/{task_id}/{name}", handle_download)
    app.router.add_get("/_sim/media/{file_id}", handle_serve_upload)
    app.router.add_get(STATS_PATH, handle_stats)
    return app


async def _running_parts(app: web.Application) -> AsyncIterator[None]:
    ctx = app[CONTEXT]
    store = ctx.store
    if store is not None:
        await asyncio.to_thread(store.prepare)
        ctx.result_dir = store.results
        expiry_s = ctx.state.options.scaled_expiry_s
        pending = await asyncio.to_thread(store.load, ctx.state, expiry_s)
    else:
        scratch_dir = ctx.scratch_dir
        if scratch_dir is not None:
            await asyncio.to_thread(scratch_dir.mkdir, parents=True, exist_ok=True)
        ctx.result_dir = Path(
            await asyncio.to_thread(tempfile.mkdtemp, prefix=SCRATCH_PREFIX, dir=scratch_dir)
        )
        pending = []
    ctx.session = aiohttp.ClientSession(timeout=_INPUT_FETCH_TIMEOUT)
    for task, body in pending:  # tasks a stopped simulator had not finished rendering
        render_again(ctx, task, body)
    try:
        yield
    finally:
        await ctx.stop_jobs()
        await ctx.session.close()
        if store is not None:
            await asyncio.to_thread(store.write, store.snapshot(ctx.state))
        else:
            await asyncio.to_thread(shutil.rmtree, ctx.result_dir, ignore_errors=True)
