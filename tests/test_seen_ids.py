"""The compact id table behind duplicate detection answers as a dict of first lines would."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from batchedit.manifest.seen_ids import SeenIds


@settings(max_examples=50)
@given(ids=st.lists(st.text(max_size=12), max_size=3000))
def test_seen_ids_report_the_first_line_of_every_repeated_id(ids: list[str]) -> None:
    seen, model = SeenIds(), dict[str, int]()
    for line, row_id in enumerate(ids, start=2):
        assert seen.first_line(row_id, line) == model.get(row_id)
        model.setdefault(row_id, line)
    assert len(seen) == len(model)


def test_seen_ids_grow_past_their_first_table_and_keep_every_id() -> None:
    seen = SeenIds()
    for n in range(50_000):
        assert seen.first_line(f"sku-{n}", n + 2) is None
    assert seen.first_line("sku-0", 10**6) == 2
    assert seen.first_line("sku-49999", 10**6) == 50_001
