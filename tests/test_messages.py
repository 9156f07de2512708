"""Messages that scale: a problem of the header or the job once, repeated row
problems grouped, every cut-off saying how many more and where they all are;
a run of invalid rows only refused with nothing made; `problem` events with
file, line and field; the report's line the one validation names."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from support import ThreadedSimulator, read_report, write_csv

from batchedit.cli import main
from batchedit.events import setup_logging

ROWS = 300
CDN = "https://cdn.example.com"


def output_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    captured = capsys.readouterr()
    return [line for line in (captured.out + captured.err).splitlines() if line.strip()]


def foreign_catalog(folder: Path) -> Path:
    """A 300-row export with none of batchedit's column names."""
    records = [
        {"SKU": f"SKU-{n:03d}", "Title": f"Mug {n}", "Photo URL": f"{CDN}/{n}.png"}
        for n in range(ROWS)
    ]
    return write_csv(folder / "export.csv", records)


def test_missing_columns_are_one_problem_naming_the_header_and_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = foreign_catalog(tmp_path)
    assert main(["validate", str(manifest)]) == 2
    lines = output_lines(capsys)
    assert 1 <= len(lines) <= 10
    assert "SKU, Title, Photo URL" in lines[0] and "--column id=SKU" in lines[0]
    assert "--column image='Photo URL'" in lines[0]

    run_dir = tmp_path / "run"
    assert main(["run", str(manifest), "--out", str(run_dir), "--simulate"]) == 2
    assert len(output_lines(capsys)) <= 10
    assert not run_dir.exists()

    fixed = ["--column", "id=SKU", "--column", "image=Photo URL"]
    assert main(["validate", str(manifest), *fixed]) == 2  # still no prompt: said once
    (line,) = output_lines(capsys)
    assert "no prompt column" in line and "defaults:" in line


def job_with_default(folder: Path, aspect_ratio: str) -> Path:
    records = [{"id": f"r{n}", "image": f"{CDN}/{n}.png"} for n in range(ROWS)]
    write_csv(folder / "catalog.csv", records)
    job = folder / "job.yaml"
    job.write_text(
        "manifest: catalog.csv\noutput_dir: run\ndefaults:\n"
        f'  prompt: on white\n  aspect_ratio: "{aspect_ratio}"\n',
        encoding="utf-8",
    )
    return job


def test_a_bad_default_prints_one_line_at_its_line_of_the_job(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = job_with_default(tmp_path, "4x5")
    assert main(["validate", str(job)]) == 2
    (line,) = output_lines(capsys)
    assert f"{job}:5: defaults: aspect_ratio '4x5' is not allowed" in line and "4:5" in line
    assert main(["run", str(job), "--simulate"]) == 2
    assert len(output_lines(capsys)) == 1
    assert not (tmp_path / "run").exists()
    assert main(["validate", str(job), "--json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["exit_code"] == 2
    assert error["problems"][0]["line"] == 5 and error["problems"][0]["field"] == "aspect_ratio"


def test_a_template_naming_an_absent_column_is_said_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = job_with_default(tmp_path, "4:5")
    job.write_text(job.read_text().replace("on white", "the {colour} mug"), encoding="utf-8")
    assert main(["validate", str(job)]) == 2
    (line,) = output_lines(capsys)
    assert "'colour'" in line and "its columns: id, image" in line


def test_repeated_row_problems_are_grouped_and_every_cut_off_says_where_the_rest_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [
        {"id": f"r{n}", "prompt": "p", "image": f"{CDN}/{n}.png", "resolution": "3K"}
        for n in range(ROWS)
    ]
    records += [
        {"id": f"odd{n}", "prompt": "p", "image": f"{CDN}/o.png", "aspect_ratio": f"{n % 5}:0"}
        for n in range(20)
    ]
    records += [  # twenty kinds of problem, one row each
        {"id": f"param{n}", "prompt": "p", "image": f"{CDN}/o.png", f"param.q{n}": "1"}
        for n in range(20)
    ]
    manifest = write_csv(tmp_path / "m.csv", records)
    assert main(["validate", str(manifest)]) == 2
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].startswith(f"{ROWS} rows: resolution '3K' is not allowed")
    assert lines[0].endswith(
        f"first at {manifest}:2, 3, 4 and {ROWS - 3} more rows: lines 5-{ROWS + 1}"
    )
    assert lines[1] == (  # five values, one kind: an example of each of the first three
        "20 rows: aspect_ratio not allowed for google/nano-banana-pro-edit; allowed: one of "
        f"1:1, 2:3, 3:2, 3:4, 4:3, 4:5, 5:4, 9:16, 16:9, 21:9; e.g. {manifest}:{ROWS + 2} (0:0), "
        f"{ROWS + 3} (1:0), {ROWS + 4} (2:0) and 17 more rows: lines {ROWS + 5}-{ROWS + 21}"
    )
    assert len(lines) == 2 + 20  # every kind of problem, each once
    assert f"{ROWS + 40} rows, {ROWS + 40} invalid" in captured.err

    records.append({"id": "good", "prompt": "p", "image": f"{CDN}/g.png"})
    write_csv(manifest, records)
    run = ["run", str(manifest), "--out", str(tmp_path / "run"), "--simulate"]
    run += ["--sim-latency", "0", "--poll-interval", "0.01", "--no-progress"]
    assert main(run) == 1
    err = capsys.readouterr().err.splitlines()
    problems = err[: next(n for n, line in enumerate(err) if line.startswith("plan:"))]
    assert problems[0].startswith(f"{ROWS} rows:")
    assert len(problems) == 11  # ten kinds shown, then the count of the rest
    assert (
        problems[-1] == f"... and 12 more problem(s); every problem: batchedit validate {manifest}"
    )


def test_a_run_whose_rows_are_all_invalid_exits_2_and_makes_nothing(
    tmp_path: Path, threaded_simulator: Callable[..., ThreadedSimulator]
) -> None:
    simulator = threaded_simulator()
    manifest = write_csv(
        tmp_path / "m.csv", [{"id": f"r{n}", "prompt": "p", "image": "gone.png"} for n in range(5)]
    )
    assert main(["run", str(manifest), "--out", str(tmp_path / "run")]) == 2
    assert not (tmp_path / "run").exists()
    assert simulator.stats()["submit_requests"] == 0


def test_problem_events_carry_file_line_and_field_and_the_report_the_same_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    threaded_simulator: Callable[..., ThreadedSimulator],
) -> None:
    threaded_simulator()
    manifest = write_csv(
        tmp_path / "m.csv",
        [
            {"id": "a", "prompt": "p", "image": f"{CDN}/a.png"},
            {"id": "b", "prompt": "p", "image": f"{CDN}/b.png", "resolution": "9K"},
        ],
    )
    run_dir = tmp_path / "run"
    argv = ["run", str(manifest), "--out", str(run_dir), "--poll-interval", "0.01"]
    try:
        assert main([*argv, "--log-format", "json", "--no-progress"]) == 1
    finally:
        setup_logging("text", verbose=False)
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    (problem,) = [event for event in events if event["event"] == "problem"]
    assert (problem["file"], problem["line"], problem["field"]) == (str(manifest), 3, "resolution")
    assert problem["kind"].startswith("resolution not allowed for google/nano-banana-pro-edit")
    assert (problem["rows"], problem["examples"]) == (1, ["9K"])
    (plan,) = [event for event in events if event["event"] == "plan"]
    assert (plan["submit"], plan["invalid"]) == (1, 1)
    report = {line["id"]: line for line in read_report(run_dir)}
    assert report["b"]["line"] == problem["line"] and report["b"]["row"] == 2


# About 2 s of CPU for validate and 4 s for plan (two passes over the rows);
# with both cores shared many times over, the wall time can pass the default 60 s.
@pytest.mark.timeout(300)
def test_fifty_thousand_rows_of_one_kind_of_mistake_print_one_line_each_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each row names its own image, each refused the same way: one line with
    three examples and the lines of the rest, from validate and plan alike,
    and every problem still in `validate --json`."""
    rows = 50_000
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "id,prompt,image\n"
        + "".join(f"r{n},p,http://cdn.example.com/{n}.png\n" for n in range(rows)),
        encoding="utf-8",
    )
    expected = (
        f"{rows} rows: image uses plain http; use an https:// URL (http is allowed only for "
        f"localhost, 127.0.0.1 and [::1]); e.g. {manifest}:2 (http://cdn.example.com/0.png), "
        "3 (http://cdn.example.com/1.png), 4 (http://cdn.example.com/2.png) "
        f"and {rows - 3} more rows: lines 5-{rows + 1}"
    )
    assert main(["validate", str(manifest)]) == 2
    lines = output_lines(capsys)
    assert len(lines) <= 20 and lines[0] == expected
    assert main(["plan", str(manifest), "--out", str(tmp_path / "run")]) == 0
    lines = output_lines(capsys)
    assert len(lines) <= 20 and expected in lines
    assert not (tmp_path / "run").exists()
