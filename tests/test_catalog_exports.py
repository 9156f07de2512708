"""The messy catalog export in jobs/shopify validates and runs without being edited."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support import ThreadedSimulator, read_report

from batchedit.cli import main
from batchedit.manifest.job import iter_rows, load_job
from batchedit.records import Row

SHOPIFY_JOB = Path(__file__).resolve().parent.parent / "jobs" / "shopify" / "job.yaml"
SKUS = ["MUG-ENM-RED", "MUG-ENM-TEA", "HAT-MER-FOR", "HAT-MER-CRM", "LMP-ARC-BRS", "TOTE-CNV-L"]


def test_the_export_really_is_messy() -> None:
    raw = (SHOPIFY_JOB.parent / "products_export.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    assert raw.split(b"\r\n", 1)[0].count(b";") > 5 and b"," not in raw.split(b"\r\n", 1)[0]
    assert b'"<p>Speckled enamel; holds 350 ml.</p>\n<p>' in raw


def test_shopify_export_validates_unedited(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(SHOPIFY_JOB)]) == 0
    assert capsys.readouterr().out == f"{SHOPIFY_JOB}: 6 rows, all valid\n"
    rows = list(iter_rows(load_job(SHOPIFY_JOB)))
    assert all(isinstance(row, Row) for row in rows)
    assert [row.id for row in rows] == SKUS
    first = rows[0]
    assert isinstance(first, Row)
    assert first.fields["Body (HTML)"] == (
        "<p>Speckled enamel; holds 350 ml.</p>\n<p>Dishwasher safe.</p>"
    )
    assert first.fields["Variant Price"] == "14,90"
    assert first.request.prompt.startswith("Studio product photo of the enamel-mug (Colour: Red)")


def test_shopify_export_runs_unedited(
    tmp_path: Path, threaded_simulator: Callable[..., ThreadedSimulator]
) -> None:
    simulator = threaded_simulator()
    run_dir = tmp_path / "run"
    argv = ["run", str(SHOPIFY_JOB), "--out", str(run_dir), "--poll-interval", "0.01"]
    assert main([*argv, "--no-progress"]) == 0
    report = read_report(run_dir)
    assert [line["id"] for line in report] == SKUS
    assert all(line["status"] == "succeeded" for line in report)
    paths = [line["outputs"][0]["path"] for line in report]
    assert paths[0] == "outputs/enamel-mug/MUG-ENM-RED.webp"
    assert all((run_dir / path).is_file() and path.endswith(".webp") for path in paths)
    assert simulator.stats()["submits"] == len(SKUS)
