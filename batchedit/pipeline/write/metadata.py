"""What a result carries besides its pixels, kept through a conversion, and the AI label.

The service's ICC profile (a Display P3 picture shown as sRGB shifts colour),
its EXIF (kept as it is, orientation included, with the pixels left as they
came: the two stay consistent) and its XMP are read from the decoded result
and written into whatever is stored. Every stored output also gets XMP
`Iptc4xmpExt:DigitalSourceType` (what Google Merchant Center reads to tell an
AI-made picture) and a short provenance record: the model (IPTC's
`AISystemUsed`), the task and run ids, and, with `provenance: full`, the
prompt (`AIPromptInformation`). A label already there is never removed or
lowered: a value that says more about AI use than ours stays.

Two libraries write it, each where it fits. A conversion re-encodes anyway,
and Pillow writes all three formats' metadata while it does (`icc_profile`,
`exif` and `xmp` for JPEG and WebP, an iTXt `XML:com.adobe.xmp` chunk for
PNG). A result kept in its own format is only given its new XMP packet, in
place, by exiv2 (pyexiv2): Pillow could do that only by encoding the pixels
again, a generation of loss for a JPEG and tens of milliseconds of deflate
for a PNG, where exiv2 rewrites the metadata segment in well under one and
leaves every pixel byte as it was. The XMP is edited as XML with the standard
library, never spliced as bytes (a packet over MAX_XMP_BYTES is not parsed,
and expat neither fetches external entities nor expands entity bombs). A
JPEG holds at most JPEG_MAX_XMP_BYTES of XMP in its one segment: a larger
packet cannot go into a JPEG, which then gets the label and provenance alone
(`fit_xmp`).
Synchronous, for the writer's thread.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from PIL import Image, PngImagePlugin

from batchedit.errors import DownloadError

#: The IPTC digital source type vocabulary, and the values `ai_label` stamps.
SOURCE_TYPES = "http://cv.iptc.org/newscodes/digitalsourcetype/"
LABELS = {
    "composite": SOURCE_TYPES + "compositeWithTrainedAlgorithmicMedia",
    "trained": SOURCE_TYPES + "trainedAlgorithmicMedia",
}
#: How much each value says about AI use; a lower value is replaced, a higher kept.
_RANK = {
    "trainedAlgorithmicMedia": 4,
    "compositeWithTrainedAlgorithmicMedia": 3,
    "algorithmicMedia": 2,
    "compositeSynthetic": 2,
    "algorithmicallyEnhanced": 1,
}
X = "adobe:ns:meta/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
#: Our own small namespace for what IPTC has no property for (task and run ids).
BATCHEDIT = "urn:batchedit:provenance:1.0:"
_PREFIXES = {"x": X, "rdf": RDF, "Iptc4xmpExt": IPTC_EXT, "batchedit": BATCHEDIT}
_SOURCE_TYPE = f"{{{IPTC_EXT}}}DigitalSourceType"
_RESOURCE = f"{{{RDF}}}resource"
_DESCRIPTION = f"{{{RDF}}}Description"
MAX_PROMPT_CHARS = 4000
#: An XMP packet larger than this is not parsed (it is replaced by a fresh one).
MAX_XMP_BYTES = 4_000_000
#: The most XMP one JPEG APP1 segment holds (65,533 less its namespace header).
JPEG_MAX_XMP_BYTES = 65_504
_JPEG_BACKGROUND = (255, 255, 255)
_EXIV2_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class Carried:
    """The metadata a result arrived with, to be written into what is stored."""

    icc_profile: bytes | None
    exif: bytes | None  # TIFF bytes, without the JPEG "Exif\\0\\0" prefix
    xmp: bytes | None


@dataclass(frozen=True, slots=True)
class Provenance:
    """The short record stamped beside the label; `prompt` only for provenance: full
    (clipped to MAX_PROMPT_CHARS, so the packet fits a JPEG's XMP segment)."""

    model: str
    task_id: str
    run_id: str
    prompt: str | None = None


def read_carried(image: Image.Image) -> Carried:
    """ICC, EXIF and XMP of a decoded PNG, JPEG or WebP."""
    info = image.info
    exif = info.get("exif")
    if isinstance(exif, bytes) and exif.startswith(b"Exif\x00\x00"):
        exif = exif[6:]
    xmp = info.get("xmp")
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    icc = info.get("icc_profile")
    return Carried(
        icc_profile=icc if isinstance(icc, bytes) and icc else None,
        exif=exif if isinstance(exif, bytes) and exif else None,
        xmp=xmp if isinstance(xmp, bytes) and xmp else None,
    )


def label_xmp(existing: bytes | None, label: str, provenance: Provenance) -> bytes:
    """An XMP packet holding everything `existing` held, the DigitalSourceType
    `label` (composite or trained) unless a stronger one is there, and the
    provenance record. An unreadable or oversized packet is replaced."""
    root = _parse_packet(existing)
    description = _first_description(root)
    _set_source_type(root, description, LABELS[label])
    _set_text(description, IPTC_EXT, "AISystemUsed", provenance.model)
    _set_text(description, BATCHEDIT, "TaskId", provenance.task_id)
    _set_text(description, BATCHEDIT, "RunId", provenance.run_id)
    if provenance.prompt is not None:
        prompt = provenance.prompt[:MAX_PROMPT_CHARS]
        _set_text(description, IPTC_EXT, "AIPromptInformation", prompt)
    body = ElementTree.tostring(root, encoding="unicode")
    packet = f'<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>{body}<?xpacket end="w"?>'
    return packet.encode("utf-8")


def fit_xmp(
    xmp: bytes | None, pillow_format: str, label: str, provenance: Provenance
) -> bytes | None:
    """`xmp`, or what of it a `pillow_format` file can hold: for a JPEG a packet
    over its segment's size becomes the label and provenance alone (none at
    all with `ai_label: off`)."""
    if xmp is None or pillow_format != "JPEG" or len(xmp) <= JPEG_MAX_XMP_BYTES:
        return xmp
    return None if label == "off" else label_xmp(None, label, provenance)


def source_type(xmp: bytes | None) -> str | None:
    """The strongest DigitalSourceType in a packet (full URI), or None."""
    if not xmp:
        return None
    try:
        root = ElementTree.fromstring(xmp)
    except ElementTree.ParseError:
        return None
    values = _source_types(root)
    return max(values, key=_rank, default=None)


def _parse_packet(existing: bytes | None) -> ElementTree.Element:
    for prefix, uri in _PREFIXES.items():
        ElementTree.register_namespace(prefix, uri)
    if existing and len(existing) <= MAX_XMP_BYTES:
        with contextlib.suppress(ElementTree.ParseError):  # unparsable: a fresh packet
            prefixes = [ns for _, ns in ElementTree.iterparse(io.BytesIO(existing), ["start-ns"])]
            root = ElementTree.fromstring(existing)
            for prefix, uri in prefixes:  # keep the packet's own prefixes where we can
                if _free_prefix(prefix, uri):
                    ElementTree.register_namespace(prefix, uri)
            if root.tag == f"{{{RDF}}}RDF":  # a bare rdf:RDF, without x:xmpmeta
                wrapper = ElementTree.Element(f"{{{X}}}xmpmeta")
                wrapper.append(root)
                root = wrapper
            if root.find(f"{{{RDF}}}RDF") is not None:
                return root
    root = ElementTree.Element(f"{{{X}}}xmpmeta")
    ElementTree.SubElement(root, f"{{{RDF}}}RDF")
    return root


def _free_prefix(prefix: object, uri: object) -> bool:
    """A prefix that can be registered without taking ours (or ElementTree's ns0...)."""
    if not isinstance(prefix, str) or not prefix or prefix.startswith("ns"):
        return False
    return prefix not in _PREFIXES and uri not in _PREFIXES.values()


def _first_description(root: ElementTree.Element) -> ElementTree.Element:
    rdf = root.find(f"{{{RDF}}}RDF")
    assert rdf is not None  # _parse_packet always gives one
    found = rdf.find(_DESCRIPTION)
    if found is None:
        found = ElementTree.SubElement(rdf, _DESCRIPTION, {f"{{{RDF}}}about": ""})
    return found


def _source_types(root: ElementTree.Element) -> list[str]:
    values: list[str] = []
    for description in root.iter(_DESCRIPTION):
        if _SOURCE_TYPE in description.attrib:
            values.append(description.attrib[_SOURCE_TYPE])
        for element in description.findall(_SOURCE_TYPE):
            values.append(element.get(_RESOURCE) or (element.text or "").strip())
    return values


def _rank(value: str) -> int:
    return _RANK.get(value.rsplit("/", 1)[-1], 0)


def _set_source_type(
    root: ElementTree.Element, description: ElementTree.Element, ours: str
) -> None:
    """Ours, in place of every weaker value; nothing changes if one is stronger."""
    if any(_rank(value) > _rank(ours) for value in _source_types(root)):
        return
    for holder in root.iter(_DESCRIPTION):
        holder.attrib.pop(_SOURCE_TYPE, None)
        for element in holder.findall(_SOURCE_TYPE):
            holder.remove(element)
    ElementTree.SubElement(description, _SOURCE_TYPE).text = ours


def _set_text(description: ElementTree.Element, namespace: str, name: str, value: str) -> None:
    tag = f"{{{namespace}}}{name}"
    description.attrib.pop(tag, None)
    element = description.find(tag)
    if element is None:
        element = ElementTree.SubElement(description, tag)
    element.text = value


def restamp_xmp(source: Path, xmp: bytes, dest: Path) -> None:
    """`source` (PNG, JPEG or WebP) copied to `dest` with its XMP packet
    replaced by `xmp`, every other byte of metadata and every pixel as they
    were. exiv2 edits the copy in place (the file is not read into Python's
    memory), under one lock: its XMP toolkit is not documented as safe across
    threads."""
    import pyexiv2  # loaded on first use: it brings a native library

    shutil.copyfile(source, dest)
    with _EXIV2_LOCK:
        pyexiv2.set_log_level(4)  # errors become exceptions; nothing on stderr
        try:
            image = pyexiv2.Image(str(dest))
            try:
                image.modify_raw_xmp(xmp.decode("utf-8"))
            finally:
                image.close()
        except RuntimeError as exc:
            raise DownloadError(f"could not write the XMP label into the result ({exc})") from exc


def _encodable(
    image: Image.Image, pillow_format: str, carried: Carried
) -> tuple[Image.Image, Carried]:
    """`image` in a mode `pillow_format` can hold, and the metadata that still fits."""
    if image.mode == "CMYK" and pillow_format != "JPEG":
        # PNG and WebP hold no CMYK, and a CMYK profile does not describe RGB.
        return image.convert("RGB"), Carried(None, carried.exif, carried.xmp)
    if pillow_format == "JPEG" and image.mode not in ("RGB", "L", "CMYK"):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, _JPEG_BACKGROUND)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat, carried
    return image, carried


def encode_image(
    image: Image.Image,
    pillow_format: str,
    quality: int | None,
    carried: Carried,
    xmp: bytes | None,
    dest: Path,
) -> None:
    """`image` converted to `pillow_format` into the file `dest`, with the
    carried ICC and EXIF and the XMP `xmp` (a result kept in its own format
    is never encoded again: see restamp_xmp). A JPEG has no alpha, so
    transparency is laid on white rather than turned black."""
    image, carried = _encodable(image, pillow_format, carried)
    # Always given: Pillow's PNG writer would otherwise take the image's own.
    options: dict[str, object] = {"icc_profile": carried.icc_profile}
    if carried.exif:
        options["exif"] = (b"Exif\x00\x00" if pillow_format == "JPEG" else b"") + carried.exif
    if pillow_format == "PNG":
        if xmp:
            text = PngImagePlugin.PngInfo()
            text.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8"), zip=False)
            options["pnginfo"] = text
    elif xmp:
        options["xmp"] = xmp
    if quality is not None and pillow_format in ("JPEG", "WEBP"):
        options["quality"] = quality
    try:
        image.save(dest, format=pillow_format, **options)
    except (OSError, ValueError) as exc:
        raise DownloadError(f"could not store the result as {pillow_format} ({exc})") from exc
