"""The storage layer of `export`: files brought to a bucket prefix or a folder.

Against a real S3-compatible server on loopback (moto's server mode), through
obstore as a user's export talks to a bucket; what is in the bucket is read
back with plain HTTP. Versioned buckets count every write.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Collection
from pathlib import Path

import pytest
from s3_server import S3Server

from batchedit.errors import PublishFailed, UsageError
from batchedit.report.publish.bucket import BucketDestination
from batchedit.report.publish.destination import (
    SHA256_METADATA,
    Destination,
    DestinationChanged,
    Found,
    Upload,
)
from batchedit.report.publish.folder import FolderDestination
from batchedit.report.publish.ledger import LEDGER
from batchedit.report.publish.sync import Feed, Synced, SyncOptions, sync
from batchedit.report.publish.targets import open_destination


def make_files(folder: Path, count: int, *, salt: str = "") -> list[Upload]:
    uploads = []
    for index in range(count):
        path = folder / f"src-{index}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = f"picture {index}{salt}".encode() * 50
        path.write_bytes(data)
        name = f"product-{index}/front.png" if index % 2 else f"row-{index}.png"
        sha = hashlib.sha256(data).hexdigest()
        uploads.append(Upload(name, path, sha, len(data), "image/png"))
    return uploads


def feed(text: str = "id\nrow-0\n") -> Feed:
    return Feed("feed.csv", text.encode(), "text/csv")


def export(
    dest: Destination,
    uploads: list[Upload],
    *,
    force: bool = False,
    prune: bool = False,
    max_in_flight: int = 8,
) -> Synced:
    options = SyncOptions(force=force, prune=prune, max_in_flight=max_in_flight)
    return asyncio.run(sync(dest, uploads, [feed()], options))


def test_an_export_to_a_bucket_writes_each_file_once_with_its_sha256_and_type(
    tmp_path: Path, s3: S3Server, bucket: str
) -> None:
    uploads = make_files(tmp_path / "run", 5)
    dest = open_destination(f"s3://{bucket}/catalog/v1")

    first = export(dest, uploads)
    assert (first.files, first.written, first.removed) == (5, 5, 0)
    keys = s3.keys(bucket)
    assert keys == sorted(
        [f"catalog/v1/{u.name}" for u in uploads] + ["catalog/v1/feed.csv", f"catalog/v1/{LEDGER}"]
    )
    for upload in uploads:
        key = f"catalog/v1/{upload.name}"
        assert s3.get(bucket, key) == upload.source.read_bytes()
        headers = s3.headers(bucket, key)
        assert headers[f"x-amz-meta-{SHA256_METADATA}"] == upload.sha256
        assert headers["content-type"] == "image/png"
    assert s3.headers(bucket, "catalog/v1/feed.csv")["content-type"] == "text/csv"
    writes = s3.writes(bucket)

    # The same choices again: not one object written, the ledger included.
    second = export(open_destination(f"s3://{bucket}/catalog/v1"), uploads)
    assert (second.written, second.removed) == (0, 0)
    assert s3.writes(bucket) == writes


def test_someone_elses_object_is_named_and_left_alone_unless_forced(
    tmp_path: Path, s3: S3Server, bucket: str
) -> None:
    uploads = make_files(tmp_path / "run", 3)
    s3.put(bucket, f"shop/{uploads[1].name}", b"the shop's own picture")
    s3.put(bucket, "shop/banner.png", b"not ours, not chosen")
    dest = open_destination(f"s3://{bucket}/shop")

    with pytest.raises(UsageError) as refused:
        export(dest, uploads)
    assert f"s3://{bucket}/shop/{uploads[1].name}" in str(refused.value)
    assert "--force" in str(refused.value)
    assert s3.keys(bucket) == sorted(["shop/banner.png", f"shop/{uploads[1].name}"])
    assert s3.get(bucket, f"shop/{uploads[1].name}") == b"the shop's own picture"

    done = export(dest, uploads, force=True)
    assert (done.written, done.replaced) == (3, 1)
    assert s3.get(bucket, f"shop/{uploads[1].name}") == uploads[1].source.read_bytes()
    assert s3.get(bucket, "shop/banner.png") == b"not ours, not chosen"
    # Replaced once, it is the export's own from now on.
    assert export(dest, uploads).written == 0


def test_an_object_of_ours_changed_by_someone_is_theirs_now(
    tmp_path: Path, s3: S3Server, bucket: str
) -> None:
    uploads = make_files(tmp_path / "run", 2)
    dest = open_destination(f"s3://{bucket}/p")
    export(dest, uploads)
    s3.put(bucket, f"p/{uploads[0].name}", b"retouched by hand")
    with pytest.raises(UsageError, match="did not write"):
        export(dest, make_files(tmp_path / "run2", 2, salt="new"))
    assert s3.get(bucket, f"p/{uploads[0].name}") == b"retouched by hand"


def test_files_no_longer_chosen_go_only_with_prune(
    tmp_path: Path, s3: S3Server, bucket: str
) -> None:
    uploads = make_files(tmp_path / "run", 4)
    dest = open_destination(f"s3://{bucket}/p")
    export(dest, uploads)

    kept = export(dest, uploads[:2])
    assert (kept.left, kept.removed) == (2, 0)
    assert f"p/{uploads[3].name}" in s3.keys(bucket)

    pruned = export(dest, uploads[:2], prune=True)
    assert (pruned.left, pruned.removed) == (0, 2)
    assert s3.keys(bucket) == sorted(
        [f"p/{u.name}" for u in uploads[:2]] + ["p/feed.csv", f"p/{LEDGER}"]
    )
    ledger = json.loads(s3.get(bucket, f"p/{LEDGER}"))
    assert sorted(ledger["files"]) == sorted([u.name for u in uploads[:2]] + ["feed.csv"])


def test_a_changed_choice_replaces_only_our_own_version(
    tmp_path: Path, s3: S3Server, bucket: str
) -> None:
    old = make_files(tmp_path / "run", 3)
    dest = open_destination(f"s3://{bucket}/p")
    export(dest, old)
    new = make_files(tmp_path / "run2", 3, salt="v2")
    assert export(dest, new).written == 3
    for upload in new:
        assert s3.get(bucket, f"p/{upload.name}") == upload.source.read_bytes()
    assert all(s3.writes(bucket)[f"p/{u.name}"] == 2 for u in new)


class Stopping:
    """A destination whose connection is lost after `after` uploads."""

    def __init__(self, inner: Destination, after: int) -> None:
        self.inner = inner
        self.after = after
        self.puts = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def put_file(self, upload: Upload, *, over: Found | None) -> str | None:
        if self.puts >= self.after:
            raise PublishFailed("the connection was lost")
        self.puts += 1
        return await self.inner.put_file(upload, over=over)


def test_a_stopped_export_resumes_without_writing_anything_twice(
    tmp_path: Path, s3: S3Server, bucket: str
) -> None:
    uploads = make_files(tmp_path / "run", 6)
    dest = open_destination(f"s3://{bucket}/p")
    with pytest.raises(PublishFailed):
        export(Stopping(dest, after=3), uploads, max_in_flight=1)  # type: ignore[arg-type]
    assert len([k for k in s3.keys(bucket) if k.endswith(".png")]) == 3
    assert "p/feed.csv" not in s3.keys(bucket)  # feeds come last: never ahead of the pictures
    pending = json.loads(s3.get(bucket, f"p/{LEDGER}"))["pending"]
    assert sorted(pending) == sorted([u.name for u in uploads] + ["feed.csv"])

    resumed = export(dest, uploads)
    assert resumed.written == 3
    assert all(s3.writes(bucket)[f"p/{u.name}"] == 1 for u in uploads)
    assert json.loads(s3.get(bucket, f"p/{LEDGER}"))["pending"] == {}


class Spy:
    """A destination that records the most uploads it saw at once."""

    def __init__(self, inner: Destination) -> None:
        self.inner = inner
        self.now = self.peak = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def put_file(self, upload: Upload, *, over: Found | None) -> str | None:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            await asyncio.sleep(0.005)
            return await self.inner.put_file(upload, over=over)
        finally:
            self.now -= 1


def test_uploads_run_concurrently_within_the_bound(
    tmp_path: Path, s3: S3Server, bucket: str
) -> None:
    spy = Spy(open_destination(f"s3://{bucket}/p"))
    export(spy, make_files(tmp_path / "run", 12), max_in_flight=3)  # type: ignore[arg-type]
    assert spy.peak == 3


class Racing:
    """Someone else writes at a name between the export's look and its write."""

    def __init__(self, inner: Destination, write: Callable[[str], None]) -> None:
        self.inner = inner
        self.write = write

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def found(self, names: Collection[str]) -> dict[str, Found]:
        seen = await self.inner.found(names)
        for name in names:
            if name.endswith(".png"):
                self.write(name)
                break
        return seen


def test_a_name_written_by_someone_after_the_look_is_not_overwritten(
    tmp_path: Path, s3: S3Server, bucket: str
) -> None:
    uploads = make_files(tmp_path / "run", 2)
    racing = Racing(
        open_destination(f"s3://{bucket}/p"), lambda n: s3.put(bucket, f"p/{n}", b"theirs")
    )
    with pytest.raises(DestinationChanged, match="someone else"):
        export(racing, uploads, max_in_flight=1)  # type: ignore[arg-type]
    assert s3.get(bucket, f"p/{uploads[0].name}") == b"theirs"


def test_a_result_changed_since_the_run_is_not_published(
    tmp_path: Path, s3: S3Server, bucket: str
) -> None:
    uploads = make_files(tmp_path / "run", 2)
    uploads[1].source.write_bytes(b"edited after the run")
    with pytest.raises(UsageError, match="changed since the run"):
        export(open_destination(f"s3://{bucket}/p"), uploads, max_in_flight=1)
    assert f"p/{uploads[1].name}" not in s3.keys(bucket)


def test_credentials_and_endpoint_come_from_the_standard_variables(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    bucket = s3.new_bucket()
    monkeypatch.delenv("AWS_ALLOW_HTTP")
    with pytest.raises(UsageError, match="AWS_ALLOW_HTTP=true"):
        open_destination(f"s3://{bucket}/p")
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    export(open_destination(f"s3://{bucket}/p"), make_files(tmp_path, 1))
    assert s3.keys(bucket) != []


def test_targets_are_a_folder_or_a_store_url(tmp_path: Path) -> None:
    assert isinstance(open_destination(tmp_path / "shop"), FolderDestination)
    assert isinstance(open_destination("s3://bucket/prefix"), BucketDestination)
    for bad in ("ftp://host/x", "s3://", "http://cdn.example.com/x"):
        with pytest.raises(UsageError):
            open_destination(bad)
    with pytest.raises(UsageError, match="--link"):
        open_destination("s3://bucket/p", link=True)


def test_a_folder_export_follows_the_same_rules(tmp_path: Path) -> None:
    uploads = make_files(tmp_path / "run", 4)
    shop = tmp_path / "shop"
    (shop / "product-1").mkdir(parents=True)
    (shop / "product-1" / "front.png").write_bytes(b"the shop's own")
    dest = FolderDestination(shop)
    with pytest.raises(UsageError, match="front.png"):
        export(dest, uploads)
    assert sorted(p.name for p in shop.rglob("*")) == ["front.png", "product-1"]

    assert export(dest, uploads, force=True).written == 4
    assert export(dest, uploads).written == 0
    assert export(dest, uploads[:1]).left == 3
    assert export(dest, uploads[:1], prune=True).removed == 3
    assert sorted(p.name for p in shop.rglob("*.png")) == [uploads[0].name]
