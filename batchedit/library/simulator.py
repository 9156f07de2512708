"""`batchedit.Simulator`: the built-in Modellix simulator for the users' own tests.

    async with batchedit.Simulator(latency_s=(0.0, 0.05), fail_rate=0.1) as sim:
        summary = await batchedit.arun("job.yaml", out=tmp, base_url=sim.base_url,
                                       api_key="any-key")
        assert sim.stats()["submits"] == summary.stats.paid_submissions

Options are the simulator's (`latency_s`, `fail_rate`, `error_rate`,
`rate_limit`, `max_concurrent`, `api_key`, `balance`, `expire_after_s`,
`seed`, ...). It listens on a free loopback port unless `port` is given.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any

from batchedit.simulator import RunningSimulator, SimOptions, running_simulator

#: Fast by default: a test should not wait on a simulated task.
DEFAULT_LATENCY_S = (0.0, 0.02)


class Simulator:
    """A simulator serving in the current event loop while the block runs."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        options.setdefault("latency_s", DEFAULT_LATENCY_S)
        self.options = SimOptions(**options)
        self.host = host
        self.port = port
        self._context: AbstractAsyncContextManager[RunningSimulator] | None = None
        self._running: RunningSimulator | None = None

    @property
    def base_url(self) -> str:
        """Where it listens (`http://127.0.0.1:PORT`): pass it as `base_url=`."""
        return self._started().base_url

    def stats(self) -> dict[str, Any]:
        """Its counters (`submits` paid, `polls`, `downloads`, `uploads`, ...)."""
        return self._started().stats()

    def _started(self) -> RunningSimulator:
        if self._running is None:
            raise RuntimeError("the simulator is not running: use `async with Simulator() as sim`")
        return self._running

    async def __aenter__(self) -> Simulator:
        self._context = running_simulator(self.options, host=self.host, port=self.port)
        self._running = await self._context.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        context, self._context, self._running = self._context, None, None
        if context is not None:
            await context.__aexit__(exc_type, exc, traceback)
