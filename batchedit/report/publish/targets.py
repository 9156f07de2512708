"""`--to DEST`: a local folder, or an object store URL (`s3://`, `gs://`, `az://`)."""

from __future__ import annotations

from pathlib import Path

from batchedit.errors import UsageError
from batchedit.report.publish.bucket import BucketDestination, is_store_url
from batchedit.report.publish.destination import Destination
from batchedit.report.publish.folder import FolderDestination


def open_destination(target: str | Path, *, link: bool = False) -> Destination:
    """The destination `target` names; a URL of another scheme is refused."""
    text = str(target)
    if is_store_url(text):
        if link:
            raise UsageError("--link hard-links into a local folder; it cannot link into a store")
        return BucketDestination.open(text)
    if "://" in text:
        raise UsageError(
            f"--to {text}: a local folder, s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or "
            "az://CONTAINER/PREFIX"
        )
    return FolderDestination(Path(text), link=link)
