"""One deliverable per output (issue 25): a result carrying a C2PA manifest
is kept beside the output made from it as that output's `original`, never as
an output of its own. With every result carrying one (`--c2pa-rate 1.0`),
every row lists exactly the n outputs it asked for; `export` of k approved
rows writes k files and k feed lines, `--with-originals` adds the originals
in their own folder and a feed column; the review page shows each output's
provenance on the output; older report lines that listed the original as an
output read as the attribute."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable
from pathlib import Path

from support import ThreadedSimulator, read_report, write_csv

from batchedit.cli import main
from batchedit.records import OriginalFile, OutputFile, outputs_from_json
from batchedit.report.review import load_run, provenance, write_run_page

FAST = ["--poll-interval", "0.01", "--no-progress"]
Simulators = Callable[..., ThreadedSimulator]
QWEN = "alibaba/qwen-image-edit-plus"


def catalog(folder: Path, rows: int, *, model: str | None = None, n: int = 1) -> Path:
    records = []
    for number in range(rows):
        record = {
            "id": f"sku-{number}",
            "prompt": "Put it on white",
            "image": "https://cdn.example.com/products/p.jpg",
        }
        if model is not None:
            record.update({"model": model, "param.n": str(n), "param.size": "1024*1024"})
        records.append(record)
    return write_csv(folder / "catalog.csv", records)


def test_every_row_lists_exactly_its_n_outputs_with_their_originals(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator(c2pa_rate=1.0)
    run_dir = tmp_path / "run"
    manifest = catalog(tmp_path, 4, model=QWEN, n=2)
    assert main(["run", str(manifest), "--out", str(run_dir), *FAST]) == 0
    files_written = set()
    for line in read_report(run_dir):
        outputs = line["outputs"]
        assert [o["path"] for o in outputs] == [
            f"outputs/{line['id']}-1.png",
            f"outputs/{line['id']}-2.png",
        ], "n outputs, n deliverables"
        for output in outputs:
            original = output["original"]
            assert original["path"] == output["path"].replace(".png", ".original.png")
            assert original["c2pa"] and not output["c2pa"], "the label broke the binding"
            data = (run_dir / original["path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == original["sha256"]
            assert output["label"] == "compositeWithTrainedAlgorithmicMedia"
            files_written |= {output["path"], original["path"]}
    on_disk = {f"outputs/{p.name}" for p in (run_dir / "outputs").iterdir()}
    assert on_disk == files_written
    assert simulator.stats()["downloads"] == 8


def test_export_of_k_approved_rows_writes_k_files_and_k_feed_lines(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    threaded_simulator(c2pa_rate=1.0)
    run_dir = tmp_path / "run"
    assert main(["run", str(catalog(tmp_path, 6)), "--out", str(run_dir), *FAST]) == 0
    approved = ["sku-1", "sku-2", "sku-4"]
    sheet = write_csv(
        tmp_path / "decided.csv", [{"id": row_id, "decision": "approved"} for row_id in approved]
    )
    assert main(["decisions", str(run_dir), "--import", str(sheet)]) == 0
    export = ["export", str(run_dir), "--allow-simulated", "--only", "approved", "--to"]

    shop = tmp_path / "shop"
    assert main([*export, str(shop)]) == 0
    feed = list(csv.DictReader(io.StringIO((shop / "feed.csv").read_text())))
    assert [line["id"] for line in feed] == approved
    assert [line["file"] for line in feed] == [f"{row_id}.png" for row_id in approved]
    assert "original" not in feed[0]
    assert sorted(p.name for p in shop.iterdir() if not p.name.startswith(".")) == sorted(
        [f"{row_id}.png" for row_id in approved] + ["feed.csv"]
    )

    with_originals = tmp_path / "shop-with-originals"
    assert main([*export, str(with_originals), "--with-originals"]) == 0
    feed = list(csv.DictReader(io.StringIO((with_originals / "feed.csv").read_text())))
    assert len(feed) == len(approved), "one line per output, the originals in a column"
    assert [line["original"] for line in feed] == [f"originals/{i}.png" for i in approved]
    report = {line["id"]: line for line in read_report(run_dir)}
    for line in feed:
        kept = report[line["id"]]["outputs"][0]["original"]
        data = (with_originals / line["original"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == kept["sha256"]
    assert len(list((with_originals / "originals").iterdir())) == len(approved)


def test_the_review_page_shows_each_outputs_provenance_on_the_output(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    threaded_simulator(c2pa_rate=1.0)
    run_dir = tmp_path / "run"
    assert main(["run", str(catalog(tmp_path, 2)), "--out", str(run_dir), *FAST]) == 0
    run = load_run(run_dir)
    (output,) = run.records[0].outputs
    assert provenance(output) == (
        "C2PA original kept",
        "AI label: compositeWithTrainedAlgorithmicMedia",
    )
    page = io.StringIO()
    write_run_page(page, run, {}, _NoLinks(), live=False)
    shown = "C2PA original kept · AI label: compositeWithTrainedAlgorithmicMedia"
    assert shown in page.getvalue(), "on the output's tile"


class _NoLinks:
    def to(self, path: Path) -> str | None:
        return None

    def thumb(self, thumb: object) -> str:
        return ""


def test_older_lines_listing_the_original_as_an_output_read_as_the_attribute() -> None:
    def file(path: str, c2pa: bool = False) -> dict[str, object]:
        return OutputFile(path, "ab" * 32, 10, 4, 5, path.rsplit(".", 1)[1], c2pa).to_json()

    converted = [file("outputs/a-1.webp"), file("outputs/a-1.png", c2pa=True)]
    converted += [file("outputs/a-2.webp"), file("outputs/a-2.png", c2pa=True)]
    folded = outputs_from_json(converted)
    assert [output.path for output in folded] == ["outputs/a-1.webp", "outputs/a-2.webp"]
    assert folded[0].original == OriginalFile("outputs/a-1.png", "ab" * 32, 10, True)
    relabelled = outputs_from_json([file("outputs/b.png"), file("outputs/b.original.png", True)])
    assert [o.path for o in relabelled] == ["outputs/b.png"] and relabelled[0].original
    several = outputs_from_json([file("outputs/c-1.png"), file("outputs/c-2.png")])
    assert len(several) == 2 and all(output.original is None for output in several)
