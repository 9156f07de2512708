"""The settings of a run nobody watches, each a job-file key, a command-line
option and a keyword of the Python API (manifest/nightly.py): max_spend,
deadline, deadline_grace, metrics_file, notify. Checked where they are read,
with the job file's line in the message."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone
from pathlib import Path

import pytest
from support import write_csv

from batchedit.cli.main import build_parser
from batchedit.cli.options import setting_overrides
from batchedit.errors import SourceError, UsageError
from batchedit.library.settings import job_from
from batchedit.manifest.job import SETTING_NAMES, apply_overrides, load_job
from batchedit.manifest.nightly import Deadline, parse_deadline, parse_duration_s

JOB = """\
manifest: rows.csv
output_dir: runs/night
max_spend: 12.5
deadline: "06:00"
deadline_grace: 5m
metrics_file: metrics/night.prom
notify:
  - json://127.0.0.1:9/hook
  - ntfy://ntfy.example.com/batchedit
"""


@pytest.fixture
def job_file(tmp_path: Path) -> Path:
    write_csv(tmp_path / "rows.csv", [{"id": "a", "prompt": "p", "image": "https://x.test/a.png"}])
    path = tmp_path / "job.yaml"
    path.write_text(JOB, encoding="utf-8")
    return path


def test_the_job_file_keys_are_read_and_paths_are_relative_to_it(job_file: Path) -> None:
    job = load_job(job_file)
    assert job.max_spend == 12.5
    assert job.deadline is not None and job.deadline.at_time == time(6, 0)
    assert job.deadline_grace == 300.0
    assert job.metrics_file == job_file.parent / "metrics" / "night.prom"
    assert job.notify == ("json://127.0.0.1:9/hook", "ntfy://ntfy.example.com/batchedit")
    assert {"max_spend", "deadline", "deadline_grace", "metrics_file", "notify"} <= set(
        SETTING_NAMES
    )


def test_the_command_line_wins_over_the_job_file(job_file: Path, tmp_path: Path) -> None:
    argv = ["run", str(job_file), "--max-spend", "3", "--deadline", "90m"]
    argv += ["--deadline-grace", "30s", "--metrics-file", "elsewhere.prom"]
    argv += ["--notify", "json://127.0.0.1:9/a", "--notify", "json://127.0.0.1:9/b"]
    overrides = setting_overrides(build_parser().parse_args(argv))
    job = apply_overrides(load_job(job_file), **overrides)
    assert job.max_spend == 3.0 and job.deadline_grace == 30.0
    assert job.deadline is not None and job.deadline.after_s == 5400.0
    assert job.metrics_file == Path("elsewhere.prom").resolve()
    assert job.notify == ("json://127.0.0.1:9/a", "json://127.0.0.1:9/b")


def test_the_python_api_takes_them_as_keywords(job_file: Path) -> None:
    job = job_from(
        job_file,
        settings={
            "max_spend": 2,
            "deadline": "2h",
            "deadline_grace": 0,
            "metrics_file": "m.prom",
            "notify": "json://127.0.0.1:9/x",
        },
    )
    assert job.max_spend == 2.0 and job.deadline_grace == 0.0
    assert job.deadline is not None and job.deadline.after_s == 7200.0
    assert job.metrics_file == Path("m.prom") and job.notify == ("json://127.0.0.1:9/x",)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("max_spend: -1", "max_spend must be an amount"),
        ("max_spend: lots", "max_spend must be an amount"),
        ("deadline: soon", "deadline must be a duration"),
        ("deadline: 0s", "deadline must be a duration"),
        ("deadline: '25:00'", "deadline must be a duration"),
        ("deadline_grace: -5", "deadline_grace must be a duration"),
        ("deadline_grace: later", "deadline_grace must be a duration"),
        ("notify: 'nothing-here'", "is not a URL Apprise can send to"),
        ("notify: ['bogus://x']", "is not a URL Apprise can send to"),
        ("notify: {a: 1}", "notify must be an Apprise URL"),
        ("metrics_file: ''", "metrics_file must be a path"),
    ],
)
def test_bad_values_name_the_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    write_csv(tmp_path / "rows.csv", [{"id": "a", "prompt": "p", "image": "https://x.test/a.png"}])
    path = tmp_path / "job.yaml"
    path.write_text(f"manifest: rows.csv\n{line}\n", encoding="utf-8")
    with pytest.raises(SourceError) as info:
        load_job(path)
    assert info.value.line == 2 and message in str(info.value)


def test_a_bad_command_line_value_is_a_usage_error(job_file: Path) -> None:
    with pytest.raises(UsageError, match="deadline must be"):
        apply_overrides(load_job(job_file), deadline="tomorrow-ish")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("45", 45.0), ("45s", 45.0), ("90m", 5400.0), ("2h", 7200.0), ("1h30m", 5400.0)]
    + [("250ms", 0.25), ("1.5h", 5400.0), ("1d", 86400.0), ("6S", 6.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "5 parsecs", "1h30", "06:00", "2h-1m"])
def test_what_is_not_a_duration(text: str) -> None:
    assert parse_duration_s(text) is None


def test_a_time_of_day_is_its_next_occurrence_in_local_time() -> None:
    deadline = parse_deadline("06:00")
    zone = timezone(timedelta(hours=2))
    before = datetime(2025, 6, 1, 5, 30, tzinfo=zone)
    after = datetime(2025, 6, 1, 7, 0, tzinfo=zone)
    assert deadline.seconds_left(before) == 1800.0
    assert deadline.seconds_left(after) == 23 * 3600.0


def test_an_iso_moment_is_absolute_and_may_have_passed() -> None:
    deadline = parse_deadline("2025-06-01T06:00:00Z")
    assert deadline.at == datetime(2025, 6, 1, 6, 0, tzinfo=UTC)
    now = datetime(2025, 6, 1, 5, 0, tzinfo=UTC)
    assert deadline.seconds_left(now) == 3600.0
    assert deadline.seconds_left(now + timedelta(hours=2)) == -3600.0
    naive = parse_deadline("2025-06-01T06:00")
    assert naive.at is not None and naive.at.tzinfo is not None, "read as local time"


def test_a_deadline_reads_back_as_it_was_given() -> None:
    """`retry` replays the text: a time of day is the next one then, not this one."""
    for text in ("90m", "06:00", "2025-06-01T06:00:00+02:00"):
        deadline = parse_deadline(text)
        assert str(deadline) == text and parse_deadline(deadline) is deadline
    assert Deadline("6s", after_s=6.0).seconds_left() == 6.0
