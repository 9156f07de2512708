"""The warm start on virtual time: durations learned by one run, saved in the
run directory and the per-user cache, make the next run's first wave poll at
learned ages; old knowledge decays; the cache can be turned off."""

from __future__ import annotations

import json
from pathlib import Path

from test_latency_polling import run_virtual, uniform

from batchedit.pipeline.poll.latency_store import (
    HALF_LIFE_S,
    RUN_FILE,
    load_samples,
    save_samples,
    user_cache_dir,
)
from batchedit.pipeline.poll.scheduler import LatencyAwarePolicy

ORIGIN = "https://api.modellix.ai"
KIND = ("google/nano-banana-pro-edit", "1K")


async def test_a_warm_run_polls_its_first_wave_at_learned_ages(tmp_path: Path) -> None:
    concurrency = 50
    durations = uniform(400, 15.0, 25.0, seed=4)
    cold = LatencyAwarePolicy(concurrency=concurrency)
    cold_outcome = await run_virtual(cold, durations, concurrency=concurrency)
    save_samples(tmp_path / "run", ORIGIN, tmp_path / "cache", cold.model.samples(), now_s=1e9)

    # Tonight's run: a new run directory, warm from the user cache alone.
    warm = LatencyAwarePolicy(concurrency=concurrency)
    samples = load_samples(tmp_path / "new-run", ORIGIN, tmp_path / "cache", now_s=1e9 + 3600)
    assert set(samples) == {KIND}
    for kind, kept in samples.items():
        warm.model.warm(kind, kept)
    first_wave = durations[:concurrency]
    cold_first = await run_virtual(
        LatencyAwarePolicy(concurrency=concurrency), first_wave, concurrency=concurrency
    )
    warm_first = await run_virtual(warm, first_wave, concurrency=concurrency)
    cold_polls = cold_first.polls / concurrency
    warm_polls = warm_first.polls / concurrency
    # Within the planner's cap of 3.75 polls per task at once, where a cold wave needs many.
    assert warm_polls <= 3.75 and warm_polls < cold_polls / 2, (warm_polls, cold_polls)
    assert max(warm_first.notice_delays_s) <= max(cold_first.notice_delays_s) + 1.0
    assert cold_outcome.polls / len(durations) < cold_polls  # a cold run learns as it goes


def test_old_knowledge_decays_and_the_run_directory_wins(tmp_path: Path) -> None:
    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    save_samples(run_dir, ORIGIN, cache, {KIND: [20.0] * 200}, now_s=0.0)
    week_later = load_samples(tmp_path / "other", ORIGIN, cache, now_s=HALF_LIFE_S)
    assert len(week_later[KIND]) == 100
    assert load_samples(tmp_path / "other", ORIGIN, cache, now_s=HALF_LIFE_S * 20) == {}
    assert load_samples(tmp_path / "other", "https://gateway.example", cache, now_s=0.0) == {}
    save_samples(tmp_path / "own", ORIGIN, None, {KIND: [5.0] * 10}, now_s=0.0)
    mixed = load_samples(tmp_path / "own", ORIGIN, cache, now_s=0.0)
    assert mixed[KIND] == [5.0] * 10
    document = json.loads((tmp_path / "own" / RUN_FILE).read_text())
    assert document["origin"] == ORIGIN and "durations_s" in document["kinds"][0]


def test_the_cache_can_be_turned_off_and_follows_xdg(tmp_path: Path) -> None:
    assert user_cache_dir({"BATCHEDIT_LATENCY_CACHE": "off", "XDG_CACHE_HOME": "/x"}) is None
    assert user_cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "batchedit" / "latency"
