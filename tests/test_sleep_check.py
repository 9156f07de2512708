"""The conftest check that holds the suite to no real sleep over 50 ms, and no
thread or task sleeping over half a second in all: run on a small suite of its own in
a subprocess (out of this test's own check)."""

from __future__ import annotations

from pathlib import Path

import pytest

INNER = """
import asyncio
import time

import pytest


def test_a_long_sleep_fails():
    time.sleep(0.08)


def test_a_short_sleep_passes():
    time.sleep(0.002)


def test_a_long_asyncio_sleep_fails():
    asyncio.run(asyncio.sleep(0.08))


def test_a_long_wait_cut_short_passes():
    async def main():
        # A 30 s upper bound on a wait for an event that comes after 80 ms.
        woken = asyncio.Event()
        asyncio.get_running_loop().call_later(0.08, woken.set)
        sleeper = asyncio.ensure_future(asyncio.sleep(30))
        await woken.wait()
        sleeper.cancel()
        await asyncio.gather(sleeper, return_exceptions=True)

    asyncio.run(main())


def test_short_steps_that_add_up_fail():
    for _ in range(20):
        time.sleep(0.03)


def test_short_asyncio_steps_in_one_task_that_add_up_fail():
    async def main():
        for _ in range(20):
            await asyncio.sleep(0.03)

    asyncio.run(main())


def test_short_sleeps_side_by_side_pass():
    async def main():
        await asyncio.gather(*(asyncio.sleep(0.03) for _ in range(10)))

    asyncio.run(main())


@pytest.mark.real_time("a subprocess that must see real seconds")
def test_an_explicit_exemption_passes():
    time.sleep(0.08)


@pytest.mark.real_time()
def test_an_exemption_without_a_reason_fails():
    pass
"""


def test_the_sleep_check_fails_long_real_sleeps_and_names_them(
    pytester: pytest.Pytester,
) -> None:
    here = Path(__file__).parent
    for name in ("conftest.py", "support.py", "hostile_server.py", "s3_server.py"):
        pytester.makepyfile(**{name.removesuffix(".py"): (here / name).read_text()})
    pytester.makepyfile(test_inner=INNER)
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        "markers =\n    real_time(reason): exempt from the sleep check\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=8, errors=5)
    errors = {
        line.split()[1].split("::")[1] for line in result.outlines if line.startswith("ERROR")
    }
    assert errors == {
        "test_a_long_sleep_fails",
        "test_a_long_asyncio_sleep_fails",
        "test_an_exemption_without_a_reason_fails",
        "test_short_steps_that_add_up_fail",
        "test_short_asyncio_steps_in_one_task_that_add_up_fail",
    }
    # a sleep counts for what it asked or really took, the smaller: 80 ms exactly
    result.stdout.fnmatch_lines(["*1 real sleep(s) over 50 ms (longest: 80 ms)*"] * 2)
    # twenty steps of 30 ms are 600 ms in one flow: the thread's, or the task's
    result.stdout.fnmatch_lines(
        [
            "*real sleeping over 500 ms in all in one flow (thread MainThread 600 ms)*",
            "*real sleeping over 500 ms in all in one flow (task Task-* 600 ms)*",
        ],
    )
