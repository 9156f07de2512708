"""The failed rows as a fix list (issue 29.5): the manifest's own columns only,
so the column a user edits is the one the next run reads; a `problem` column
saying why; paths relative to the list's folder; the commands printed with
the job's column mapping run as printed; nothing to fix, no file. And
`decisions --import` takes the good lines of a sheet, one line per problem."""

from __future__ import annotations

import csv
import json
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest
from support import ThreadedSimulator, make_mixed_catalog, read_report, run_cli, write_csv

from batchedit.cli import main

Simulators = Callable[..., ThreadedSimulator]


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or ()), list(reader)


def shop_export(folder: Path) -> Path:
    """A shop's export, read through the job's `columns:` (id: Handle, image: Image Src)."""
    photos = make_mixed_catalog(folder / "shop").parent / "photos"
    rows = [
        {"Handle": "mug", "Title": "Blue Mug", "Image Src": "shop/photos/mug.png", "SKU": "M-1"},
        {"Handle": "cup", "Title": "Red Cup", "Image Src": "shop/photos/cup.png", "SKU": "C-1"},
        {"Handle": "cap", "Title": "Cap", "Image Src": "shop/photos/cap.png", "SKU": "K-1"},
    ]
    assert (photos / "mug.png").is_file() and not (photos / "cup.png").exists()
    write_csv(folder / "export.csv", rows)
    job = folder / "job.yaml"
    job.write_text(
        "manifest: export.csv\noutput_dir: run\n"
        "columns:\n  id: Handle\n  image: Image Src\n"
        "defaults:\n  prompt: 'Put the {Title} on white'\n  aspect_ratio: '4:5'\n",
        encoding="utf-8",
    )
    return job


def printed_command(out: str, label: str) -> list[str]:
    """The arguments of the `check:` or `run:` line `report --failed-csv` printed."""
    (line,) = [line for line in out.splitlines() if line.strip().startswith(f"{label}:")]
    words = shlex.split(line.split(":", 1)[1])
    assert words[0] == "batchedit"
    return words[1:]


def test_the_fix_list_has_the_manifests_columns_a_problem_and_runs_as_printed(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    job = shop_export(tmp_path)
    simulator = threaded_simulator(fail_rate=1.0)
    assert main(["run", str(job), "--no-progress", "--poll-interval", "0.01"]) == 1
    capsys.readouterr()

    fix = tmp_path / "fixes" / "catalog.csv"  # another folder: paths must follow
    assert main(["report", str(tmp_path / "run"), "--failed-csv", str(fix)]) == 0
    out = capsys.readouterr().out
    header, rows = read_csv(fix)
    assert header == ["problem", "Handle", "Title", "Image Src", "SKU", "prompt", "aspect_ratio"]
    assert [row["Handle"] for row in rows] == ["mug", "cup", "cap"]
    mug, cup, cap = rows
    assert mug["problem"].startswith("failed (task_failed): ")
    assert cup["problem"].startswith("invalid (invalid_input): ") and "cup.png" in cup["problem"]
    assert cup["Image Src"] == "../shop/photos/cup.png", "relative to the fix list's folder"
    assert mug["prompt"] == "Put the {Title} on white", "the job's default, a template still"

    check = printed_command(out, "check")
    assert check[:2] == ["validate", str(fix)]
    assert check[2:] == ["--column", "id=Handle", "--column", "image=Image Src"]
    assert main(check) == 2  # cup.png is still missing: the problem stands
    assert "cup.png" in capsys.readouterr().out

    # The fix, in the column the user knows: the next run reads that one.
    cup["Image Src"] = "../shop/photos/cap.png"
    write_csv(fix, rows)
    assert main(check) == 0, "the problem column is accepted as any other column"
    capsys.readouterr()

    before = simulator.stats()["submits"]
    threaded_simulator()  # a healthy service this time
    run = printed_command(out, "run")
    assert run[:2] == ["run", str(fix)] and "--column" in run
    assert main([*run, "--no-progress", "--poll-interval", "0.01"]) == 0
    rerun = read_report(Path(run[run.index("--out") + 1]))
    assert [line["id"] for line in rerun] == ["mug", "cup", "cap"]
    assert rerun[1]["images"] == ["../shop/photos/cap.png"]
    assert rerun[1]["prompt"] == "Put the Red Cup on white"
    assert before == 2, "the first run paid for the two valid rows"


def test_nothing_to_fix_writes_no_file_and_says_so(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    threaded_simulator()
    manifest = make_mixed_catalog(tmp_path, rows=2)
    _, rows = read_csv(manifest)
    good = write_csv(tmp_path / "good.csv", rows[:2])
    run_dir = tmp_path / "run"
    assert run_cli(good, run_dir) == 0
    capsys.readouterr()
    fix = tmp_path / "fix.csv"
    assert main(["report", str(run_dir), "--failed-csv", str(fix)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("nothing to fix: ") and "no file written" in line
    assert not fix.exists()


def test_decisions_import_takes_the_good_lines_one_problem_per_line(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    threaded_simulator()
    manifest = make_mixed_catalog(tmp_path, rows=3)  # 3 results, then 2 invalid rows
    run_dir = tmp_path / "run"
    assert run_cli(manifest, run_dir) == 1
    capsys.readouterr()
    ids = [line["id"] for line in read_report(run_dir)]
    # "approved" filled down the whole column, and one typo.
    lines = [{"id": row_id, "decision": "approved", "note": ""} for row_id in ids]
    lines[1]["decision"] = "aproved"
    sheet = write_csv(tmp_path / "decisions.csv", lines)

    assert main(["decisions", str(run_dir), "--import", str(sheet)]) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"batchedit: warning: {sheet}:3: decision: 'aproved' is not one of approved, "
        "rejected; line skipped",
        f"batchedit: warning: {sheet}:5: id: row 'bad-ratio' has no result to decide on; "
        "line skipped",
        f"batchedit: warning: {sheet}:6: id: row 'no-photo' has no result to decide on; "
        "line skipped",
    ]
    assert "2 decision(s) recorded" in captured.out and "3 skipped" in captured.out
    with open(run_dir / "decisions.jsonl", encoding="utf-8") as handle:
        recorded = {json.loads(line)["id"]: json.loads(line)["decision"] for line in handle}
    assert recorded == {"sku-000": "approved", "sku-002": "approved"}

    lines[1]["decision"] = "approved"  # fixed; the rest repeat what is in force
    write_csv(sheet, lines[:3])
    assert main(["decisions", str(run_dir), "--import", str(sheet)]) == 0
    assert "1 decision(s) recorded" in capsys.readouterr().out
