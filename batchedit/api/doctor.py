"""`batchedit doctor`: is everything in place for a paid run? Checked one by
one, each with a line that says what was found and how to fix what was not.

    API key       found, and from where (never the key, nor any part of it)
    API origin    which one, from where, and that it is https or loopback http
    reachable     the origin answers HTTP at all
    key valid     GET /api/v1/apikey/validate takes the key
    balance       GET /api/v1/team/balance, and that it is above zero

Nothing here is paid for. Later checks that cannot mean anything after a
failure (a balance without a valid key) are skipped, and say so. A service
that answers 5xx cannot say whether the key is valid: that check is `????`
(unknown), not FAIL. A malformed origin or key is a configuration error
(`usage`): the command exits 2, as `run` would.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import aiohttp

from batchedit.api.client import ModellixClient, RetryPolicy
from batchedit.api.credentials import config_path, find_api_key
from batchedit.api.endpoint import DEFAULT_BASE_URL, Endpoint, check_base_url
from batchedit.clock import LoopClock
from batchedit.errors import ApiError, FatalApiError, TransientError, UsageError
from batchedit.records import ErrorCategory

KEY_VARIABLE = "MODELLIX_API_KEY"
ORIGIN_VARIABLE = "MODELLIX_BASE_URL"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool | None  # None: skipped, because an earlier check failed (or unknown)
    detail: str
    usage: bool = False  # a configuration error: the command exits 2
    unknown: bool = False  # the service could not say (5xx): neither ok nor FAIL

    def to_json(self) -> dict[str, object]:
        # `unknown`: the service could not say (5xx); `ok` is then null, as for a skip.
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "unknown": self.unknown}

    def line(self) -> str:
        mark = "????" if self.unknown else {True: "ok  ", False: "FAIL", None: "skip"}[self.ok]
        return f"{mark}  {self.name:<11} {self.detail}"


async def diagnose(
    env: Mapping[str, str], *, timeout_s: float = 10.0, key_file: Path | None = None
) -> list[Check]:
    """Every check, in order; the caller prints them and picks the exit code."""
    try:
        found = find_api_key(env, key_file=key_file)
    except UsageError as exc:
        # Unreadable, or malformed (too short, a control character): never sent.
        found, checks = None, [Check("API key", False, str(exc), usage=True)]
    else:
        checks = [
            Check("API key", True, f"found in {found.source}")
            if found is not None
            else Check(
                "API key",
                False,
                f"not found: set {KEY_VARIABLE}, give --api-key-file FILE, or log in with "
                f"the official CLI ({config_path(env)})",
            )
        ]
    key = "" if found is None else found.key
    given = env.get(ORIGIN_VARIABLE, "").strip()
    try:
        base_url = check_base_url(given or DEFAULT_BASE_URL)
    except UsageError as exc:
        return [*checks, Check("API origin", False, str(exc), usage=True)]
    where = f"from {ORIGIN_VARIABLE}" if given else f"the default; set {ORIGIN_VARIABLE} to change"
    checks.append(Check("API origin", True, f"{base_url} ({where})"))
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        client = ModellixClient(
            session, Endpoint(base_url, key), LoopClock(), retry=RetryPolicy(max_retries=0)
        )
        checks.extend(await _ask_service(client, has_key=bool(key)))
    return checks


async def _ask_service(client: ModellixClient, *, has_key: bool) -> list[Check]:
    origin = client.endpoint.base_url
    try:
        valid = await client.validate_key()
    except TransientError as exc:
        if exc.category is ErrorCategory.NETWORK:
            return [Check("reachable", False, f"{origin}: {exc}"), *_skipped("key valid")]
        unknown = f"unknown: server error ({exc}); try again later"
        return [
            Check("reachable", True, origin),
            Check("key valid", None, unknown, unknown=True),
            *_skipped("balance"),
        ]
    except FatalApiError as exc:
        reachable = Check("reachable", True, f"{origin} answers")
        if not has_key:
            return [reachable, *_skipped("key valid")]
        return [reachable, Check("key valid", False, _refused(exc))]
    except ApiError as exc:
        return [Check("reachable", True, origin), Check("key valid", False, str(exc))]
    reachable = Check("reachable", True, f"{origin} answers")
    if not valid:
        return [reachable, Check("key valid", False, "the service says this key is not valid")]
    return [
        reachable,
        Check("key valid", True, "the service takes this key"),
        await _balance(client),
    ]


def _skipped(after: str) -> list[Check]:
    names = ["key valid", "balance"]
    return [Check(name, None, "skipped") for name in names[names.index(after) :]]


def _refused(exc: FatalApiError) -> str:
    if exc.category is ErrorCategory.PAYMENT:
        return "the key is known but the balance is exhausted (402); top up the team's balance"
    return f"the service refused the key ({exc.http_status}); check {KEY_VARIABLE}"


def balance_text(balance: float) -> str:
    """A balance as money is written: every digit, grouped by thousands, never in
    exponent form (`{:g}` shows the simulator's 1,000,000,000 as `1e+09`)."""
    if balance == int(balance):
        return f"{int(balance):,}"
    return f"{Decimal(repr(balance)):,f}"


async def _balance(client: ModellixClient) -> Check:
    try:
        balance = await client.read_balance()
    except (ApiError, FatalApiError) as exc:
        return Check("balance", False, str(exc))
    shown = balance_text(balance)
    if balance <= 0:
        return Check("balance", False, f"{shown}: paid edits will be refused (402) until topped up")
    return Check("balance", True, shown)
