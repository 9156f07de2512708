"""Finding a C2PA manifest in a result, and signing an output with one of ours.

A C2PA manifest (Content Credentials) is bound to the exact bytes of its
file: any re-encoding, even one that only adds XMP, breaks its hard binding.
So the writer only needs to know whether the service's file carries one
(then that file is kept, byte for byte, beside anything made from it), and
that is a question about the container, answered here by walking its
structure: a JUMBF superbox of the C2PA type in a JPEG APP11 segment, a PNG
`caBX` chunk, or a WebP (RIFF) `C2PA` chunk. Nothing is parsed beyond the
box header: validating a manifest is c2pa-python's business, and it is the
library `sign_output` uses to make one.

Synchronous, for the writer's thread.
"""

from __future__ import annotations

import io
import json
from importlib.metadata import version
from typing import Any

from batchedit.errors import DownloadError
from batchedit.manifest.naming import SigningFiles

#: The JUMBF type UUID of a C2PA manifest store: "c2pa" then the ISO suffix.
C2PA_UUID = bytes.fromhex("6332706100110010800000aa00389b71")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


def has_c2pa(data: bytes) -> bool:
    """Whether `data` (PNG, JPEG or WebP) carries an embedded C2PA manifest."""
    if data.startswith(b"\xff\xd8"):
        return _jpeg_has_c2pa(data)
    if data.startswith(_PNG_SIGNATURE):
        return _png_has_c2pa(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_has_c2pa(data)
    return False


def is_c2pa_jumbf(box: bytes) -> bool:
    """A JUMBF superbox (`jumb`) whose description box (`jumd`) has the C2PA type."""
    return box[4:8] == b"jumb" and box[12:16] == b"jumd" and box[16:32] == C2PA_UUID


def _jpeg_has_c2pa(data: bytes) -> bool:
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return False  # not a marker where one must be: stop looking
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in (0xDA, 0xD9):  # start of scan, end of image: no metadata after
            return False
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        if marker == 0xEB:  # APP11: JPEG XT boxes, "JP", instance (2), sequence (4), box
            segment = data[position + 4 : position + 2 + length]
            if segment[:2] == b"JP" and is_c2pa_jumbf(segment[8:]):
                return True
        position += 2 + length
    return False


def _png_has_c2pa(data: bytes) -> bool:
    position = len(_PNG_SIGNATURE)
    while position + 8 <= len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        if kind == b"caBX":
            return True
        if kind == b"IEND":
            return False
        position += 12 + length
    return False


def _webp_has_c2pa(data: bytes) -> bool:
    return b"C2PA" in riff_chunk_kinds(data)


def riff_chunk_kinds(data: bytes) -> list[bytes]:
    """The chunk types of a RIFF (WebP) file, in order: VP8X, ICCP, VP8L, EXIF, C2PA..."""
    kinds: list[bytes] = []
    position = 12
    while position + 8 <= len(data):
        kinds.append(data[position : position + 4])
        length = int.from_bytes(data[position + 4 : position + 8], "little")
        position += 8 + length + (length & 1)
    return kinds


def webp_is_lossless(data: bytes) -> bool:
    """Pillow does not say whether a WebP was lossless; its image chunk type does."""
    return data[:4] == b"RIFF" and b"VP8L" in riff_chunk_kinds(data)


def sign_output(
    data: bytes,
    pillow_format: str,
    original: bytes,
    original_format: str,
    files: SigningFiles,
    title: str,
) -> bytes:
    """`data` with a C2PA manifest of its own, signed with the user's
    certificate chain and key (ES256, PEM), naming the service's `original`
    as its parent ingredient. A certificate the library refuses is a
    DownloadError, so the row fails without discarding the task: a re-run
    with a fixed certificate fetches the results again for free."""
    import c2pa  # loaded only when signing: it brings a native library

    try:
        cert, key = files.cert.read_bytes(), files.key.read_bytes()
    except OSError as exc:
        raise DownloadError(f"output.c2pa_sign: cannot read {exc.filename}: {exc}") from exc
    manifest: dict[str, Any] = {
        "claim_generator_info": [{"name": "batchedit", "version": version("batchedit")}],
        "title": title,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {"action": "c2pa.opened", "parameters": {"ingredientIds": ["service"]}},
                        {"action": "c2pa.converted"},
                    ]
                },
            }
        ],
    }
    ingredient = {
        "title": f"service result.{original_format.lower()}",
        "format": _MIME[original_format],
        "relationship": "parentOf",
        "label": "service",
    }
    try:
        info = c2pa.C2paSignerInfo(alg=b"es256", sign_cert=cert, private_key=key, ta_url=None)
        with c2pa.Signer.from_info(info) as signer:
            try:
                return _sign(c2pa, signer, manifest, ingredient, original, data, pillow_format)
            except c2pa.C2paError:
                if not has_c2pa(original):
                    raise
            # The original's manifest is one c2pa cannot read (the simulator's is
            # only C2PA-shaped): name the ingredient by title and format alone.
            declared = {**manifest, "ingredients": [ingredient]}
            return _sign(c2pa, signer, declared, None, original, data, pillow_format)
    except c2pa.C2paError as exc:
        raise DownloadError(
            f"output.c2pa_sign: could not sign with {files.cert} and {files.key} "
            f"(an ES256 certificate chain and its private key, PEM): {exc}"
        ) from exc


def _sign(
    c2pa: Any,
    signer: Any,
    manifest: dict[str, Any],
    ingredient: dict[str, str] | None,
    original: bytes,
    data: bytes,
    pillow_format: str,
) -> bytes:
    """One signing attempt; `ingredient` None when the manifest declares it."""
    with c2pa.Builder(json.dumps(manifest)) as builder:
        if ingredient is not None:
            builder.add_ingredient(ingredient, ingredient["format"], io.BytesIO(original))
        signed = io.BytesIO()
        builder.sign(signer, _MIME[pillow_format], io.BytesIO(data), signed)
    return signed.getvalue()
