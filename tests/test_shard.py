"""Sharding: a deterministic slice of the rows by a hash of the id, three shards
run at once against one simulator, and their reports merged into one."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import TEST_KEY, ThreadedSimulator, read_report, write_csv

from batchedit.cli import main
from batchedit.manifest.job import iter_rows, load_job
from batchedit.manifest.shard import INDEX_VARIABLES, Shard, parse_shard, shard_of

Simulators = Callable[..., ThreadedSimulator]
FAST = ["--poll-interval", "0.01", "--no-progress"]
IMAGE = "https://cdn.example.com/products/shoe.jpg"

ids = st.text(min_size=1, max_size=30)


@given(row_id=ids, count=st.integers(1, 64))
def test_every_id_belongs_to_exactly_one_shard(row_id: str, count: int) -> None:
    owners = [k for k in range(count) if Shard(k, count).owns(row_id)]
    assert owners == [shard_of(row_id, count)]


@given(
    first=st.lists(ids, unique=True, max_size=40),
    added=st.lists(ids, unique=True, max_size=40),
    shard=st.integers(0, 4),
)
def test_a_shard_keeps_its_rows_when_rows_are_added_or_reordered(
    first: list[str], added: list[str], shard: int
) -> None:
    before = {row_id for row_id in first if Shard(shard, 5).owns(row_id)}
    grown = list(reversed(first + [a for a in added if a not in first]))
    after = {row_id for row_id in grown if Shard(shard, 5).owns(row_id)}
    assert before == after & set(first)


def test_the_shard_of_an_id_is_fixed_across_processes_and_versions() -> None:
    # BLAKE2b of the id, not Python's salted hash(): these values never change.
    assert [shard_of(f"sku-{n}", 4) for n in range(8)] == [
        shard_of(f"sku-{n}", 4) for n in range(8)
    ]
    script = "from batchedit.manifest.shard import shard_of; print(shard_of('sku-1', 7))"
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    other = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert int(other.stdout) == shard_of("sku-1", 7)


@given(index=st.integers(0, 99), extra=st.integers(1, 50))
def test_shard_text_round_trips(index: int, extra: int) -> None:
    shard = Shard(index, index + extra)
    assert parse_shard(str(shard), environ={}) == shard


@pytest.mark.parametrize("variable", INDEX_VARIABLES)
def test_a_bare_count_takes_k_from_the_job_array_index(variable: str) -> None:
    assert parse_shard("4", environ={variable: "3"}) == Shard(3, 4)


@pytest.mark.parametrize(
    ("text", "environ", "message"),
    [
        ("4/4", {}, "K counts from 0 to 3"),
        ("4", {}, "none of JOB_COMPLETION_INDEX"),
        ("4", {"SLURM_ARRAY_TASK_ID": "x"}, "SLURM_ARRAY_TASK_ID='x' is not a whole number"),
        ("a/b", {}, "--shard takes K/N"),
        ("1/0", {}, "at least 1"),
    ],
)
def test_bad_shards_say_how_to_fix_them(text: str, environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_shard(text, environ=environ)


def catalog(folder: Path, rows: int, *, duplicate: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    records = [
        {"id": f"sku-{n:03d}", "prompt": f"Product {n} on white", "image": IMAGE}
        for n in range(rows)
    ]
    if duplicate:  # caught in the shard of its first occurrence, like any duplicate
        records[5]["id"] = "sku-000"
    return write_csv(folder / "catalog.csv", records)


def test_rows_of_other_shards_are_left_out_and_rows_keep_their_manifest_number(
    tmp_path: Path,
) -> None:
    manifest = catalog(tmp_path, 30, duplicate=True)
    everything = list(iter_rows(load_job(manifest)))
    seen: list[int] = []
    for k in range(3):
        rows = list(iter_rows(dataclasses.replace(load_job(manifest), shard=Shard(k, 3))))
        assert all(shard_of(row.id, 3) == k for row in rows)
        seen.extend(row.index for row in rows)
    assert sorted(seen) == [row.index for row in everything]


def test_three_shards_at_once_cover_every_row_once_and_merge_into_one_report(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator(prerendered=True)
    rows = 45
    manifest = catalog(tmp_path / "job", rows, duplicate=True)
    env = {**os.environ, "MODELLIX_BASE_URL": simulator.base_url, "MODELLIX_API_KEY": TEST_KEY}
    prices = tmp_path / "prices.yaml"
    prices.write_text("currency: EUR\ngoogle/nano-banana-pro-edit: 0.5\n", encoding="utf-8")
    command = [sys.executable, "-m", "batchedit", "run", str(manifest), *FAST]
    command += ["--prices", str(prices)]
    shards = [
        subprocess.Popen(
            [*command, "--out", str(tmp_path / f"shard-{k}"), "--shard", "3"],
            env={**env, "JOB_COMPLETION_INDEX": str(k)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(3)
    ]
    codes = []
    for process in shards:
        _, err = process.communicate(timeout=50)
        codes.append(process.returncode)
        assert process.returncode in (0, 1), err
    assert sorted(codes) == [0, 0, 1]  # the shard holding the duplicate id
    assert simulator.stats()["submits"] == rows - 1

    merged = tmp_path / "merged"
    dirs = [str(tmp_path / f"shard-{k}") for k in (2, 0, 1)]
    assert main(["report", "merge", *dirs, "--out", str(merged)]) == 1
    report = read_report(merged)
    assert [record["row"] for record in report] == list(range(1, rows + 1))
    statuses = [record["status"] for record in report]
    assert statuses.count("succeeded") == rows - 1 and report[5]["status"] == "invalid"
    for record in report:
        for output in record["outputs"]:
            assert (merged / output["path"]).is_file()
    summary = json.loads((merged / "summary.json").read_text())
    assert summary["rows"] == rows and summary["paid_submissions"] == rows - 1
    assert summary["spend"] == {"amount": 0.5 * (rows - 1), "currency": "EUR"}


def test_merge_refuses_run_directories_that_overlap(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    threaded_simulator(prerendered=True)
    manifest = catalog(tmp_path / "job", 8)
    for k in (0, 1):
        out = tmp_path / f"s{k}"
        main(["run", str(manifest), "--out", str(out), "--shard", f"{k}/2", *FAST])
    twice = [str(tmp_path / "s0"), str(tmp_path / "s0")]
    assert main(["report", "merge", *twice, "--out", str(tmp_path / "m")]) == 2
    assert "both shard 0/2" in capsys.readouterr().err
    assert main(["report", "merge", str(tmp_path / "s1"), "--out", str(tmp_path / "m")]) == 0
    assert "shard 0/2 is missing" in capsys.readouterr().err
