"""A downloaded result made ready to store: checked, labelled, converted, signed.

The result is a file (the download streamed it to disk), and it is read from
there. The picture policy (pictures.py) comes first: a result in a format not
taken, over its pixel cap or past the metadata bound is refused from its
container (`inspect_result`), never decoded. Then it is decoded once, holding
`decode_weight` pixels of the process's pixel budget, and everything else
works from that one decode (`prepare_file`): the checks (checks.py), the
metadata carried through a conversion and the AI label (metadata.py), a C2PA
signature (c2pa_boxes.py). What it makes is written to new files beside the
download, never held whole in memory. A body that does not decode may be a
download cut short and is fetched again; anything failing after it decoded
would fail the same on a new download, so it is final.

Synchronous, for the writer's thread.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from batchedit.api.download import Fetched
from batchedit.containers import Layout, Malformed, OverLimit, copy_without_c2pa
from batchedit.errors import DownloadError
from batchedit.manifest.channels import PROFILES, ChannelProfile
from batchedit.manifest.naming import OutputSpec
from batchedit.pictures import (
    MAX_METADATA_BYTES,
    RESULT_FORMATS,
    PictureRefused,
    decoded_pixels,
    inspect_picture,
    load_picture,
    open_picture,
)
from batchedit.pipeline.write.c2pa_boxes import sign_output
from batchedit.pipeline.write.checks import ExpectedShape, check_image, format_limit_problem
from batchedit.pipeline.write.metadata import (
    Carried,
    Provenance,
    encode_image,
    fit_xmp,
    label_xmp,
    read_carried,
    restamp_xmp,
    source_type,
)
from batchedit.pipeline.write.payload import same_pixels
from batchedit.pipeline.write.profiles import profile_checks, shape_for_profile
from batchedit.records import Check

EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}

#: A JPEG whose pixels are only checked is decoded no smaller than this on its
#: long side (the blank check reads a 64 px sample of it).
CHECK_DECODE_PX = 512
#: The JPEG quality of a result a channel profile re-encodes, unless `quality` says.
PROFILE_QUALITY = 90
_HASH_BLOCK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ImageInfo:
    format: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Prepared:
    """A result made ready to store, and what the report says about it."""

    output: Path  # the row's output file: the download itself, or a new file beside it
    sha256: str
    bytes: int
    info: ImageInfo
    source: ImageInfo  # the service's file as it came
    keep_original: bool  # store the service's file too, untouched
    source_c2pa: bool  # the service's file carries a C2PA manifest
    signed: bool  # `output` carries a manifest we signed
    checks: tuple[Check, ...]
    label: str | None = None  # the DigitalSourceType `output` carries (IPTC's short name)


def inspect_result(path: Path, *, max_pixels: int) -> Layout:
    """The downloaded result's layout under the picture policy: its format,
    size and metadata within their caps, before anything is decoded. A result
    over a cap or in a format not taken fails for good, naming what it is."""
    try:
        return inspect_picture(path, formats=RESULT_FORMATS, max_pixels=max_pixels)
    except PictureRefused as exc:
        raise DownloadError(f"the result {exc.message}", refused=exc.final) from exc


def decode_weight(layout: Layout, spec: OutputSpec) -> int:
    """The pixels `prepare_file` decodes at once, for the pixel budget: a JPEG
    stored as it came is decoded at a reduced scale, anything else whole."""
    draft_px = CHECK_DECODE_PX if _checked_only(layout, spec) else None
    return decoded_pixels(layout, draft_px=draft_px)


def prepare_file(
    fetched: Fetched,
    layout: Layout,
    spec: OutputSpec,
    provenance: Provenance,
    expected: ExpectedShape | None,
    *,
    aside: Callable[[], Path],
) -> Prepared:
    """Decode a downloaded result once, check it, then convert and label it as
    `spec` says, keeping its ICC profile, EXIF and XMP; new files are named by
    `aside` (the caller removes any it does not keep). The caller holds
    `decode_weight` pixels of the budget. A JPEG stored as it came (relabelled
    in place, no manifest to rewrite) has its pixels only checked: it is
    decoded at a reduced scale."""
    draft_px = CHECK_DECODE_PX if _checked_only(layout, spec) else None
    image = _open(fetched.path, layout)
    try:
        _load(image, draft_px)
        try:
            made = _prepare(image, layout, fetched.path, spec, provenance, expected, aside)
        except DownloadError as exc:
            if not exc.retry_may_cure:
                raise
            raise DownloadError(exc.message, retry_may_cure=False) from exc
    finally:
        image.close()
    if made.output == fetched.path:
        return made.prepared(fetched.sha256, fetched.bytes)
    if made.signed or not made.encoded:
        # What is stored must be the image checked: relabelled in place, the
        # same pixel bytes say so; anything else must decode, whatever made it.
        if not same_pixels(fetched.path, made.output, made.info.format):
            _verify(made.output, layout, draft_px)
    return made.prepared(*_digest(made.output))


def _checked_only(layout: Layout, spec: OutputSpec) -> bool:
    return (
        layout.format == "JPEG"
        and spec.pillow_format in (None, "JPEG")
        and not layout.c2pa
        and spec.profile is None  # a channel's rules read the full picture
    )


def _open(path: Path, layout: Layout) -> Image.Image:
    try:
        return open_picture(path, layout, formats=RESULT_FORMATS)
    except PictureRefused as exc:
        raise DownloadError(f"the result {exc.message}", retry_may_cure=not exc.final) from exc


def _load(image: Image.Image, draft_px: int | None) -> None:
    """Decode `image` (a JPEG at a reduced scale with `draft_px`); a body cut
    short fails with a DownloadError a new download may cure."""
    try:
        load_picture(image, draft_px=draft_px)
    except PictureRefused as exc:
        raise DownloadError(f"the downloaded result {exc.message}") from exc


def _verify(path: Path, layout: Layout, draft_px: int | None) -> None:
    """`path`, made from the result, decodes (as the result did: reduced with
    `draft_px`, within the pixels already held)."""
    try:
        made = inspect_picture(path, formats=RESULT_FORMATS, max_pixels=layout.pixels)
        image = open_picture(path, made, formats=RESULT_FORMATS)
        try:
            load_picture(image, draft_px=draft_px)
        finally:
            image.close()
    except PictureRefused as exc:
        raise DownloadError(f"the stored result {exc.message}", retry_may_cure=False) from exc


def _without_c2pa(source: Path, dest: Path) -> None:
    try:
        with open(source, "rb") as fp, open(dest, "wb") as out:
            copy_without_c2pa(fp, out, max_metadata_bytes=MAX_METADATA_BYTES)
    except (Malformed, OverLimit) as exc:  # the walk passed it once: not expected
        raise DownloadError(f"could not set the result's C2PA manifest aside ({exc})") from exc


def _digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


@dataclass(frozen=True, slots=True)
class _Made:
    output: Path
    info: ImageInfo
    source: ImageInfo
    keep_original: bool
    source_c2pa: bool
    signed: bool
    checks: tuple[Check, ...]
    label: str | None
    encoded: bool  # its pixels were encoded anew (a conversion, a channel's shaping)

    def prepared(self, sha256: str, size: int) -> Prepared:
        return Prepared(
            self.output,
            sha256,
            size,
            self.info,
            self.source,
            self.keep_original,
            self.source_c2pa,
            self.signed,
            self.checks,
            self.label,
        )


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
    source_path: Path,
    spec: OutputSpec,
    provenance: Provenance,
    expected: ExpectedShape | None,
    aside: Callable[[], Path],
) -> _Made:
    """A result in the wanted format is never encoded again (a `quality`
    applies to conversions only): it is relabelled in a copy, or stored as it
    came with `ai_label: off`; one holding a C2PA manifest is relabelled in a
    copy without the manifest's parts, its pixels untouched (the original is
    kept beside, see c2pa_boxes.py). A channel profile's new pixels are
    encoded, whatever the format."""
    width, height = layout.width, layout.height  # `image` may be decoded at a reduced scale
    source = ImageInfo(layout.format, width, height)
    source_format = source.format
    checks = check_image(image, expected, (width, height))
    carried = read_carried(image)
    target = spec.pillow_format or source_format
    encoded = target != source_format
    channel = None if spec.profile is None else PROFILES[spec.profile]
    if channel is not None:  # decoded in full: its size is the layout's
        image, carried, target, encoded = _shape(image, carried, spec, channel, source_format)
        width, height = image.size
    problem = format_limit_problem(target, width, height)
    if problem is not None:
        raise DownloadError(problem)
    xmp = carried.xmp
    if spec.ai_label != "off":
        xmp = label_xmp(carried.xmp, spec.ai_label, provenance)
    xmp = fit_xmp(xmp, target, spec.ai_label, provenance)
    output = source_path
    if encoded:
        output = aside()
        quality = spec.quality or (PROFILE_QUALITY if channel is not None else None)
        encode_image(image, target, quality, carried, xmp, output)
    elif xmp == carried.xmp or xmp is None:
        pass  # stored as it came
    elif layout.c2pa:  # the new XMP would break the manifest: relabel a copy without it
        stripped = aside()
        _without_c2pa(source_path, stripped)
        output = aside()
        restamp_xmp(stripped, xmp, output)
    else:
        output = aside()
        restamp_xmp(source_path, xmp, output)  # the pixels are not encoded again
    signed = spec.c2pa_sign is not None
    if spec.c2pa_sign is not None:
        title = f"{provenance.task_id}.{EXTENSIONS[target]}"
        unsigned, output = output, aside()
        sign_output(unsigned, target, source_path, source_format, spec.c2pa_sign, title, output)
    if channel is not None:
        checks = (*checks, *profile_checks(image, output.stat().st_size, channel))
    changed = output != source_path
    keep = changed and (spec.keep_original or (layout.c2pa and spec.c2pa == "keep"))
    info = ImageInfo(target, width, height)
    label = source_type(xmp)
    short = None if label is None else label.rsplit("/", 1)[-1]
    return _Made(output, info, source, keep, layout.c2pa, signed, checks, short, encoded)
