"""`--notify URL`: one message at the end of every run, through Apprise
(Slack, email, Teams, ntfy, a JSON webhook with `json://`, and many more,
each named by a URL).

The message says what a person on call needs and nothing secret: the counts,
the spend, the exit code and what it means, the next command, where the
report is (or, for a run refused before it started, why). Its text goes
through the redactor like every log line, so the API key never leaves in it.

Sending never changes how the run ended: each URL is tried, and a failure is
logged and tried again twice, a few seconds apart. Apprise is synchronous,
so each attempt runs in a thread of its own, bounded by a timeout; a daemon
thread, so a service that never answers cannot hold the process at exit.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import shlex
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from batchedit.events import emit, redact
from batchedit.records import Status
from batchedit.report.summary import RunSummary, next_steps
from batchedit.state.rundir import RunPaths

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Pauses before the second and the third attempt: a failure is retried twice.
RETRY_DELAYS_S: tuple[float, ...] = (2.0, 5.0)
#: The longest one attempt may take (Apprise's own socket timeouts are shorter).
SEND_TIMEOUT_S = 30.0

#: Exit codes as the message says them (CONTRACT.md's table).
EXIT_MEANINGS = {
    0: "every row succeeded",
    1: "the run completed; some rows did not succeed",
    2: "refused: nothing was submitted",
    3: "stopped before the end (a fatal API answer, the spend cap or the deadline); "
    "unfinished rows are pending",
    4: "stopped by a local failure (disk, permissions) or an internal error",
    130: "interrupted; state is saved",
}
#: Apprise's message types by exit code: green, amber, red.
_KINDS = {0: "success", 1: "warning", 130: "warning"}


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    body: str
    kind: str  # Apprise's notify type: info, success, warning or failure

    @classmethod
    def of(cls, title: str, lines: Sequence[str], exit_code: int) -> Message:
        body = "\n".join(line for line in lines if line)
        return cls(redact(title), redact(body), _KINDS.get(exit_code, "failure"))


def run_message(
    paths: RunPaths, exit_code: int, summary: RunSummary | None, stopped: str | None
) -> Message:
    """The message at the end of a run that started."""
    meaning = EXIT_MEANINGS.get(exit_code, "")
    lines = [f"exit {exit_code}: {meaning}"]
    if summary is not None:
        counts = summary.counts
        statuses = ", ".join(
            f"{counts.statuses[s]} {s.value}" for s in Status if counts.statuses[s]
        )
        lines.insert(0, f"{counts.rows} rows: {statuses or 'none'}")
        spend = summary.stats.spend
        paid = f"paid submissions {summary.stats.paid_submissions}"
        lines.append(paid + ("" if spend is None else f"; spend {spend.text()}"))
    if stopped:
        lines.append(stopped)
    if summary is not None:
        lines.extend(f"next: {step}" for step in next_steps(summary.counts, paths))
    lines.append(f"report: {paths.report}")
    title = f"batchedit {paths.root.name}: exit {exit_code}, {meaning.split(';')[0]}"
    return Message.of(title, lines, exit_code)


def refusal_message(source: str, run_dir: str | None, exit_code: int, reason: str) -> Message:
    """The message of a run that did not start (a guard, the lock, a bad job)."""
    where = f" into {run_dir}" if run_dir else ""
    lines = [
        f"exit {exit_code}: {EXIT_MEANINGS.get(exit_code, '')}",
        reason,
        f"command: batchedit run {shlex.quote(source)}{where}",
    ]
    name = run_dir.rstrip("/").rsplit("/", 1)[-1] if run_dir else source
    return Message.of(f"batchedit {name}: exit {exit_code}, did not start", lines, exit_code)


async def send_message(
    urls: Sequence[str],
    message: Message,
    *,
    retry_delays_s: Sequence[float] | None = None,
    timeout_s: float | None = None,
) -> int:
    """Send `message` to each URL, retrying each failure twice; the number of
    URLs it could not reach. Never raises for a failed notification."""
    delays = RETRY_DELAYS_S if retry_delays_s is None else tuple(retry_delays_s)
    limit_s = SEND_TIMEOUT_S if timeout_s is None else timeout_s
    failed = 0
    for url in urls:
        shown = _shown(url)
        for attempt in range(len(delays) + 1):
            if attempt:
                await asyncio.sleep(delays[attempt - 1])
            try:
                sent = await _in_thread(functools.partial(_notify, url, message), limit_s)
            except TimeoutError:
                problem = f"no answer within {limit_s:g}s"
            except Exception as exc:  # any failure of a notification is only logged
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if sent:
                    emit("notified", url=shown, attempt=attempt + 1, kind=message.kind)
                    break
                problem = "the service refused it or could not be reached"
            log.warning(
                "notification to %s failed (attempt %d of %d): %s",
                shown,
                attempt + 1,
                len(delays) + 1,
                problem,
            )
        else:
            failed += 1
    return failed


def _notify(url: str, message: Message) -> bool:
    import apprise  # here: a second's import, paid only by runs that notify

    sender = apprise.Apprise()
    if not sender.add(url):
        return False
    return bool(sender.notify(body=message.body, title=message.title, notify_type=message.kind))


def _shown(url: str) -> str:
    """The URL as a log may show it: Apprise's privacy form (tokens and
    passwords elided), else its scheme alone."""
    import apprise

    service = apprise.Apprise.instantiate(url)
    if service is None:
        return url.split("://", 1)[0] + "://..."
    shown: str = service.url(privacy=True)  # type: ignore[no-untyped-call]
    return shown.split("?", 1)[0]


async def _in_thread(call: Callable[[], T], timeout_s: float) -> T:
    """`call()` in a daemon thread, waited for at most `timeout_s`; a call still
    running then is left behind (it cannot be killed) and raises TimeoutError."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():
            outcome()

    def target() -> None:
        try:
            result = call()
        except BaseException as exc:  # handed to the waiting coroutine, whatever it is
            error = exc
            _deliver(loop, lambda: settle(lambda: future.set_exception(error)))
        else:
            _deliver(loop, lambda: settle(lambda: future.set_result(result)))

    threading.Thread(target=target, name="batchedit-notify", daemon=True).start()
    async with asyncio.timeout(timeout_s):
        return await future


def _deliver(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:  # the loop closed meanwhile: nobody waits any more
        return
