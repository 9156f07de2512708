"""Where the API is and which key to use, from the official CLI's variables
and profile file (see credentials.py for the key's sources, in order).

Plain http is allowed only for a loopback origin (the simulator); anything
else must be https, so a key is never sent in clear over a network.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from batchedit.api.credentials import config_path, find_api_key
from batchedit.errors import UsageError

DEFAULT_BASE_URL = "https://api.modellix.ai"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An API origin and its key; `repr` never shows the key."""

    base_url: str
    api_key: str = field(repr=False)


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname
    return host is not None and host in LOOPBACK_HOSTS


def check_base_url(base_url: str) -> str:
    """The origin without a trailing slash, refused unless https or loopback http."""
    parts = urlsplit(base_url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise UsageError(f"MODELLIX_BASE_URL must be an http(s) origin, got {base_url!r}")
    if parts.scheme == "http" and not is_loopback_url(base_url):
        raise UsageError(
            f"MODELLIX_BASE_URL {base_url!r} is plain http on a non-loopback host; "
            "use https (plain http is allowed only for localhost, 127.0.0.1 or ::1)"
        )
    return base_url.rstrip("/")


def endpoint_from_env(
    env: Mapping[str, str] | None = None,
    *,
    key_file: Path | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
) -> Endpoint:
    """The endpoint a real run uses: `base_url` and `api_key` when given (the
    Python API), else the environment's; a missing key is a usage error that
    says where it was looked for."""
    env = os.environ if env is None else env
    origin = check_base_url(base_url or env.get("MODELLIX_BASE_URL") or DEFAULT_BASE_URL)
    if api_key is not None and api_key.strip():
        return Endpoint(origin, api_key.strip())
    found = find_api_key(env, key_file=key_file)
    if found is None:
        raise UsageError(
            "no API key: set MODELLIX_API_KEY, give --api-key-file FILE, or log in with the "
            f"official CLI ({config_path(env)}); or use --simulate to try the job against "
            "the built-in simulator for free"
        )
    return Endpoint(origin, found.key)
