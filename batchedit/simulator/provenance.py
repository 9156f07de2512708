"""The metadata a real service's results carry, so clients are tested on keeping it.

Every result gets an ICC colour profile (sRGB, or Display P3 for half of
them: a converted P3 picture that loses its profile visibly shifts colour),
EXIF (Software, and an ImageDescription naming the task), and XMP labelling
it `compositeWithTrainedAlgorithmicMedia`, as an edit of a supplied photo is.
Some (`c2pa_rate`, chosen by a hash of the seed and the task id, so nothing
is drawn from the shared generator) also carry a C2PA-shaped manifest store:
a JUMBF superbox of the C2PA type in a PNG `caBX` chunk or a JPEG APP11
segment. It is not signed (the simulator holds no certificate); it has the
container shape a client must detect and keep.

The profiles are built here, byte by byte after ICC.1:2001 (version 2),
because Pillow can make an sRGB profile but not a Display P3 one.
"""

from __future__ import annotations

import hashlib
import io
import struct
from dataclasses import dataclass

from PIL import Image, PngImagePlugin

SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
C2PA_UUID = bytes.fromhex("6332706100110010800000aa00389b71")  # the manifest store
_MANIFEST_UUID = bytes.fromhex("63326d6100110010800000aa00389b71")  # one manifest
_D50 = (0.9642, 1.0, 0.8249)
#: Red, green and blue colorants (D50-adapted XYZ) of each profile.
_COLORANTS = {
    "sRGB": ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141)),
    "Display P3": ((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841)),
}
#: The sRGB transfer curve as an ICC parametric curve (type 3: g, a, b, c, d).
_SRGB_CURVE = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)


@dataclass(frozen=True, slots=True)
class ServiceMetadata:
    """What one result is stamped with."""

    task_id: str
    profile: str  # "sRGB" or "Display P3"
    c2pa: bool


def metadata_for(task_id: str, seed: int | None, c2pa_rate: float) -> ServiceMetadata:
    """A result's metadata, fixed by its task id and the seed alone."""
    digest = hashlib.sha256(f"{seed}:{task_id}".encode()).digest()
    share = int.from_bytes(digest[:4], "big") / 2**32
    profile = "Display P3" if digest[4] & 1 else "sRGB"
    return ServiceMetadata(task_id, profile, share < c2pa_rate)


def encode_result(picture: Image.Image, fmt: str, meta: ServiceMetadata) -> bytes:
    """`picture` as PNG or JPEG ("png"/"jpeg"), with the service's metadata."""
    exif = Image.Exif()
    exif[0x0131] = "Modellix simulator"  # Software
    exif[0x010E] = f"task {meta.task_id}"  # ImageDescription
    buffer = io.BytesIO()
    options: dict[str, object] = {"icc_profile": icc_profile(meta.profile), "exif": exif}
    if fmt == "png":
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", _xmp(meta), zip=False)
        if meta.c2pa:
            info.add(b"caBX", manifest_store(meta.task_id))
        picture.save(buffer, format="PNG", compress_level=1, pnginfo=info, **options)
    else:
        if meta.c2pa:  # APP11: "JP", box instance 1, packet sequence 1, then the box
            segment = b"JP" + struct.pack(">HI", 1, 1) + manifest_store(meta.task_id)
            options["extra"] = b"\xff\xeb" + struct.pack(">H", len(segment) + 2) + segment
        options["xmp"] = _xmp(meta).encode("utf-8")
        picture.save(buffer, format="JPEG", quality=85, **options)
    return buffer.getvalue()


def _xmp(meta: ServiceMetadata) -> str:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" '
        'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/">'
        f"<Iptc4xmpExt:DigitalSourceType>{SOURCE_TYPE}</Iptc4xmpExt:DigitalSourceType>"
        "<xmp:CreatorTool>Modellix simulator</xmp:CreatorTool>"
        '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    )


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _superbox(type_uuid: bytes, label: str, *content: bytes) -> bytes:
    # Description box: type UUID, toggles 0x03 (requestable, labelled), label.
    description = _box(b"jumd", type_uuid + b"\x03" + label.encode() + b"\x00")
    return _box(b"jumb", description + b"".join(content))


def manifest_store(task_id: str) -> bytes:
    """A C2PA-shaped manifest store: the store superbox, one manifest inside."""
    claim = _box(b"json", f'{{"claim_generator":"Modellix simulator","task":"{task_id}"}}'.encode())
    manifest = _superbox(_MANIFEST_UUID, f"urn:c2pa:simulator-{task_id}", claim)
    return _superbox(C2PA_UUID, "c2pa", manifest)


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ \0\0\0\0" + _s15(x) + _s15(y) + _s15(z)


def _desc(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    # textDescriptionType: ASCII, then empty Unicode and ScriptCode parts.
    return b"desc\0\0\0\0" + struct.pack(">I", len(ascii_text)) + ascii_text + bytes(4 + 4 + 3 + 67)


def icc_profile(name: str) -> bytes:
    """A version 2 RGB display profile with `name`'s colorants and the sRGB curve."""
    red, green, blue = _COLORANTS[name]
    curve = b"para\0\0\0\0" + struct.pack(">HH", 3, 0) + b"".join(map(_s15, _SRGB_CURVE))
    tags = [
        (b"desc", _desc(name)),
        (b"cprt", b"text\0\0\0\0" + b"No copyright, use freely\0"),
        (b"wtpt", _xyz(*_D50)),
        (b"rXYZ", _xyz(*red)),
        (b"gXYZ", _xyz(*green)),
        (b"bXYZ", _xyz(*blue)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        padded = data + bytes(-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += padded
    size = offset + len(body)
    header = (
        struct.pack(">I", size)
        + b"\0\0\0\0"
        + bytes([2, 0x10, 0, 0])
        + b"mntrRGB XYZ "
        + struct.pack(">6H", 2026, 1, 1, 0, 0, 0)
        + b"acsp"
        + bytes(4 + 4 + 4 + 4 + 8 + 4)  # platform, flags, maker, model, attributes, intent
        + _s15(_D50[0])
        + _s15(_D50[1])
        + _s15(_D50[2])
        + bytes(4 + 16 + 28)  # creator, profile id, reserved
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body
