"""Marketplace-ready outputs, end to end against the simulator: converted
results read back with an independent tool (ExifTool) keep their ICC profile,
EXIF and XMP and carry the AI label; a result holding a C2PA manifest is kept
beside its conversion and the report says so; a signed output validates with
c2pa-python.

ExifTool is Debian's `libimage-exiftool-perl`. Without it these tests skip,
unless BATCHEDIT_REQUIRE_EXIFTOOL=1 (set by .ci/run), where they fail.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import c2pa
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image
from support import FAST_CLI, ThreadedSimulator, read_report, run_cli, write_csv, write_image

from batchedit.cli import main
from batchedit.pipeline.write.c2pa_boxes import has_c2pa

Simulators = Callable[..., ThreadedSimulator]
MODEL = "google/nano-banana-pro-edit"
COMPOSITE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
EXIFTOOL = shutil.which("exiftool")

needs_exiftool = pytest.mark.skipif(
    EXIFTOOL is None and os.environ.get("BATCHEDIT_REQUIRE_EXIFTOOL") != "1",
    reason="exiftool (libimage-exiftool-perl) is not installed",
)


def exiftool(path: Path) -> dict[str, Any]:
    """Every tag ExifTool reads, keyed `GROUP:Tag` (e.g. `XMP-iptcExt:DigitalSourceType`)."""
    assert EXIFTOOL is not None, "exiftool is required (apt-get install libimage-exiftool-perl)"
    out = subprocess.run(
        [EXIFTOOL, "-json", "-G1", "-a", str(path)], check=True, capture_output=True
    ).stdout
    tags: dict[str, Any] = json.loads(out)[0]
    return tags


def icc_bytes(path: Path) -> bytes:
    """The embedded ICC profile, as ExifTool extracts it."""
    assert EXIFTOOL is not None
    return subprocess.run(
        [EXIFTOOL, "-b", "-ICC_Profile", str(path)], check=True, capture_output=True
    ).stdout


def catalog(folder: Path, *, rows: int = 3, resolution: str = "1K", ratio: str = "4:5") -> Path:
    write_image(folder / "photo.png", size=(96, 64), colour="orange")
    records = [
        {
            "id": f"sku-{n}",
            "prompt": f"Put product {n} on a white background",
            "image": "photo.png",
            "aspect_ratio": ratio,
            "resolution": resolution,
        }
        for n in range(rows)
    ]
    return write_csv(folder / "catalog.csv", records)


@needs_exiftool
@pytest.mark.parametrize(
    ("resolution", "fmt", "served", "stored"),
    [
        ("1K", "webp", "png", "image/webp"),  # PNG -> WebP
        ("1K", "jpeg", "png", "image/jpeg"),  # PNG -> JPEG
        ("2K", "webp", "jpg", "image/webp"),  # JPEG -> WebP
    ],
)
def test_converted_outputs_keep_icc_exif_xmp_and_carry_the_label(
    tmp_path: Path,
    threaded_simulator: Simulators,
    resolution: str,
    fmt: str,
    served: str,
    stored: str,
) -> None:
    threaded_simulator(prerendered=False)  # the metadata names each task
    run_dir = tmp_path / "run"
    manifest = catalog(tmp_path, resolution=resolution)
    assert run_cli(manifest, run_dir, "--output-format", fmt, "--keep-original") == 0

    for line in read_report(run_dir):
        (converted,) = line["outputs"]
        original = converted["original"]
        assert original["path"] == f"outputs/{line['id']}.original.{served}", "the service's own"
        assert line["checks"] == []
        tags = exiftool(run_dir / converted["path"])
        assert tags["File:MIMEType"] == stored
        service = exiftool(run_dir / original["path"])
        # The ICC profile: present and byte for byte the service's.
        assert tags["ICC_Profile:ProfileDescription"] in ("sRGB", "Display P3")
        assert tags["ICC_Profile:ProfileDescription"] == service["ICC_Profile:ProfileDescription"]
        assert icc_bytes(run_dir / converted["path"]) == icc_bytes(run_dir / original["path"])
        # EXIF kept: the service's Software and the description naming its task.
        assert tags["IFD0:Software"] == "Modellix simulator"
        assert tags["IFD0:ImageDescription"] == f"task {line['task_id']}"
        # XMP: the service's own properties kept, the label and provenance there.
        assert tags["XMP-xmp:CreatorTool"] == "Modellix simulator"
        assert tags["XMP-iptcExt:DigitalSourceType"] == COMPOSITE
        assert tags["XMP-iptcExt:AISystemUsed"] == MODEL
        assert tags["XMP-batchedit:TaskId"] == line["task_id"]
        assert tags["XMP-batchedit:RunId"]
        assert "XMP-iptcExt:AIPromptInformation" not in tags, "the prompt only when full"
        with (
            Image.open(run_dir / converted["path"]) as image,
            Image.open(run_dir / original["path"]) as service_file,
        ):
            assert image.size == service_file.size == (converted["width"], converted["height"])


@needs_exiftool
def test_trained_label_and_full_provenance_are_stamped_without_conversion(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    threaded_simulator()
    run_dir = tmp_path / "run"
    manifest = catalog(tmp_path, rows=2)
    assert run_cli(manifest, run_dir, "--ai-label", "trained", "--provenance", "full") == 0
    for line in read_report(run_dir):
        (output,) = line["outputs"]
        tags = exiftool(run_dir / output["path"])
        assert tags["XMP-iptcExt:DigitalSourceType"].endswith("/trainedAlgorithmicMedia")
        assert tags["XMP-iptcExt:AIPromptInformation"] == line["prompt"]
        assert tags["IFD0:Software"] == "Modellix simulator"
        assert tags["ICC_Profile:ProfileDescription"] in ("sRGB", "Display P3")


def test_a_result_with_a_c2pa_manifest_is_kept_beside_its_conversion(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    threaded_simulator(c2pa_rate=1.0)
    run_dir = tmp_path / "run"
    assert run_cli(catalog(tmp_path), run_dir, "--output-format", "webp") == 0

    for line in read_report(run_dir):
        (converted,) = line["outputs"]
        original = converted["original"]
        assert converted["path"] == f"outputs/{line['id']}.webp" and not converted["c2pa"]
        assert original["path"] == f"outputs/{line['id']}.original.png" and original["c2pa"]
        assert has_c2pa((run_dir / original["path"]).read_bytes())
        assert not has_c2pa((run_dir / converted["path"]).read_bytes())


def test_unconverted_results_with_a_manifest_keep_the_untouched_original(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator(c2pa_rate=1.0)
    run_dir = tmp_path / "run"
    assert run_cli(catalog(tmp_path, rows=2), run_dir) == 0
    for line in read_report(run_dir):
        (labelled,) = line["outputs"]
        original = labelled["original"]
        assert labelled["path"] == f"outputs/{line['id']}.png" and not labelled["c2pa"]
        assert original["path"] == f"outputs/{line['id']}.original.png" and original["c2pa"]
        # The label would break the manifest's binding: the labelled copy has none.
        assert not has_c2pa((run_dir / labelled["path"]).read_bytes())
        assert has_c2pa((run_dir / original["path"]).read_bytes())
    assert simulator.stats()["downloads"] == 2


def test_c2pa_drop_keeps_only_the_conversion(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    threaded_simulator(c2pa_rate=1.0)
    run_dir = tmp_path / "run"
    assert run_cli(catalog(tmp_path), run_dir, "--output-format", "webp", "--c2pa", "drop") == 0
    for line in read_report(run_dir):
        assert [output["path"] for output in line["outputs"]] == [f"outputs/{line['id']}.webp"]
    assert sorted(p.suffix for p in (run_dir / "outputs").iterdir()) == [".webp"] * 3


def make_signing_chain(folder: Path) -> tuple[Path, Path]:
    """A throwaway ES256 chain (a CA and a leaf it signs) and the leaf's key, as PEM."""
    now = datetime.datetime.now(datetime.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, common),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "batchedit tests"),
            ]
        )

    def usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
        return x509.KeyUsage(
            digital_signature=sign,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=ca,
            crl_sign=ca,
            encipher_only=False,
            decipher_only=False,
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("batchedit test CA"))
        .issuer_name(name("batchedit test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage(sign=False, ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name("batchedit test signer"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(sign=True, ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert = folder / "signer-chain.pem"
    cert.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, ca)))
    key_file = folder / "signer-key.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key_file


def test_a_signed_output_validates_with_c2pa_python(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    threaded_simulator(c2pa_rate=1.0)
    keys = tmp_path / "keys"
    keys.mkdir()
    make_signing_chain(keys)
    manifest = catalog(tmp_path, rows=2)
    job = tmp_path / "job.yaml"
    job.write_text(
        "manifest: catalog.csv\noutput_dir: run\noutput:\n  format: webp\n"
        "  c2pa_sign: {cert: keys/signer-chain.pem, key: keys/signer-key.pem}\n"
    )
    assert main(["run", str(job), *FAST_CLI]) == 0
    assert manifest.is_file()

    for line in read_report(tmp_path / "run"):
        (signed,) = line["outputs"]
        original = signed["original"]
        assert signed["c2pa"] and original["c2pa"]
        data = (tmp_path / "run" / signed["path"]).read_bytes()
        assert has_c2pa(data)
        with c2pa.Reader("image/webp", io.BytesIO(data)) as reader:
            assert reader.get_validation_state() == "Valid"  # signature and hashes hold
            store = json.loads(reader.json())
        failures = {status["code"] for status in store.get("validation_status") or ()}
        assert failures <= {"signingCredential.untrusted"}, "only: our test CA is not trusted"
        active = store["manifests"][store["active_manifest"]]
        (ingredient,) = active["ingredients"]
        assert ingredient["relationship"] == "parentOf"
        assert ingredient["title"] == "service result.png"
        assert active["title"] == f"{line['task_id']}.webp"


def test_a_signing_key_that_does_not_fit_fails_rows_as_download_errors(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    threaded_simulator()
    cert, _ = make_signing_chain(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _, wrong_key = make_signing_chain(other)
    manifest = catalog(tmp_path, rows=1)
    assert (
        run_cli(manifest, tmp_path / "run", "--c2pa-cert", str(cert), "--c2pa-key", str(wrong_key))
        == 1
    )
    (line,) = read_report(tmp_path / "run")
    assert line["status"] == "failed"
    assert line["error"]["category"] == "download"
    assert "c2pa_sign" in line["error"]["message"]
