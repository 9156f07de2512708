"""Where the API is and which key to use, from the official CLI's variables
and profile file (see credentials.py for the key's sources, in order).

Plain http is allowed only for a loopback origin (the simulator); anything
else must be https, so a key is never sent in clear over a network. The
origin is checked once, at start: a scheme, a host, an optional port and an
optional path, nothing else (credentials in it would clash with the
Authorization header; a `?` or `#` would move every API path into the query).
The key is checked once too (redact.check_api_key) and registered with the
redactor, so no text the run stores or shows can hold it.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from batchedit.api.credentials import checked_key, config_path, find_api_key
from batchedit.errors import UsageError
from batchedit.origins import SIMULATE, Origin, origin_of
from batchedit.redact import add_secret

DEFAULT_BASE_URL = "https://api.modellix.ai"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An API origin and its key; `repr` never shows the key."""

    base_url: str
    api_key: str = field(repr=False)
    #: The simulator `run --simulate` starts: an origin of its own (origins.py).
    in_process_simulator: bool = False

    @property
    def origin(self) -> Origin:
        """Where this endpoint's results come from, as far as is known before
        asking (a simulator behind a base URL says so in its answers)."""
        return SIMULATE if self.in_process_simulator else origin_of(self.base_url)

    def __post_init__(self) -> None:
        # Whoever made the endpoint, no text shown or stored may hold its key.
        add_secret(self.api_key)


def is_loopback_host(host: str | None) -> bool:
    """localhost, or an address of 127.0.0.0/8 or ::1."""
    if host is None:
        return False
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    return is_loopback_host(urlsplit(url).hostname)


def check_base_url(base_url: str) -> str:
    """The origin without a trailing slash, refused unless https or loopback
    http, and unless it is only a scheme, a host, a port and a path."""
    parts = urlsplit(base_url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise UsageError(f"MODELLIX_BASE_URL must be an http(s) origin, got {base_url!r}")
    if parts.username is not None or parts.password is not None:
        raise UsageError(
            "MODELLIX_BASE_URL must not hold a user name or password (user:pw@); "
            "the key goes in MODELLIX_API_KEY"
        )
    if parts.query or parts.fragment or "?" in base_url or "#" in base_url:
        raise UsageError(
            f"MODELLIX_BASE_URL {_shown(base_url)} holds a query (?) or a fragment (#); "
            "give only scheme, host, optional port and path, e.g. https://api.modellix.ai"
        )
    try:
        parts.port  # noqa: B018 (reading it checks it)
    except ValueError as exc:
        raise UsageError(f"MODELLIX_BASE_URL {_shown(base_url)}: {exc}") from exc
    if parts.scheme == "http" and not is_loopback_url(base_url):
        raise UsageError(
            f"MODELLIX_BASE_URL {base_url!r} is plain http on a non-loopback host; "
            "use https (plain http is allowed only for localhost, 127.0.0.1 or ::1)"
        )
    return base_url.rstrip("/")


def _shown(url: str) -> str:
    """A URL for a message, cut short: it came from the environment, not from us."""
    return repr(url if len(url) <= 200 else url[:200] + "...")


def origin_from_env(env: Mapping[str, str] | None = None, *, base_url: str | None = None) -> Origin:
    """The API origin a run would ask (`base_url`, else MODELLIX_BASE_URL, else
    the service's), without needing the key: what `plan` plans against."""
    env = os.environ if env is None else env
    return origin_of(check_base_url(base_url or env.get("MODELLIX_BASE_URL") or DEFAULT_BASE_URL))


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
        return Endpoint(origin, checked_key(api_key.strip(), "api_key"))
    found = find_api_key(env, key_file=key_file)
    if found is None:
        raise UsageError(
            "no API key: set MODELLIX_API_KEY, give --api-key-file FILE, or log in with the "
            f"official CLI ({config_path(env)}); or use --simulate to try the job against "
            "the built-in simulator for free"
        )
    return Endpoint(origin, found.key)
