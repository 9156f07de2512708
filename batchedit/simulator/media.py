"""Uploads: the media endpoint that turns a local file into a URL the API accepts.

Files are recognised by their first bytes, not by the name or the declared
type, as a real service must; the simulator serves them back at its own
origin so a submit can name them like any hosted image.
"""

from __future__ import annotations

from aiohttp import BodyPartReader, web
from yarl import URL

from batchedit.imagetypes import MAX_UPLOAD_BYTES, sniff_image_type
from batchedit.simulator.context import CONTEXT
from batchedit.simulator.inputs import LOOPBACK_HOSTS, MEDIA_PATH_PREFIX
from batchedit.simulator.responses import ApiError, ok_json
from batchedit.simulator.state import MediaFile, SimState, iso_utc

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
_CHUNK_BYTES = 256 * 1024


async def handle_upload(request: web.Request) -> web.Response:
    state = request.app[CONTEXT].state
    data, filename = await _read_file_part(request)
    if not 1 <= len(data) <= MAX_UPLOAD_BYTES:
        raise ApiError(400, "file must be 1 byte to 16 MiB")
    content_type = sniff_image_type(data)
    if content_type is None:
        raise ApiError(400, "file must be a PNG, JPEG or WebP image")
    file_id = state.new_id("file")
    media = MediaFile(
        file_id=file_id,
        data=data,
        content_type=content_type,
        filename=filename or f"{file_id}.{_EXTENSIONS[content_type]}",
        created_wall=state.wall_clock(),
    )
    state.media[file_id] = media
    state.stats.uploads += 1
    return ok_json(
        {
            "file_id": file_id,
            "url": f"{request.scheme}://{request.host}{MEDIA_PATH_PREFIX}{file_id}",
            "type": content_type,
            "filename": media.filename,
            "size": len(data),
            "created_at": iso_utc(media.created_wall),
        }
    )


async def _read_file_part(request: web.Request) -> tuple[bytes, str | None]:
    if request.content_type != "multipart/form-data":
        raise ApiError(400, "the body must be multipart/form-data with a part named 'file'")
    try:
        reader = await request.multipart()
        async for part in reader:
            if isinstance(part, BodyPartReader) and part.name == "file":
                return await _read_capped(part), part.filename
    except ValueError as exc:
        raise ApiError(400, f"malformed multipart body: {exc}") from None
    raise ApiError(400, "the body must be multipart/form-data with a part named 'file'")


async def _read_capped(part: BodyPartReader) -> bytes:
    body = bytearray()
    while chunk := await part.read_chunk(_CHUNK_BYTES):
        body += chunk
        if len(body) > MAX_UPLOAD_BYTES:
            raise ApiError(400, "file must be 1 byte to 16 MiB")
    return bytes(body)


async def handle_delete_upload(request: web.Request) -> web.Response:
    """Forget an upload for good: its URL stops serving, and a submit naming it
    is refused (`deleted_upload_named`); deleted twice is a 404, as unknown."""
    ctx = request.app[CONTEXT]
    state = ctx.state
    file_id = request.match_info["file_id"]
    if state.media.pop(file_id, None) is None:
        raise ApiError(404, f"unknown file {file_id!r}")
    state.deleted_media.add(file_id)
    state.stats.deleted_uploads += 1
    ctx.save_soon()
    return ok_json({"file_id": file_id, "deleted": True})


def deleted_upload_named(images: tuple[str, ...], state: SimState) -> tuple[int, str] | None:
    """(index, file id) of the first image that is one of this simulator's
    uploads deleted since, or None."""
    for index, ref in enumerate(images):
        try:
            url = URL(ref)
        except ValueError:
            continue
        if (url.host or "").lower() in LOOPBACK_HOSTS and url.path.startswith(MEDIA_PATH_PREFIX):
            file_id = url.path.removeprefix(MEDIA_PATH_PREFIX)
            if file_id in state.deleted_media:
                return index, file_id
    return None


async def handle_serve_upload(request: web.Request) -> web.Response:
    media = request.app[CONTEXT].state.media.get(request.match_info["file_id"])
    if media is None:
        raise ApiError(404, "no such file")
    return web.Response(body=media.data, content_type=media.content_type)
