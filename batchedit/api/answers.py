"""How HTTP error answers map onto the exception tree (modellix-api.md's table),
and when the service says to come back. Used only by the API client."""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from batchedit.errors import ApiError, FatalApiError, RequestRejected, TransientError
from batchedit.records import ErrorCategory

#: X-RateLimit-Reset values below this are a delay in seconds, above it an epoch time.
_EPOCH_THRESHOLD = 1_000_000_000


def classify_error_status(status: int, message: str) -> ApiError | FatalApiError:
    """The error for a non-200, non-429 answer of a free (or already safe) request."""
    if status == 401:
        return FatalApiError(
            f"{message}. The API key was refused: check MODELLIX_API_KEY, "
            "then run the same command again to continue",
            http_status=401,
            category=ErrorCategory.AUTH,
        )
    if status == 402:
        return FatalApiError(
            f"{message}. The balance is exhausted: top up the balance, "
            "then run the same command again to continue",
            http_status=402,
            category=ErrorCategory.PAYMENT,
        )
    if status == 404:
        return RequestRejected(message, http_status=404, category=ErrorCategory.NOT_FOUND)
    if status >= 500:
        return TransientError(message, http_status=status, category=ErrorCategory.SERVER)
    return RequestRejected(message, http_status=status, category=ErrorCategory.INVALID_REQUEST)


def retry_after_s(headers: Mapping[str, str], now_epoch_s: float) -> float | None:
    """Seconds the service asks us to wait, from `X-RateLimit-Reset` (preferred:
    it can be finer than whole seconds) or `Retry-After` (seconds or an HTTP date)."""
    reset = _parse_float(headers.get("X-RateLimit-Reset"))
    if reset is not None:
        return max(0.0, reset - now_epoch_s if reset >= _EPOCH_THRESHOLD else reset)
    value = headers.get("Retry-After")
    if value is None:
        return None
    seconds = _parse_float(value)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now_epoch_s)


def _parse_float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if number == number and number not in (float("inf"), float("-inf")) else None
