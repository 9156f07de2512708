"""An object store prefix as a destination: `s3://`, `gs://` or `az://`, through obstore.

obstore (the Python face of Rust's `object_store`) speaks S3, Google Cloud
Storage and Azure Blob Storage with one async API, reads each cloud's own
environment variables for credentials, region and endpoint
(`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`,
`AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`; `GOOGLE_APPLICATION_CREDENTIALS`;
`AZURE_STORAGE_ACCOUNT_NAME`, ...), retries with backoff, and makes writes
conditional: a new name is written with If-None-Match (an object someone
else put there since the listing is not replaced), a name the export owns
with If-Match on the version it saw. batchedit keeps no credentials of its own.

Each object carries the sha256 of its content in its metadata
(`batcheditsha256`: letters and digits only, the one spelling all three
clouds accept), so an export stopped half-way is resumed by looking, not by
uploading again, and is served with the image's Content-Type.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import obstore
from obstore.exceptions import (
    AlreadyExistsError,
    BaseError,
    PermissionDeniedError,
    PreconditionError,
    UnauthenticatedError,
    UnknownConfigurationKeyError,
)
from obstore.store import from_url

from batchedit.errors import PublishFailed, UsageError
from batchedit.redact import scrub
from batchedit.report.publish.destination import (
    SHA256_METADATA,
    DestinationChanged,
    Found,
    Upload,
)
from batchedit.report.publish.folder import changed_since_run
from batchedit.state.fingerprint import sha256_file

if TYPE_CHECKING:
    from obstore import Attributes, PutMode
    from obstore.store import ObjectStore

#: The URL schemes of the stores, and the variables that configure each.
STORE_SCHEMES = {
    "s3": "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL",
    "gs": "GOOGLE_APPLICATION_CREDENTIALS (or GOOGLE_SERVICE_ACCOUNT)",
    "az": "AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY (or a SAS, or Entra ID)",
}
MAX_MESSAGE_CHARS = 300
#: Where the AWS tools read a custom S3 endpoint from, first found wins.
_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT")


def is_store_url(target: str) -> bool:
    scheme, sep, _ = target.partition("://")
    return bool(sep) and scheme.lower() in STORE_SCHEMES


class BucketDestination:
    def __init__(self, url: str, store: ObjectStore) -> None:
        self.url = url.rstrip("/")
        self.store = store
        self.scheme = url.partition("://")[0].lower()

    @classmethod
    def open(cls, url: str, **config: Any) -> BucketDestination:
        """The store behind `url`, configured from the environment (and `config`,
        which tests use for a retry policy)."""
        scheme, _, rest = url.partition("://")
        if scheme.lower() not in STORE_SCHEMES or not rest.strip("/"):
            raise UsageError(f"{url!r}: give s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or az://...")
        _check_plain_http(scheme.lower())
        try:
            store = from_url(url, **config)
        except (UnknownConfigurationKeyError, ValueError, BaseError) as exc:
            raise UsageError(f"{url}: {_said(exc)}") from None
        return cls(url, store)

    @property
    def where(self) -> str:
        return self.url

    def shown(self, name: str) -> str:
        return f"{self.url}/{name}"

    async def found(self, names: Collection[str]) -> dict[str, Found]:
        """One listing of the prefix (a request per 1,000 objects), kept for `names`."""
        wanted = set(names)
        present: dict[str, Found] = {}
        with self._errors(""):
            async for batch in obstore.list(self.store, chunk_size=1000):
                for meta in batch:
                    if meta["path"] in wanted:
                        present[meta["path"]] = Found(meta["size"], meta["e_tag"])
        return present

    async def content_sha256(self, name: str) -> str | None:
        with self._errors(name):
            try:
                head = await obstore.get_async(self.store, name, options={"head": True})
            except FileNotFoundError:
                return None
        return head.attributes.get(SHA256_METADATA)

    async def put_file(self, upload: Upload, *, over: Found | None) -> str | None:
        # Hashed before it leaves, so a result changed since the run is never published.
        if await asyncio.to_thread(sha256_file, upload.source) != upload.sha256:
            raise changed_since_run(upload.source)
        attributes: Attributes = {
            "Content-Type": upload.content_type,
            SHA256_METADATA: upload.sha256,
        }
        with self._errors(upload.name):
            result = await obstore.put_async(
                self.store, upload.name, upload.source, attributes=attributes, mode=_mode(over)
            )
        return result["e_tag"]

    async def put_bytes(
        self, name: str, data: bytes, *, content_type: str, over: Found | None
    ) -> str | None:
        attributes: Attributes = {"Content-Type": content_type}
        with self._errors(name):
            result = await obstore.put_async(
                self.store, name, data, attributes=attributes, mode=_mode(over)
            )
        return result["e_tag"]

    async def read_bytes(self, name: str, *, max_bytes: int) -> bytes | None:
        with self._errors(name):
            try:
                result = await obstore.get_async(self.store, name)
            except FileNotFoundError:
                return None
            if result.meta["size"] > max_bytes:
                raise UsageError(f"{self.shown(name)} is larger than the {max_bytes} expected")
            return bytes(await result.bytes_async())

    async def delete(self, name: str) -> None:
        with self._errors(name):
            try:
                await obstore.delete_async(self.store, name)
            except FileNotFoundError:
                return

    @contextmanager
    def _errors(self, name: str) -> Iterator[None]:
        """The store's errors as the exception tree's: someone else's write
        refused, credentials refused (exit 2), anything else a failed export
        that a second export continues (exit 4)."""
        where = self.shown(name) if name else self.url
        try:
            yield
        except (AlreadyExistsError, PreconditionError):
            raise DestinationChanged(
                f"{where} was written by someone else while exporting; nothing of theirs "
                "was replaced: look at it, then export again (--force replaces it)"
            ) from None
        except (PermissionDeniedError, UnauthenticatedError) as exc:
            raise UsageError(
                f"{where}: the store refused the credentials ({_said(exc)}); "
                f"{self.scheme}:// reads {STORE_SCHEMES[self.scheme]} from the environment"
            ) from None
        except BaseError as exc:
            if "NoSuchBucket" in str(exc):  # S3's documented error code, in the answer's body
                raise UsageError(
                    f"{where}: no such bucket (or none these credentials can see); "
                    "create it, or check the name and AWS_DEFAULT_REGION"
                ) from None
            raise PublishFailed(
                f"{where}: {_said(exc)}; export again to continue where it stopped"
            ) from None


def _check_plain_http(scheme: str) -> None:
    """A plain-http S3 endpoint (a MinIO, a test server) needs AWS_ALLOW_HTTP=true,
    as for every tool on the AWS variables; said here, since the store's own
    refusal comes later and reads "builder error"."""
    if scheme != "s3":
        return
    endpoint = next(
        (os.environ[v] for v in _ENDPOINT_VARIABLES if os.environ.get(v, "").strip()), ""
    )
    allowed = os.environ.get("AWS_ALLOW_HTTP", "").strip().lower() in ("true", "1", "yes")
    if endpoint.lower().startswith("http://") and not allowed:
        raise UsageError(
            f"the S3 endpoint {endpoint} is plain http: set AWS_ALLOW_HTTP=true to use it "
            "(only on a network you trust), or give an https:// endpoint"
        )


def _mode(over: Found | None) -> PutMode:
    """Create when nothing may be there; replace only the version seen otherwise."""
    if over is None:
        return "create"
    if over.tag is None:
        return "overwrite"
    return {"e_tag": over.tag}


def _said(exc: BaseException) -> str:
    """The store's message, first line only, bounded and scrubbed."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return scrub(text, max_chars=MAX_MESSAGE_CHARS)
