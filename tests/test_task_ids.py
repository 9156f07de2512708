"""The run's register of task ids (pipeline/submit/task_ids.py): one id, one row. The
runs against a hostile server are in test_hostile_answers.py; here, where the
first holder of an id stands when another row is given it."""

from __future__ import annotations

from batchedit.api.inflight import InFlightSlots
from batchedit.pipeline.poll.scheduler import InFlightTask
from batchedit.pipeline.submit.task_ids import Holder, TaskIds
from batchedit.records import EditRequest, ImageRef, Row


async def in_flight(index: int, task_id: str) -> InFlightTask:
    request = EditRequest("google/nano-banana-edit", "edit", (ImageRef("https://x/a.png"),))
    row = Row(index, index + 1, f"row-{index}", request)
    slot = await InFlightSlots(max_in_flight=4).take()
    return InFlightTask(row, task_id, slot, "fp", "", 0.0, attempts=1)


async def test_a_second_row_given_an_id_in_flight_finds_the_first_task() -> None:
    ids = TaskIds()
    first = await in_flight(1, "t-1")
    assert ids.claim("t-1", 1, first) is None
    assert ids.claim("t-1", 1, first) is None, "the same row again is no conflict"
    claim = ids.claim("t-1", 2, await in_flight(2, "t-1"))
    assert claim is not None and (claim.holder, claim.row, claim.task) == (
        Holder.IN_FLIGHT,
        1,
        first,
    )
    assert ids.is_shared("t-1")
    assert ids.settle("t-1") is False, "its writer journals nothing: it is unknown already"
    third = ids.claim("t-1", 3)
    assert third is not None and (third.holder, third.row) == (Holder.SHARED, 1)


async def test_a_second_row_given_an_id_that_ended_finds_its_row() -> None:
    ids = TaskIds()
    assert ids.claim("t-7", 4, await in_flight(4, "t-7")) is None
    assert ids.settle("t-7") is True  # its outcome journalled
    assert ids.claim("t-8", 5) is None and not ids.is_shared("t-7")
    claim = ids.claim("t-7", 9)
    assert claim is not None and (claim.holder, claim.row, claim.task) == (Holder.ENDED, 4, None)
