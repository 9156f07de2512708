"""The two shapes every simulator answer takes: the success envelope and the error body.

Handlers raise `ApiError` instead of building error responses, so the one
middleware that turns it into `{"code": status, "message": "<Category>: ..."}`
is the only place the error format lives.
"""

from __future__ import annotations

import math
from http import HTTPStatus
from typing import Any

from aiohttp import web


class ApiError(Exception):
    """An error answer: the HTTP status, a detail for the message, extra headers."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


def ok_json(data: Any) -> web.Response:
    return web.json_response({"code": 0, "message": "success", "data": data})


def error_json(status: int, detail: str, headers: dict[str, str] | None = None) -> web.Response:
    message = f"{category(status)}: {detail}"
    return web.json_response({"code": status, "message": message}, status=status, headers=headers)


def category(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def retry_headers(wait_s: float, wall_now: float) -> dict[str, str]:
    """Retry-After in whole seconds (at least 1) and the exact epoch time of the reset."""
    return {
        "Retry-After": str(max(1, math.ceil(wait_s))),
        "X-RateLimit-Reset": f"{wall_now + wait_s:.3f}",
    }
