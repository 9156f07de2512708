"""A real S3-compatible server on loopback for the export tests: moto's server mode,
in a process of its own.

batchedit talks to it through obstore over HTTP, configured by the standard
AWS variables, as a user's export talks to a bucket; the tests look at the
bucket through plain HTTP requests of their own (moto checks no signature),
so what they see does not depend on the code under test. Buckets are
versioned: every write makes a version, so "a second export writes no
object" is counted, not guessed.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_VERSIONING = (
    b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    b"<Status>Enabled</Status></VersioningConfiguration>"
)
_AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, "
    "SignedHeaders=host, Signature=0"
)


@dataclass
class S3Server:
    endpoint: str  # http://127.0.0.1:PORT

    def env(self) -> dict[str, str]:
        """The variables a user sets for an S3-compatible endpoint over plain http."""
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
        }

    def new_bucket(self) -> str:
        """A fresh, versioned bucket."""
        name = f"shop-{uuid.uuid4().hex[:16]}"
        self._request("PUT", f"/{name}")
        self._request("PUT", f"/{name}?versioning", _VERSIONING)
        return name

    def put(self, bucket: str, key: str, body: bytes) -> None:
        """An object of someone else's (no batchedit metadata)."""
        self._request("PUT", f"/{bucket}/{key}", body)

    def get(self, bucket: str, key: str) -> bytes:
        return self._request("GET", f"/{bucket}/{key}")[0]

    def headers(self, bucket: str, key: str) -> dict[str, str]:
        return {k.lower(): v for k, v in self._request("HEAD", f"/{bucket}/{key}")[1].items()}

    def keys(self, bucket: str) -> list[str]:
        """The bucket's current objects."""
        root = ET.fromstring(self._request("GET", f"/{bucket}?list-type=2&max-keys=1000")[0])
        return sorted(node.text or "" for node in root.iter(f"{_NS}Key"))

    def writes(self, bucket: str) -> Counter[str]:
        """Versions written per key, delete markers not counted."""
        root = ET.fromstring(self._request("GET", f"/{bucket}?versions")[0])
        return Counter(
            version.findtext(f"{_NS}Key") or "" for version in root.iter(f"{_NS}Version")
        )

    def _request(
        self, method: str, path: str, body: bytes | None = None
    ) -> tuple[bytes, dict[str, str]]:
        # moto checks no signature, but reads an anonymous request as anonymous
        # (refused for private objects); a body without a type goes out as a
        # form, which moto does not route.
        headers = {"Authorization": _AUTHORIZATION}
        if body is not None:
            headers["Content-Type"] = "application/octet-stream"
        request = urllib.request.Request(
            self.endpoint + path, data=body, method=method, headers=headers
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read(), dict(response.headers)


#: Serves moto's S3 in a process of its own (moto, Flask and botocore stay out of
#: the test process, whose size forked children inherit), on a port the kernel
#: picks; prints host:port once ready, stops when its stdin closes.
_SERVE = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print("%s:%d" % server.get_host_and_port(), flush=True)
sys.stdin.read()
server.stop()
"""


@contextmanager
def s3_server() -> Iterator[S3Server]:
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        address = process.stdout.readline().strip()  # blocks until it listens
        if not address:
            raise RuntimeError("moto's S3 server did not start (is moto[server] installed?)")
        yield S3Server(f"http://{address}")
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
