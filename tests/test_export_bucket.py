"""`batchedit export --to s3://...`: a reviewed run published to a bucket with its feeds.

The sample Shopify export (jobs/shopify) is run against the simulator,
reviewed, and exported to a real S3-compatible server on loopback (moto),
configured by the standard AWS variables; the bucket is read back over
plain HTTP, and its versions count every write.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from s3_server import S3Server
from support import (
    FAST_CLI,
    ThreadedSimulator,
    candidates_manifest,
    read_report,
    write_csv,
    write_image,
)

from batchedit.cli import main
from batchedit.report.publish.destination import SHA256_METADATA
from batchedit.report.publish.ledger import LEDGER
from batchedit.state.lock import run_lock
from batchedit.state.rundir import RunPaths

CDN = "https://cdn.example.com/shop"
SHOPIFY = Path(__file__).resolve().parent.parent / "jobs" / "shopify"
APPROVED = ("MUG-ENM-RED", "MUG-ENM-TEA", "HAT-MER-CRM", "LMP-ARC-BRS")
REJECTED = ("HAT-MER-FOR", "TOTE-CNV-L")


@pytest.fixture
def reviewed(tmp_path: Path, threaded_simulator: Callable[..., ThreadedSimulator]) -> Path:
    """The Shopify sample, run and reviewed: four rows approved, two rejected."""
    threaded_simulator()
    job = tmp_path / "shopify"
    shutil.copytree(SHOPIFY, job)
    run = tmp_path / "run"
    assert main(["run", str(job / "job.yaml"), "--out", str(run), *FAST_CLI]) == 0
    sheet = write_csv(
        tmp_path / "decided.csv",
        [{"id": i, "decision": "approved"} for i in APPROVED]
        + [{"id": i, "decision": "rejected"} for i in REJECTED],
    )
    assert main(["decisions", str(run), "--import", str(sheet)]) == 0
    return run


def rows(data: bytes, delimiter: str = ",") -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8")), delimiter=delimiter))


#: The run is the simulator's: published anyway, as a dry run of the real thing.
EXPORT = ["--allow-simulated", "--only", "approved", "--public-base-url", CDN, "--feed", "merchant"]


def test_approved_results_published_to_a_bucket_with_feed_merchant_and_shopify_files(
    reviewed: Path, s3: S3Server, bucket: str
) -> None:
    dest = f"s3://{bucket}/shop"
    args = ["export", str(reviewed), "--to", dest, *EXPORT, "--feed", "shopify"]
    assert main(args) == 0

    report = {line["id"]: line for line in read_report(reviewed)}
    published = {
        row_id: report[row_id]["outputs"][0]["path"].removeprefix("outputs/") for row_id in APPROVED
    }
    feeds = ["feed.csv", "merchant-center-images.tsv", "shopify-images.csv", LEDGER]
    assert s3.keys(bucket) == sorted(f"shop/{name}" for name in [*published.values(), *feeds])
    for row_id, name in published.items():
        assert name == f"{report[row_id]['fields']['Handle']}/{row_id}.webp"
        assert s3.get(bucket, f"shop/{name}") == (reviewed / "outputs" / name).read_bytes()
        headers = s3.headers(bucket, f"shop/{name}")
        assert headers["content-type"] == "image/webp"
        assert headers[f"x-amz-meta-{SHA256_METADATA}"] == report[row_id]["outputs"][0]["sha256"]

    feed = rows(s3.get(bucket, "shop/feed.csv"))
    assert [row["id"] for row in feed] == list(APPROVED)
    assert all(row["image_link"] == f"{CDN}/{row['file']}" for row in feed)

    merchant = rows(s3.get(bucket, "shop/merchant-center-images.tsv"), delimiter="\t")
    assert [list(row) for row in merchant][0] == ["id", "image_link"]  # one image a row
    assert {row["id"]: row["image_link"] for row in merchant} == {
        row_id: f"{CDN}/{name}" for row_id, name in published.items()
    }

    shopify = rows(s3.get(bucket, "shop/shopify-images.csv"))
    assert list(shopify[0]) == [
        "Handle",
        "Option1 Name",
        "Option1 Value",
        "Variant SKU",
        "Variant Image",
        "Image Src",
        "Image Position",
        "Image Alt Text",
    ]
    by_sku = {row["Variant SKU"]: row for row in shopify}
    assert [(r["Handle"], r["Image Position"]) for r in shopify] == [
        ("enamel-mug", "1"),
        ("enamel-mug", "2"),
        ("wool-beanie", "1"),
        ("desk-lamp", "1"),
    ]
    lamp = by_sku["LMP-ARC-BRS"]
    assert lamp["Image Src"] == lamp["Variant Image"] == f"{CDN}/desk-lamp/LMP-ARC-BRS.webp"
    assert (lamp["Option1 Name"], lamp["Option1 Value"]) == ("Finish", "Brushed brass")
    assert lamp["Image Alt Text"] == "Brass lamp, lit"  # verbatim: no spreadsheet escaping
    assert by_sku["HAT-MER-CRM"]["Image Alt Text"] == ""

    # The same export again writes not one object.
    writes = s3.writes(bucket)
    assert main(args) == 0
    assert s3.writes(bucket) == writes


def test_someone_elses_object_under_the_prefix_is_left_alone_and_named(
    reviewed: Path, s3: S3Server, bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    s3.put(bucket, "shop/enamel-mug/MUG-ENM-RED.webp", b"the shop's own photo")
    s3.put(bucket, "shop/banner.jpg", b"not chosen, not ours")
    capsys.readouterr()
    args = ["export", str(reviewed), "--to", f"s3://{bucket}/shop", *EXPORT]
    assert main(args) == 2
    said = capsys.readouterr().err
    assert f"s3://{bucket}/shop/enamel-mug/MUG-ENM-RED.webp" in said and "--force" in said
    assert s3.keys(bucket) == ["shop/banner.jpg", "shop/enamel-mug/MUG-ENM-RED.webp"]

    assert main([*args, "--force"]) == 0
    assert s3.get(bucket, "shop/banner.jpg") == b"not chosen, not ours"
    assert s3.get(bucket, "shop/enamel-mug/MUG-ENM-RED.webp") != b"the shop's own photo"


def test_a_withdrawn_approval_leaves_the_feeds_at_once_and_the_bucket_with_prune(
    reviewed: Path, s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    args = ["export", str(reviewed), "--to", f"s3://{bucket}/shop", *EXPORT]
    assert main(args) == 0
    sheet = write_csv(tmp_path / "later.csv", [{"id": "LMP-ARC-BRS", "decision": "rejected"}])
    assert main(["decisions", str(reviewed), "--import", str(sheet)]) == 0

    assert main(args) == 0
    merchant = rows(s3.get(bucket, "shop/merchant-center-images.tsv"), delimiter="\t")
    assert "LMP-ARC-BRS" not in {row["id"] for row in merchant}
    assert "shop/desk-lamp/LMP-ARC-BRS.webp" in s3.keys(bucket)
    assert main([*args, "--prune"]) == 0
    assert "shop/desk-lamp/LMP-ARC-BRS.webp" not in s3.keys(bucket)


def test_several_images_of_a_row_become_additional_image_links(
    tmp_path: Path, threaded_simulator: Callable[..., ThreadedSimulator], s3: S3Server, bucket: str
) -> None:
    threaded_simulator()
    manifest = candidates_manifest(tmp_path, handles=True)
    run = tmp_path / "run"
    assert main(["run", str(manifest), "--out", str(run), *FAST_CLI]) == 0
    sheet = write_csv(tmp_path / "d.csv", [{"id": "duo", "decision": "approved", "choice": "2"}])
    assert main(["decisions", str(run), "--import", str(sheet)]) == 0
    args = ["export", str(run), "--allow-simulated", "--public-base-url", CDN]
    assert main([*args, "--to", f"s3://{bucket}/one"]) == 0  # the chosen candidate only
    names = [Path(o["path"]).name for o in read_report(run)[0]["outputs"]]
    assert f"one/{names[1]}" in s3.keys(bucket) and f"one/{names[0]}" not in s3.keys(bucket)

    args += ["--to", f"s3://{bucket}/p", "--all-candidates"]
    assert main([*args, "--feed", "merchant", "--feed", "shopify"]) == 0
    merchant = rows(s3.get(bucket, "p/merchant-center-images.tsv"), delimiter="\t")
    assert merchant[0] == {  # the chosen first, the rest as additional images
        "id": "duo",
        "image_link": f"{CDN}/{names[1]}",
        "additional_image_link": f"{CDN}/{names[0]}",
    }
    assert merchant[1]["additional_image_link"] == ""
    shopify = rows(s3.get(bucket, "p/shopify-images.csv"))
    assert [(r["Handle"], r["Image Position"], r["Image Src"]) for r in shopify] == [
        ("duo-bag", "1", f"{CDN}/{names[1]}"),
        ("duo-bag", "2", f"{CDN}/{names[0]}"),
        ("solo-bag", "1", shopify[2]["Image Src"]),
    ]
    assert "Variant SKU" not in shopify[0]  # no SKU: the rows are products, not variants


def test_shop_feeds_need_a_public_url_and_shopify_a_handle(
    tmp_path: Path,
    threaded_simulator: Callable[..., ThreadedSimulator],
    capsys: pytest.CaptureFixture[str],
) -> None:
    threaded_simulator()
    write_image(tmp_path / "a.png")
    manifest = write_csv(tmp_path / "m.csv", [{"id": "r1", "prompt": "p", "image": "a.png"}])
    run = tmp_path / "run"
    assert main(["run", str(manifest), "--out", str(run), *FAST_CLI]) == 0
    shop = tmp_path / "shop"
    args = ["export", str(run), "--allow-simulated", "--to", str(shop)]
    assert main([*args, "--feed", "merchant"]) == 2
    assert "--public-base-url" in capsys.readouterr().err
    args += ["--public-base-url", CDN]
    assert main([*args, "--feed", "shopify"]) == 2
    assert "columns: {handle: COLUMN}" in capsys.readouterr().err
    assert not shop.exists(), "refused before anything was written"
    assert main([*args, "--feed", "merchant"]) == 0
    assert (shop / "merchant-center-images.tsv").read_text().splitlines() == [
        "id\timage_link",
        f"r1\t{CDN}/r1.png",
    ]


def test_export_waits_for_no_run(reviewed: Path, bucket: str) -> None:
    with run_lock(RunPaths(reviewed)):
        args = ["export", str(reviewed), "--allow-simulated", "--to", f"s3://{bucket}/p"]
        assert main(args) == 2


def test_a_bucket_that_does_not_exist_is_named(
    reviewed: Path,
    s3: S3Server,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    args = ["export", str(reviewed), "--allow-simulated", "--to", "s3://no-such-bucket/p"]
    assert main(args) == 2
    assert "s3://no-such-bucket/p: no such bucket" in capsys.readouterr().err
