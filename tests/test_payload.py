"""A result relabelled in place is taken as the image checked only when every
byte that is not metadata is unchanged; anything else is decoded again."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from batchedit.pipeline.write.metadata import restamp_xmp
from batchedit.pipeline.write.payload import same_pixels

XMP = (
    b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" dc:format="image"/>'
    b'</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)


def _image(pillow_format: str) -> bytes:
    picture = Image.linear_gradient("L").resize((96, 64)).convert("RGB")
    buffer = io.BytesIO()
    picture.save(buffer, format=pillow_format)
    return buffer.getvalue()


@pytest.mark.parametrize("pillow_format", ["PNG", "JPEG", "WEBP"])
def test_a_relabelled_result_has_the_same_pixel_payload(pillow_format: str, tmp_path: Path) -> None:
    original = tmp_path / "original"
    original.write_bytes(_image(pillow_format))
    relabelled = tmp_path / "relabelled"
    restamp_xmp(original, XMP, relabelled)
    assert relabelled.read_bytes() != original.read_bytes()
    assert same_pixels(original, relabelled, pillow_format)
    assert same_pixels(original.read_bytes(), relabelled, pillow_format)


@pytest.mark.parametrize("pillow_format", ["PNG", "JPEG", "WEBP"])
def test_a_changed_or_cut_payload_is_not_the_same(pillow_format: str) -> None:
    original = _image(pillow_format)
    changed = bytearray(original)
    changed[-40] ^= 0xFF  # inside the image data, near the end
    assert not same_pixels(original, bytes(changed), pillow_format)
    assert not same_pixels(original, original[: len(original) - 30], pillow_format)
    assert not same_pixels(original, b"", pillow_format)


def test_another_format_is_never_the_same() -> None:
    png = _image("PNG")
    assert not same_pixels(png, png, "GIF")
    assert not same_pixels(png, _image("JPEG"), "JPEG")
