"""Who the review server answers: whoever holds the token of this start.

`batchedit review` serves on 127.0.0.1, which every local user (and every
process of theirs) can reach. A decision recorded there is acted on later:
`retry --status rejected` pays for prompts that end in its note, and
`export --only approved` publishes what was approved. So each start draws a
random token (`secrets.token_urlsafe`), prints it in the URL it opens
(`http://127.0.0.1:P/?token=...`, as Jupyter does), and answers nothing
without it: not the page, not a thumbnail, not a decision.

The first visit with `?token=` sets it as a cookie (HttpOnly, SameSite=Strict,
Path=/) and redirects to the clean URL, so the token leaves the address bar
and the history; the page's own requests then carry the cookie. Scripts may
send the token as `?token=` on any request, or as `Authorization: Bearer`.
Tokens are compared with `hmac.compare_digest`, in constant time.

The cookie is named after the port: browsers keep cookies per host, not per
port, and two review servers on one machine must not log each other out.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

from batchedit.errors import UsageError

TOKEN_QUERY = "token"
TOKEN_ENV = "BATCHEDIT_REVIEW_TOKEN"
TOKEN_BYTES = 32  # 43 URL-safe characters
MIN_TOKEN_CHARS = 16
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_\-.~]+")  # unreserved in a URL: no quoting needed
COOKIE_PREFIX = "batchedit-review-"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def checked_token(token: str, *, source: str) -> str:
    """A token given by the user (`--token`, the environment), or a UsageError
    saying what a usable one looks like."""
    if len(token) < MIN_TOKEN_CHARS or not _TOKEN_CHARS.fullmatch(token):
        raise UsageError(
            f"{source}: a review token needs at least {MIN_TOKEN_CHARS} characters of "
            "A-Z a-z 0-9 - _ . ~ (leave it out to get a random one)"
        )
    return token


@dataclass(frozen=True, slots=True)
class Owner:
    """The holder of this start's token."""

    token: str

    def holds(self, given: str | None) -> bool:
        if not given:
            return False
        return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), self.token.encode())

    def url(self, base: str) -> str:
        """The URL to open: the page, with the token to set as a cookie."""
        return f"{base}?{TOKEN_QUERY}={self.token}"


def cookie_name(request: web.Request) -> str:
    """`batchedit-review-PORT`: the port this server listens on."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    port = sockname[1] if isinstance(sockname, tuple) and len(sockname) >= 2 else 0
    return f"{COOKIE_PREFIX}{port}"


def owner_only(owner: Owner) -> Middleware:
    """The middleware: 401 without the token; the first visit's token becomes a cookie."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        name = cookie_name(request)
        if owner.holds(request.query.get(TOKEN_QUERY)):
            if request.method == "GET" and request.path == "/":
                # The page: keep the token in a cookie, out of the address bar.
                found = web.HTTPSeeOther(location="/")
                found.set_cookie(name, owner.token, path="/", httponly=True, samesite="Strict")
                found.headers["Cache-Control"] = "no-store"
                raise found
            return await handler(request)
        bearer = request.headers.get("Authorization", "")
        if owner.holds(request.cookies.get(name)) or (
            bearer.startswith("Bearer ") and owner.holds(bearer[len("Bearer ") :])
        ):
            return await handler(request)
        raise web.HTTPUnauthorized(
            text="this review server answers only its owner: open the URL that "
            "`batchedit review` printed (it ends in ?token=...)\n",
            headers={"WWW-Authenticate": 'Bearer realm="batchedit review"'},
        )

    return middleware
