"""Finding a C2PA manifest in a result, and signing an output with one of ours.

A C2PA manifest (Content Credentials) is bound to the exact bytes of its
file: any re-encoding, even one that only adds XMP, breaks its hard binding.
So the writer only needs to know whether the service's file carries one
(then that file is kept, byte for byte, beside anything made from it), and
that is a question about the container, answered by the bounded container
walk (containers.py): a JUMBF superbox of the C2PA type in a JPEG APP11
segment, a PNG `caBX` chunk, or a WebP (RIFF) `C2PA` chunk. Nothing is
parsed beyond the box header: validating a manifest is c2pa-python's
business, and it is the library `sign_output` uses to make one.

Synchronous, for the writer's thread.
"""

from __future__ import annotations

import io
import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

from batchedit.containers import carries_c2pa
from batchedit.errors import DownloadError
from batchedit.manifest.naming import SigningFiles
from batchedit.pictures import MAX_METADATA_BYTES

_MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


def has_c2pa(data: bytes | Path) -> bool:
    """Whether `data` (PNG, JPEG or WebP, in memory or a file) carries an
    embedded C2PA manifest: the container walk's answer (containers.py),
    bounded in bytes and time like every walk."""
    if isinstance(data, Path):
        with open(data, "rb") as fp:
            return carries_c2pa(fp, max_metadata_bytes=MAX_METADATA_BYTES)
    return carries_c2pa(io.BytesIO(data), max_metadata_bytes=MAX_METADATA_BYTES)


def sign_output(
    source: Path,
    pillow_format: str,
    original: Path,
    original_format: str,
    files: SigningFiles,
    title: str,
    dest: Path,
) -> None:
    """`source` written to `dest` with a C2PA manifest of its own, signed with
    the user's certificate chain and key (ES256, PEM), naming the service's
    `original` as its parent ingredient; the files are streamed, not read
    into memory. A certificate the library refuses is a
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
                _sign(c2pa, signer, manifest, ingredient, (original, source, dest), pillow_format)
                return
            except c2pa.C2paError:
                if not has_c2pa(original):
                    raise
            # The original's manifest is one c2pa cannot read (the simulator's is
            # only C2PA-shaped): name the ingredient by title and format alone.
            declared = {**manifest, "ingredients": [ingredient]}
            _sign(c2pa, signer, declared, None, (original, source, dest), pillow_format)
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
    files: tuple[Path, Path, Path],
    pillow_format: str,
) -> None:
    """One signing attempt over (original, source, dest); `ingredient` None
    when the manifest declares it."""
    original, source, dest = files
    with c2pa.Builder(json.dumps(manifest)) as builder:
        if ingredient is not None:
            with open(original, "rb") as stream:
                builder.add_ingredient(ingredient, ingredient["format"], stream)
        with open(source, "rb") as unsigned, open(dest, "w+b") as signed:
            builder.sign(signer, _MIME[pillow_format], unsigned, signed)
