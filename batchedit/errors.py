"""The one exception tree of batchedit.

    BatcheditError
    ├── UsageError            bad arguments or settings                 -> exit 2
    ├── SourceError           unreadable job file or manifest           -> exit 2
    ├── LocalFailure          the machine failed us (disk, permissions) -> exit 4
    │   ├── JournalWriteFailed  the journal could not be made durable
    │   ├── ReportNotWritten  a run ended but its report could not be written
    │   ├── PublishFailed     an export's destination (an object store) failed it
    │   └── InternalError     any other exception reaching the run's edge (a bug)
    ├── InputError            a row's local image cannot be used: the row fails
    ├── FatalApiError         401, 402: nothing else can succeed        -> exit 3
    └── ApiError              an answer about one request, already classified
        ├── RequestRejected   400, 404: this request fails, never retried
        ├── TransientError    429, 502-504, network: a wait may cure it
        │   ├── RateLimited   429, with the server's advice on when to resume
        │   └── DeadlineExceeded  no whole answer within request_timeout_s
        ├── OutcomeUnknown    a paid submit may or may not have created a task
        ├── ProtocolError     an answer that does not follow the protocol
        ├── AnswerRefused     an answer past a bound or unsafe to use (too large,
        │                     an unsafe task id): never asked again at once
        ├── TaskTimedOut      a task passed its deadline (`task_timeout`) unfinished
        └── DownloadError     a result could not be fetched or is not an image
            └── ResultExpired the result is gone (403, 404, 410)

Only the API client raises ApiError and FatalApiError, translating aiohttp's
exceptions in one place; each carries the report's error category so the
pipeline never reads a status code. Their messages pass the redactor
(redact.py) as they are made: whatever the service echoed, an exception text
holds neither the API key nor a control character. FatalApiError is a sibling of ApiError,
not a kind of it: a fatal condition of the run is not a row's error, and an
`except ApiError` that handles a row can never swallow it. No message ever
holds the API key.
"""

from __future__ import annotations

from batchedit.records import ErrorCategory, RowError
from batchedit.redact import scrub


class BatcheditError(Exception):
    """Base of every error batchedit raises on purpose."""


class UsageError(BatcheditError):
    """The command line or a setting is wrong; the message says how to fix it."""


class SourceError(BatcheditError):
    """A job file or manifest cannot be read at all (not a single bad row)."""

    def __init__(self, file: str, line: int | None, message: str) -> None:
        self.file = file
        self.line = line
        self.detail = message
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {message}")


class InputError(BatcheditError):
    """A row's local input cannot be used (unreadable, not an image, too large);
    that row fails as `invalid_input`, the others go on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_row_error(self) -> RowError:
        return RowError(ErrorCategory.INVALID_INPUT, self.message)


class ApiError(BatcheditError):
    """An API answer classified for the pipeline."""

    category: ErrorCategory = ErrorCategory.SERVER

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        category: ErrorCategory | None = None,
    ) -> None:
        message = scrub(message)
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        if category is not None:
            self.category = category

    def to_row_error(self) -> RowError:
        return RowError(self.category, self.message, self.http_status)


class FatalApiError(BatcheditError):
    """401 or 402: the whole run must stop; unfinished rows stay pending."""

    def __init__(
        self, message: str, *, http_status: int | None = None, category: ErrorCategory
    ) -> None:
        message = scrub(message)
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.category = category


class LocalFailure(BatcheditError):
    """The local machine failed the run (disk full, permissions): exit 4, the
    state saved as far as the disk allows, and a re-run continues."""


class JournalWriteFailed(LocalFailure):
    """A journal write failed: no line of that batch, nor any later one, is
    durable, so nothing more may be submitted in this run."""


class ReportNotWritten(LocalFailure):
    """A run ended (its journal holds what it did) but report.jsonl and
    summary.json could not be written: the Python API raises it where the
    command line exits 4; a re-run writes them."""


class PublishFailed(LocalFailure):
    """The destination of `export` failed it (the network, the store's own
    errors): exit 4; what was written stays, and the next export continues."""


class InternalError(LocalFailure):
    """An exception nothing expected reached the run's edge: a bug. It ends the
    run like a local failure (exit 4, report written); its traceback goes to
    the debug log, its cause in one line to the user."""


class RequestRejected(ApiError):
    """The service refused this request for good (400, 404)."""


class TransientError(ApiError):
    """A refusal or failure that a wait may cure; retried within a budget."""


class RateLimited(TransientError):
    """429; `retry_after_s` is the server's advice, if it gave any."""

    category = ErrorCategory.RATE_LIMITED

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message, http_status=429)
        self.retry_after_s = retry_after_s


class DeadlineExceeded(TransientError):
    """No whole answer within `request_timeout_s`. Not retried by the client at
    once, since every attempt may cost the whole deadline again; a poller asks
    again at its next turn, a download fails its row (a re-run fetches again)."""

    category = ErrorCategory.NETWORK


class AnswerRefused(ApiError):
    """An answer refused at the trust boundary (invariant 10): larger than its
    cap, in an encoding not asked for, or naming a task id unsafe to put into a
    path. Asking again would get the same, so the client never retries it."""


class OutcomeUnknown(ApiError):
    """A paid submit whose answer never arrived: it may have created a task."""

    category = ErrorCategory.UNKNOWN_OUTCOME


class ProtocolError(ApiError):
    """An answer that does not follow the documented protocol."""


class TaskTimedOut(ApiError):
    """A task still running at its deadline; the row keeps its task id."""

    category = ErrorCategory.TIMEOUT


class DownloadError(ApiError):
    """A result could not be downloaded whole, or is not a valid image.

    `retry_may_cure` is False for a body that is not an image at all, or in a
    format refused: fetching it again would bring the same, so it is not.
    `refused` when the picture policy refused the result itself (larger than
    its request can yield, past the metadata bound, not an image): a later
    run does not fetch it again either."""

    category = ErrorCategory.DOWNLOAD
    retry_may_cure = True
    refused = False

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        retry_may_cure: bool = True,
        refused: bool = False,
    ) -> None:
        super().__init__(message, http_status=http_status)
        self.retry_may_cure = retry_may_cure and not refused
        self.refused = refused


class ResultExpired(DownloadError):
    """The result URL answers 403, 404 or 410: the result is gone."""

    category = ErrorCategory.EXPIRED
