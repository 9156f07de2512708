"""Re-runs into the same run directory (CONTRACT.md "Re-runs"): a settled row
costs no request, a changed one exactly one submit, lost outputs are fetched
again, unknown rows wait for `retry --status unknown`, `retry` touches only the
rows it is asked to, and the cost guard counts what the run would pay for."""

from __future__ import annotations

import asyncio
import io
import json
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from support import ThreadedSimulator, read_report, run_cli, write_csv, write_image

from batchedit.cli import main
from batchedit.cli.launching import launch
from batchedit.manifest.job import load_job
from batchedit.manifest.problem_digest import ProblemDigest
from batchedit.pipeline.launch import CONFIRM_ABOVE, LaunchOptions, refusal_reason
from batchedit.pipeline.plan.planning import Survey
from batchedit.pipeline.plan.resume import Action
from batchedit.records import ErrorCategory, Status
from batchedit.report.status import read_status, status_lines
from batchedit.simulator import SimOptions
from batchedit.state.invocation import Invocation
from batchedit.state.journal import Finished, Journal, Submitting, read_entries
from batchedit.state.lock import run_lock
from batchedit.state.rundir import RunPaths

Simulators = Callable[..., ThreadedSimulator]


def catalog(folder: Path, rows: int = 6, prompt: str = "Put the {title} on white") -> Path:
    write_image(folder / "photos" / "mug.png", colour="red")
    write_image(folder / "photos" / "cap.png", colour="navy")
    records = [
        {
            "id": f"sku-{n}",
            "title": f"Product {n}",
            "prompt": prompt if n != 2 else "Put the {title} on black",
            "image": "photos/mug.png" if n % 2 else "photos/cap.png",
            "aspect_ratio": "1:1",
        }
        for n in range(rows)
    ]
    return write_csv(folder / "catalog.csv", records)


def delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, int]:
    keys = ("submits", "submit_requests", "polls", "downloads", "uploads")
    return {key: after[key] - before[key] for key in keys}


def test_a_second_run_of_a_finished_manifest_makes_no_request_at_all(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator()
    manifest, run_dir = catalog(tmp_path), tmp_path / "run"
    assert run_cli(manifest, run_dir) == 0
    first = read_report(run_dir)
    before = simulator.stats()

    assert run_cli(manifest, run_dir) == 0

    assert delta(simulator.stats(), before) == dict.fromkeys(delta(before, before), 0)
    assert read_report(run_dir) == first, "the report is the same, attempts still 1"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["paid_submissions"] == 0 and sum(summary["requests"].values()) == 0


def test_one_changed_prompt_makes_exactly_one_submit_and_replaces_its_output(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator()
    manifest, run_dir = catalog(tmp_path), tmp_path / "run"
    assert run_cli(manifest, run_dir) == 0
    old = {line["id"]: line for line in read_report(run_dir)}
    text = manifest.read_text(encoding="utf-8").replace("on black", "on grey")
    manifest.write_text(text, encoding="utf-8")
    before = simulator.stats()

    assert run_cli(manifest, run_dir) == 0

    assert delta(simulator.stats(), before)["submits"] == 1
    new = {line["id"]: line for line in read_report(run_dir)}
    assert new["sku-2"]["prompt"] == "Put the Product 2 on grey"
    assert new["sku-2"]["attempts"] == 2
    assert new["sku-2"]["task_id"] != old["sku-2"]["task_id"]
    assert new["sku-2"]["outputs"][0]["sha256"] != old["sku-2"]["outputs"][0]["sha256"]
    assert all(new[i] == old[i] for i in old if i != "sku-2")


def test_changed_local_image_content_is_a_changed_request(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator()
    manifest, run_dir = catalog(tmp_path), tmp_path / "run"
    assert run_cli(manifest, run_dir) == 0
    before = simulator.stats()
    write_image(tmp_path / "photos" / "mug.png", colour="green")  # same name, new content

    assert run_cli(manifest, run_dir) == 0

    assert delta(simulator.stats(), before)["submits"] == 3, "the three rows using mug.png"


def test_deleted_or_altered_outputs_are_downloaded_again_without_paying(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator()
    manifest, run_dir = catalog(tmp_path), tmp_path / "run"
    assert run_cli(manifest, run_dir) == 0
    first = {line["id"]: line for line in read_report(run_dir)}
    (run_dir / first["sku-0"]["outputs"][0]["path"]).unlink()
    altered = run_dir / first["sku-1"]["outputs"][0]["path"]
    altered.write_bytes(bytes(len(altered.read_bytes())))  # same size, other bytes
    before = simulator.stats()

    assert run_cli(manifest, run_dir) == 0

    assert delta(simulator.stats(), before) == {
        "submits": 0,
        "submit_requests": 0,
        "polls": 0,
        "downloads": 2,
        "uploads": 0,
    }
    again = {line["id"]: line for line in read_report(run_dir)}
    for row_id in ("sku-0", "sku-1"):
        output = again[row_id]["outputs"][0]
        assert output["sha256"] == first[row_id]["outputs"][0]["sha256"]
        assert (run_dir / output["path"]).stat().st_size == output["bytes"]
        assert again[row_id]["attempts"] == 1


def test_a_lost_output_whose_result_expired_is_submitted_again(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator(expire_after_s=30.0)  # inside the expiry margin
    manifest, run_dir = catalog(tmp_path, rows=2), tmp_path / "run"
    assert run_cli(manifest, run_dir) == 0
    (run_dir / read_report(run_dir)[0]["outputs"][0]["path"]).unlink()
    before = simulator.stats()

    assert run_cli(manifest, run_dir) == 0

    assert delta(simulator.stats(), before)["submits"] == 1
    assert read_report(run_dir)[0]["attempts"] == 2


def forget_answer(run_dir: Path, row_id: str) -> None:
    """As if the process died after sending row_id's paid submit again: an
    intent with nothing after it, appended through the journal itself."""
    paths = RunPaths(run_dir)
    finished = [
        entry
        for _, entry in read_entries(paths.journal)
        if isinstance(entry, Finished) and entry.id == row_id
    ][-1]
    assert finished.fingerprint is not None
    intent = Submitting(finished.row, row_id, finished.fingerprint, "2026-11-23T00:00:00Z")

    async def append() -> None:
        journal = await Journal.open(paths.journal)
        await journal.append(intent)
        await journal.close()

    asyncio.run(append())


def test_unknown_rows_are_left_alone_until_retried_with_status_unknown(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator()
    manifest, run_dir = catalog(tmp_path, rows=3), tmp_path / "run"
    assert run_cli(manifest, run_dir) == 0
    forget_answer(run_dir, "sku-1")
    before = simulator.stats()

    assert run_cli(manifest, run_dir) == 1
    report = {line["id"]: line for line in read_report(run_dir)}
    assert report["sku-1"]["status"] == "unknown"
    assert report["sku-1"]["error"]["category"] == "unknown_outcome"
    assert report["sku-1"]["attempts"] == 2, "the unanswered submit may have been paid"
    assert delta(simulator.stats(), before)["submit_requests"] == 0
    assert main(["retry", str(run_dir), "--no-progress"]) == 1, "nothing failed: nothing to do"
    assert delta(simulator.stats(), before)["submit_requests"] == 0

    assert main(["retry", str(run_dir), "--status", "unknown", "--no-progress"]) == 0

    assert delta(simulator.stats(), before)["submits"] == 1
    report = {line["id"]: line for line in read_report(run_dir)}
    assert report["sku-1"]["status"] == "succeeded" and report["sku-1"]["attempts"] == 3


def test_retry_reruns_exactly_the_failed_rows(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator(fail_rate=0.5, seed=11)
    manifest, run_dir = catalog(tmp_path, rows=12), tmp_path / "run"
    assert run_cli(manifest, run_dir) == 1
    first = {line["id"]: line for line in read_report(run_dir)}
    failed = {i for i, line in first.items() if line["status"] == "failed"}
    assert 0 < len(failed) < 12
    assert run_cli(manifest, run_dir) == 1, "a plain re-run does not pay for failures again"
    before = simulator.stats()

    main(["retry", str(run_dir), "--no-progress"])

    assert delta(simulator.stats(), before)["submits"] == len(failed)
    second = {line["id"]: line for line in read_report(run_dir)}
    for row_id, line in second.items():
        if row_id in failed:
            assert line["attempts"] == 2 and line["task_id"] != first[row_id]["task_id"]
        else:
            assert line == first[row_id], "rows not asked for are untouched"


def test_status_counts_by_status_and_category_offline(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    threaded_simulator(fail_rate=0.5, seed=11)
    manifest, run_dir = catalog(tmp_path, rows=12), tmp_path / "run"
    run_cli(manifest, run_dir)
    statuses = [line["status"] for line in read_report(run_dir)]
    capsys.readouterr()

    assert main(["status", str(run_dir)]) == 0

    status = read_status(run_dir)
    assert capsys.readouterr().out.splitlines() == status_lines(run_dir, status)
    assert status.counts.rows == 12
    assert status.counts.statuses == Counter(Status(s) for s in statuses)
    failed = statuses.count("failed")
    assert status.counts.by_status == (
        {Status.FAILED: {ErrorCategory.TASK_FAILED: failed}} if failed else {}
    )
    assert status.last_run is not None and status.last_run.paid_submissions == 12


def test_a_second_run_at_once_is_refused_naming_the_holder(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = threaded_simulator()
    manifest, run_dir = catalog(tmp_path, rows=2), tmp_path / "run"
    with run_lock(RunPaths(run_dir)):
        assert run_cli(manifest, run_dir) == 2
    assert "in use by another batchedit run (pid " in capsys.readouterr().err
    assert simulator.stats()["submit_requests"] == 0


def test_a_lock_left_by_a_killed_run_does_not_block(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    threaded_simulator()
    manifest, run_dir = catalog(tmp_path, rows=2), tmp_path / "run"
    RunPaths(run_dir).state_dir.mkdir(parents=True)
    RunPaths(run_dir).lock.write_text("999999999\n")  # a pid, but no flock held
    assert run_cli(manifest, run_dir) == 0


def test_the_cost_guard_sends_nothing_above_max_tasks_and_counts_only_what_is_paid(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = threaded_simulator()
    manifest, run_dir = catalog(tmp_path, rows=6), tmp_path / "run"

    assert run_cli(manifest, run_dir, "--max-tasks", "5") == 2

    assert simulator.stats()["submit_requests"] == 0 and simulator.stats()["uploads"] == 0
    assert "would make 6 paid submissions, more than max_tasks 5" in capsys.readouterr().err
    assert not run_dir.exists(), "a refused first run leaves nothing behind"
    assert run_cli(manifest, run_dir, "--max-tasks", "6") == 0
    text = manifest.read_text(encoding="utf-8").replace("on black", "on grey")
    manifest.write_text(text, encoding="utf-8")
    assert run_cli(manifest, run_dir, "--max-tasks", "1") == 0, "only the changed row is paid"


def survey_of(paid: int) -> Survey:
    return Survey(
        rows=paid,
        invalid=0,
        problems=ProblemDigest(),
        actions=Counter({Action.SUBMIT: paid}),
        unreadable=0,
        paid_by_kind=Counter({("google/nano-banana-pro-edit", None): paid}),
    )


@pytest.mark.parametrize(
    ("options", "answer", "asked", "refused"),
    [
        (LaunchOptions(interactive=True), False, True, True),
        (LaunchOptions(interactive=True), True, True, False),
        (LaunchOptions(interactive=True, assume_yes=True), False, False, False),
        # No terminal to ask: a large run refuses unless capped or told yes.
        (LaunchOptions(interactive=False), False, False, True),
        (LaunchOptions(interactive=False, assume_yes=True), False, False, False),
        (LaunchOptions(interactive=True, simulate=SimOptions()), False, False, False),
    ],
)
def test_a_large_paid_run_in_a_terminal_asks_first(
    tmp_path: Path, options: LaunchOptions, answer: bool, asked: bool, refused: bool
) -> None:
    job = load_job(catalog(tmp_path))
    questions: list[str] = []

    def confirm(question: str) -> bool:
        questions.append(question)
        return answer

    refusal = refusal_reason(job, survey_of(CONFIRM_ABOVE + 1), options, confirm)

    assert bool(questions) == asked and (refusal is not None) == refused
    assert (
        refusal_reason(job, survey_of(CONFIRM_ABOVE), LaunchOptions(interactive=True), confirm)
        is None
    )
    capped = replace(job, max_tasks=CONFIRM_ABOVE + 1)
    assert refusal_reason(capped, survey_of(CONFIRM_ABOVE + 1), LaunchOptions(), confirm) is None
    refusal = refusal_reason(job, survey_of(CONFIRM_ABOVE + 1), LaunchOptions(), confirm)
    assert refusal is not None and "--max-tasks" in refusal and "--yes" in refusal


def test_a_new_output_name_or_format_remakes_the_files_without_paying(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator()
    manifest, run_dir = catalog(tmp_path, rows=3), tmp_path / "run"
    assert run_cli(manifest, run_dir) == 0
    old_paths = {line["outputs"][0]["path"] for line in read_report(run_dir)}
    before = simulator.stats()

    renamed = ["--output-name", "{title}/{id}", "--output-format", "webp"]
    assert run_cli(manifest, run_dir, *renamed) == 0

    assert delta(simulator.stats(), before) == {
        "submits": 0,
        "submit_requests": 0,
        "polls": 0,
        "downloads": 3,
        "uploads": 0,
    }
    report = read_report(run_dir)
    for line in report:
        (output,) = line["outputs"]
        assert (
            output["path"]
            == f"outputs/{line['fields']['title'].replace(' ', '_')}/{line['id']}.webp"
        )
        assert (run_dir / output["path"]).is_file() and output["format"] == "webp"
    assert not [path for path in old_paths if (run_dir / path).exists()], "old files removed"
    before = simulator.stats()
    assert run_cli(manifest, run_dir, *renamed) == 0
    assert delta(simulator.stats(), before)["downloads"] == 0, "settled under the new names"


def test_the_problems_are_printed_before_the_question(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELLIX_API_KEY", "a-key-that-is-never-sent-1234")
    manifest = catalog(tmp_path, rows=CONFIRM_ABOVE + 2)
    with open(manifest, "a", encoding="utf-8") as handle:
        handle.write("odd-one,Odd,Put the {title} on white,photos/mug.png,7:3\n")
    job = replace(load_job(manifest), output_dir=tmp_path / "run")
    err = io.StringIO()
    seen_before_question: list[str] = []

    def confirm(question: str) -> bool:
        seen_before_question.append(err.getvalue())
        return False

    invocation = Invocation(source=manifest)
    code = launch(
        job,
        invocation,
        LaunchOptions(interactive=True),
        confirm=confirm,
        out=io.StringIO(),
        err=err,
    )

    assert code == 2
    (printed,) = seen_before_question
    assert "7:3" in printed, "the problem is shown before the question"


def test_a_manifest_re_saved_in_decomposed_unicode_pays_nothing_again(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator()
    write_image(tmp_path / "photos" / "café.png", colour="red")
    # A file whose name was written decomposed (as macOS writes names) is found too.
    write_image(tmp_path / "photos" / unicodedata.normalize("NFD", "crème.png"), colour="navy")
    records = [
        {
            "id": f"{name}-{n}",
            "title": "Crème brûlée",
            "prompt": "Put the {title} on white",
            "image": f"photos/{photo}",
            "aspect_ratio": "1:1",
        }
        for n, (name, photo) in enumerate([("café", "café.png"), ("crème", "crème.png")] * 2)
    ]
    manifest = write_csv(tmp_path / "catalog.csv", records)
    run_dir = tmp_path / "run"
    assert run_cli(manifest, run_dir) == 0
    before = simulator.stats()
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(unicodedata.normalize("NFD", text), encoding="utf-8")
    assert unicodedata.normalize("NFD", text) != text

    assert run_cli(manifest, run_dir) == 0

    assert delta(simulator.stats(), before)["submit_requests"] == 0, "nothing paid again"
    report = read_report(run_dir)
    assert [line["id"] for line in report] == ["café-0", "crème-1", "café-2", "crème-3"]
    assert all(line["prompt"] == "Put the Crème brûlée on white" for line in report)
