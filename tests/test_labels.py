"""The AI label and the metadata kept, at the level of one result: a label is
added, raised but never lowered or removed, the service's other XMP is kept,
`ai_label: off` leaves the bytes alone, C2PA boxes are found in each
container, and the `output:` settings are checked with FILE:LINE messages."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin
from prepared import PROVENANCE, prepare_bytes

from batchedit.containers import C2PA_UUID, is_c2pa_jumbf
from batchedit.errors import SourceError
from batchedit.manifest.job import load_job
from batchedit.manifest.naming import OutputSpec, parse_output
from batchedit.pipeline.write.c2pa_boxes import has_c2pa
from batchedit.pipeline.write.metadata import LABELS, Provenance, label_xmp, source_type
from batchedit.simulator.provenance import ServiceMetadata, encode_result, manifest_store

TYPES = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def packet(description: str, attributes: str = "") -> bytes:
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" {attributes} '
        'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"{description}</rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode()


def test_a_result_without_xmp_gets_the_label_and_provenance() -> None:
    stamped = label_xmp(None, "composite", PROVENANCE)
    assert source_type(stamped) == LABELS["composite"]
    text = stamped.decode()
    assert "<Iptc4xmpExt:AISystemUsed>google/nano-banana-pro-edit<" in text
    assert ">task-1<" in text and ">run-1<" in text
    assert "AIPromptInformation" not in text


@pytest.mark.parametrize(
    ("existing", "ours", "kept"),
    [
        ("trainedAlgorithmicMedia", "composite", "trainedAlgorithmicMedia"),  # not lowered
        ("compositeWithTrainedAlgorithmicMedia", "trained", "trainedAlgorithmicMedia"),
        ("digitalCapture", "composite", "compositeWithTrainedAlgorithmicMedia"),
        ("compositeSynthetic", "composite", "compositeWithTrainedAlgorithmicMedia"),
    ],
)
def test_an_existing_label_is_raised_but_never_lowered(existing: str, ours: str, kept: str) -> None:
    tag = "Iptc4xmpExt:DigitalSourceType"
    as_element = packet(f"<{tag}>{TYPES}{existing}</{tag}>")
    as_attribute = packet("", f'{tag}="{TYPES}{existing}"')
    for given_packet in (as_element, as_attribute):
        stamped = label_xmp(given_packet, ours, PROVENANCE)
        assert source_type(stamped) == TYPES + kept
        assert source_type_count(stamped) == 1, "one label, never two that disagree"


def source_type_count(xmp: bytes) -> int:
    root = ElementTree.fromstring(xmp)
    name = "{http://iptc.org/std/Iptc4xmpExt/2008-02-29/}DigitalSourceType"
    return sum((name in e.attrib) + len(e.findall(name)) for e in root.iter())


def test_the_services_other_xmp_is_kept_and_the_prompt_only_when_full() -> None:
    title = '<rdf:Alt><rdf:li xml:lang="x-default">Red mug</rdf:li></rdf:Alt>'
    given_packet = packet(f"<dc:title>{title}</dc:title>")
    stamped = label_xmp(given_packet, "trained", Provenance("m/x", "t", "r", "a red mug on white"))
    text = stamped.decode()
    assert "Red mug" in text and "purl.org/dc/elements/1.1/" in text
    assert "<Iptc4xmpExt:AIPromptInformation>a red mug on white<" in text


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_any_existing_xmp_ends_labelled_and_readable(existing: bytes) -> None:
    stamped = label_xmp(existing, "composite", PROVENANCE)
    found = source_type(stamped)
    assert found in (LABELS["composite"], LABELS["trained"])


def png(size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.linear_gradient("L").resize(size).convert("RGB").save(buffer, "PNG")
    return buffer.getvalue()


def test_ai_label_off_leaves_the_services_bytes_untouched(tmp_path: Path) -> None:
    data = png()
    done = prepare_bytes(tmp_path, data, OutputSpec(ai_label="off"))
    assert done.as_it_came and done.data == data and not done.prepared.keep_original


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_a_result_labelled_in_its_own_format_keeps_every_pixel(fmt: str, tmp_path: Path) -> None:
    picture = Image.linear_gradient("L").resize((256, 256)).convert("RGB")
    buffer = io.BytesIO()
    picture.save(buffer, fmt, quality=70, icc_profile=b"", exif=Image.Exif())
    data = buffer.getvalue()
    done = prepare_bytes(tmp_path, data, OutputSpec(quality=95))
    assert done.data != data and done.prepared.info.format == fmt
    with Image.open(io.BytesIO(data)) as before, Image.open(io.BytesIO(done.data)) as after:
        assert after.tobytes() == before.tobytes(), "not encoded again: no generation loss"
        assert source_type(after.info["xmp"]) == LABELS["composite"]
        if fmt == "JPEG":
            assert after.quantization == before.quantization  # type: ignore[attr-defined]


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_c2pa_boxes_are_found_in_the_simulators_results(fmt: str) -> None:
    picture = Image.linear_gradient("L").convert("RGB")
    with_box = encode_result(picture, fmt, ServiceMetadata("t", "sRGB", c2pa=True))
    without = encode_result(picture, fmt, ServiceMetadata("t", "sRGB", c2pa=False))
    assert has_c2pa(with_box) and not has_c2pa(without)


def test_a_c2pa_chunk_is_found_in_a_webp() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "WEBP")
    plain = buffer.getvalue()
    box = manifest_store("t")
    chunk = b"C2PA" + struct.pack("<I", len(box)) + box + b"\0" * (len(box) & 1)
    body = plain[12:] + chunk
    webp = b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body
    assert has_c2pa(webp) and not has_c2pa(plain)
    assert is_c2pa_jumbf(box) and box[16:32] == C2PA_UUID


def test_a_png_text_chunk_mentioning_c2pa_is_not_a_manifest() -> None:
    data = png()
    text = b"tEXt" + b"Comment\0caBX c2pa jumb"
    chunk = struct.pack(">I", len(text) - 4) + text + struct.pack(">I", zlib.crc32(text))
    assert not has_c2pa(data[:33] + chunk + data[33:])


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([b"\xff\xd8", b"\x89PNG\r\n\x1a\n", b"RIFF\0\0\0\0WEBP", b""]),
    st.binary(max_size=200),
)
def test_box_detection_never_fails_on_any_bytes(head: bytes, tail: bytes) -> None:
    assert has_c2pa(head + tail) in (True, False)


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ({"ai_label": "synthetic"}, "ai_label must be composite or trained or off"),
        ({"provenance": "all"}, "provenance must be basic or full"),
        ({"c2pa": "strip"}, "c2pa must be keep or drop"),
        ({"c2pa_sign": "cert.pem"}, "c2pa_sign must be a mapping with cert and key"),
        ({"c2pa_sign": {"cert": "a.pem"}}, "c2pa_sign must be a mapping with cert and key"),
    ],
)
def test_labelling_settings_are_checked(output: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_output(output)


def test_yaml_off_is_read_as_the_word_off(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("id,prompt,image\na,p,https://x.test/a.png\n")
    job = tmp_path / "job.yaml"
    job.write_text("manifest: m.csv\noutput:\n  ai_label: off\n  provenance: full\n")
    spec = load_job(job).output
    assert (spec.ai_label, spec.provenance, spec.c2pa) == ("off", "full", "keep")


@pytest.mark.parametrize(
    ("output", "line", "message"),
    [
        ("output:\n  ai_label: maybe\n", 3, "ai_label must be composite or trained or off"),
        (
            "output:\n  c2pa_sign: {cert: nope.pem, key: nope.key}\n",
            2,
            "c2pa_sign cert",
        ),
    ],
)
def test_job_file_messages_name_file_and_line(
    tmp_path: Path, output: str, line: int, message: str
) -> None:
    (tmp_path / "m.csv").write_text("id,prompt,image\na,p,https://x.test/a.png\n")
    job = tmp_path / "job.yaml"
    job.write_text(f"manifest: m.csv\n{output}")
    with pytest.raises(SourceError) as caught:
        load_job(job)
    assert str(caught.value).startswith(f"{job}:{line}:")
    assert message in str(caught.value)


def test_an_xmp_packet_too_large_for_a_jpeg_leaves_the_label_and_provenance(
    tmp_path: Path,
) -> None:
    picture = Image.linear_gradient("L").resize((64, 64)).convert("RGB")
    notes = "".join(f"<dc:description>{'x' * 900} {n}</dc:description>" for n in range(90))
    large = packet(notes)
    assert len(large) > 70_000
    buffer = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", large.decode(), zip=True)
    picture.save(buffer, "PNG", pnginfo=info)
    done = prepare_bytes(tmp_path, buffer.getvalue(), OutputSpec(format="jpeg"))
    with Image.open(io.BytesIO(done.data)) as stored:
        xmp = stored.info["xmp"]
    assert len(xmp) < 65_504 and source_type(xmp) == LABELS["composite"]
    assert b"task-1" in xmp
    off = prepare_bytes(tmp_path, buffer.getvalue(), OutputSpec(format="jpeg", ai_label="off"))
    with Image.open(io.BytesIO(off.data)) as stored:
        assert "xmp" not in stored.info


def test_a_cmyk_jpeg_converted_to_png_becomes_rgb_without_its_cmyk_profile(
    tmp_path: Path,
) -> None:
    buffer = io.BytesIO()
    Image.new("CMYK", (32, 32), (0, 128, 255, 0)).save(buffer, "JPEG", icc_profile=b"not rgb")
    done = prepare_bytes(tmp_path, buffer.getvalue(), OutputSpec(format="png"))
    with Image.open(io.BytesIO(done.data)) as stored:
        assert stored.mode == "RGB" and "icc_profile" not in stored.info
        assert source_type(stored.info["xmp"]) == LABELS["composite"]
