"""A downloaded result made ready to store: checked, labelled, converted, signed.

The picture policy (pictures.py) comes first: a result in a format not taken,
over its pixel cap or past the metadata bound is refused from its container,
never decoded. Then it is decoded once, under the process's pixel budget, and
everything else works from that one decode: the checks (checks.py), the
metadata carried through a conversion and the AI label (metadata.py), a
C2PA signature (c2pa_boxes.py). A body that does not decode may be a
download cut short and is fetched again; anything failing after it decoded
would fail the same on a new download, so it is final.

Synchronous, for the writer's thread.
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass

from PIL import Image

from batchedit.containers import Layout
from batchedit.errors import DownloadError
from batchedit.manifest.channels import PROFILES, ChannelProfile
from batchedit.manifest.naming import OutputSpec
from batchedit.pictures import (
    MAX_ANY_PIXELS,
    MAX_RESULT_PIXELS,
    PIXEL_BUDGET,
    RESULT_FORMATS,
    PictureRefused,
    PixelBudget,
    decoded_pixels,
    inspect_picture,
    load_picture,
    open_picture,
)
from batchedit.pipeline.c2pa_boxes import sign_output
from batchedit.pipeline.checks import ExpectedShape, check_image, format_limit_problem
from batchedit.pipeline.metadata import (
    Carried,
    Provenance,
    encode_image,
    fit_xmp,
    label_xmp,
    read_carried,
    restamp_xmp,
)
from batchedit.pipeline.payload import same_pixels
from batchedit.pipeline.profiles import profile_checks, shape_for_profile
from batchedit.records import Check

EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}

#: A JPEG whose pixels are only checked is decoded no smaller than this on its
#: long side (the blank check reads a 64 px sample of it).
CHECK_DECODE_PX = 512
#: The JPEG quality of a result a channel profile re-encodes, unless `quality` says.
PROFILE_QUALITY = 90


@dataclass(frozen=True, slots=True)
class ImageInfo:
    format: str
    width: int
    height: int


def inspect_image(data: bytes, *, max_pixels: int = MAX_ANY_PIXELS) -> ImageInfo:
    """Decode `data` fully (a truncated file fails here), under the picture
    policy; synchronous, for a thread. A body that is not PNG, JPEG or WebP
    fails for good (`retry_may_cure` False), naming what it is."""
    layout = _inspect(data, max_pixels)
    image = _open(data, layout)
    try:
        with PIXEL_BUDGET.hold(layout.pixels):
            _load(image, None)
        return ImageInfo(layout.format, layout.width, layout.height)
    finally:
        image.close()


def _inspect(data: bytes, max_pixels: int) -> Layout:
    """The result's layout under the picture policy (pictures.py): its format,
    size and metadata within their caps, before anything is decoded."""
    try:
        return inspect_picture(io.BytesIO(data), formats=RESULT_FORMATS, max_pixels=max_pixels)
    except PictureRefused as exc:
        raise DownloadError(f"the result {exc.message}", retry_may_cure=not exc.final) from exc


def _open(data: bytes, layout: Layout) -> Image.Image:
    try:
        return open_picture(io.BytesIO(data), layout, formats=RESULT_FORMATS)
    except PictureRefused as exc:
        raise DownloadError(f"the result {exc.message}", retry_may_cure=not exc.final) from exc


def _load(image: Image.Image, draft_px: int | None) -> None:
    """Decode `image` (a JPEG at a reduced scale with `draft_px`); a body cut
    short fails with a DownloadError a new download may cure."""
    try:
        load_picture(image, draft_px=draft_px)
    except PictureRefused as exc:
        raise DownloadError(f"the downloaded result {exc.message}") from exc


@dataclass(frozen=True, slots=True)
class Prepared:
    """A result made ready to store, and what the report says about it."""

    data: bytes  # the row's output file: the service's bytes, or a re-encoding
    info: ImageInfo
    source: ImageInfo  # the service's file as it came
    keep_original: bool  # store the service's bytes too, untouched
    source_c2pa: bool  # the service's file carries a C2PA manifest
    signed: bool  # `data` carries a manifest we signed
    checks: tuple[Check, ...]


def prepare_output(
    data: bytes,
    spec: OutputSpec,
    provenance: Provenance,
    expected: ExpectedShape | None,
    *,
    max_pixels: int = MAX_RESULT_PIXELS,
    budget: PixelBudget = PIXEL_BUDGET,
) -> Prepared:
    """Decode a downloaded result once, check it, then convert and label it as
    `spec` says, keeping its ICC profile, EXIF and XMP. The download's own
    check: a body that does not decode may be fetched again; anything failing
    after it decoded would fail the same on a new download, so it is final.
    Synchronous, for a thread.

    The picture policy comes first: a result over `max_pixels`, or past the
    metadata bound, is refused from its header, never decoded. Decoding holds
    its pixels of `budget`. A JPEG stored as it came (relabelled in place, no
    manifest to rewrite) has its pixels only checked: it is decoded at a
    reduced scale."""
    layout = _inspect(data, max_pixels)
    checked_only = (
        layout.format == "JPEG"
        and spec.pillow_format in (None, "JPEG")
        and not layout.c2pa
        and spec.profile is None  # a channel's rules read the full picture
    )
    draft_px = CHECK_DECODE_PX if checked_only else None
    image = _open(data, layout)
    try:
        with budget.hold(decoded_pixels(image, draft_px=draft_px)):
            _load(image, draft_px)
            try:
                return _prepare(image, layout, data, spec, provenance, expected)
            except DownloadError as exc:
                if not exc.retry_may_cure:
                    raise
                raise DownloadError(exc.message, retry_may_cure=False) from exc
    finally:
        image.close()


def _shape(
    image: Image.Image,
    carried: Carried,
    spec: OutputSpec,
    channel: ChannelProfile,
    source_format: str,
) -> tuple[Image.Image, Carried, str, bool]:
    """The picture shaped for a sales channel (profiles.py), its metadata, the
    format to store and whether it must be encoded: new pixels always are."""
    target = spec.pillow_format or ("JPEG" if channel.jpeg_srgb else source_format)
    shaped = shape_for_profile(image, channel, pad=spec.pad, icc_profile=carried.icc_profile)
    if not shaped.changed:
        return image, carried, target, target != source_format
    return shaped.image, dataclasses.replace(carried, icc_profile=shaped.icc_profile), target, True


def _prepare(
    image: Image.Image,
    layout: Layout,
    data: bytes,
    spec: OutputSpec,
    provenance: Provenance,
    expected: ExpectedShape | None,
) -> Prepared:
    """A result in the wanted format is never encoded again (a `quality`
    applies to conversions only): it is relabelled in place, or stored as it
    came with `ai_label: off`; one holding a C2PA manifest is written afresh
    without it (the original is kept beside, see c2pa_boxes.py)."""
    width, height = layout.width, layout.height  # `image` may be decoded at a reduced scale
    source = ImageInfo(layout.format, width, height)
    source_format = source.format
    source_c2pa = layout.c2pa
    checks = check_image(image, expected, (width, height))
    carried = read_carried(image)
    target = spec.pillow_format or source_format
    must_encode = target != source_format
    channel = None if spec.profile is None else PROFILES[spec.profile]
    if channel is not None:  # decoded in full: its size is the layout's
        image, carried, target, must_encode = _shape(image, carried, spec, channel, source_format)
        width, height = image.size
    problem = format_limit_problem(target, width, height)
    if problem is not None:
        raise DownloadError(problem)
    xmp = carried.xmp
    if spec.ai_label != "off":
        xmp = label_xmp(carried.xmp, spec.ai_label, provenance)
    xmp = fit_xmp(xmp, target, spec.ai_label, provenance)
    if must_encode:
        quality = spec.quality or (PROFILE_QUALITY if channel is not None else None)
        output = encode_image(image, target, quality, carried, xmp)
    elif xmp == carried.xmp or xmp is None:
        output = data
    elif source_c2pa:  # the new XMP breaks the manifest: write a file without it
        output = encode_image(image, target, None, carried, xmp, lossless_source=layout.lossless)
    else:
        output = restamp_xmp(data, xmp)  # in place: the pixels are not encoded again
    info = ImageInfo(target, width, height)
    signed = False
    if spec.c2pa_sign is not None:
        title = f"{provenance.task_id}.{EXTENSIONS[target]}"
        output = sign_output(output, target, data, source_format, spec.c2pa_sign, title)
        signed = True
    if channel is not None:
        checks = (*checks, *profile_checks(image, len(output), channel))
    if output is not data and (signed or not must_encode):
        # What is stored must be the image checked: relabelled in place, the
        # same pixel bytes say so; anything else must decode, whatever made it.
        if not same_pixels(data, output, target):
            inspect_image(output, max_pixels=layout.pixels)
    changed = output is not data
    keep = changed and (spec.keep_original or (source_c2pa and spec.c2pa == "keep"))
    return Prepared(output, info, source, keep, source_c2pa, signed, checks)
