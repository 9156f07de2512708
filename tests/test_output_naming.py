"""Output names and formats: names from row fields made safe and kept inside
outputs/, Pillow conversion checked by decoding the files written, the original
kept only when asked, and a report that lists exactly the files on disk."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from support import ThreadedSimulator, read_report, write_csv, write_image

from batchedit.cli import main
from batchedit.errors import SourceError
from batchedit.fsutil import MAX_NAME_CHARS
from batchedit.manifest.job import apply_overrides, iter_rows, load_job
from batchedit.manifest.naming import OutputSpec, parse_output
from batchedit.records import InvalidRow, Row

Simulators = Callable[..., ThreadedSimulator]
FAST = ["--poll-interval", "0.01", "--no-progress"]
ESCAPES = ["../../escape", "/etc/passwd", "a\0b", "..", ".hidden", "C:\\win\\x", "x" * 400]


def assert_confined(stem: str) -> None:
    root = Path("/srv/run/outputs")
    target = Path(os.path.normpath(root / f"{stem}.png"))
    assert target.is_relative_to(root), stem
    parts = stem.split("/")
    assert all(part and not part.startswith(".") and "\0" not in part for part in parts), stem
    assert all(len(part) <= MAX_NAME_CHARS + 12 for part in parts), stem
    assert not any(is_windows_device(part) for part in parts), stem


WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL"} | {
    f"{p}{n}" for p in ("COM", "LPT") for n in range(10)
}


def is_windows_device(name: str) -> bool:
    """Whether Windows reads `name` (a file or folder, any extension) as a device."""
    return name.split(".", 1)[0].rstrip(" ").upper() in WINDOWS_DEVICES


@pytest.mark.parametrize(
    "name", ["CON", "con.png", "Aux.tar.gz", "NUL", "nul..x", "COM1", "lpt9.jpg", "PRN.", "Com0"]
)
@pytest.mark.parametrize("template", [None, "{v}", "{v}/{v}", "aux/{v}", "{v}/NUL.png"])
def test_windows_device_names_are_made_safe_in_any_segment(name: str, template: str | None) -> None:
    stem = OutputSpec(name=template).stem(name, {"v": name})
    assert_confined(stem)
    assert not any(is_windows_device(f"{part}.png") for part in stem.split("/")), stem


def test_names_that_only_look_like_devices_are_kept() -> None:
    for name in ("COM10", "CONSOLE", "icon", "nullable", "LPT", "auxiliary.png"):
        assert OutputSpec().stem(name, {}) == name


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        (None, {}, "mug-1"),
        ("{sku}", {"sku": "MUG-RED"}, "MUG-RED"),
        ("{brand}/{sku}", {"brand": "Fjell & Co.", "sku": "MUG-RED"}, "Fjell_Co./MUG-RED"),
        ("{brand}/{sku}", {"brand": "Lumen/Works", "sku": "L1"}, "Lumen_Works/L1"),
        ("shop/{id}-{size}", {"size": "XL"}, "shop/mug-1-XL"),
        ("{brand}/{sku}", {"brand": "", "sku": "S"}, "S"),  # an empty folder is dropped
    ],
)
def test_name_template_cases(template: str | None, values: dict[str, str], expected: str) -> None:
    assert OutputSpec(name=template).stem("mug-1", values) == expected


@pytest.mark.parametrize("value", ESCAPES)
@pytest.mark.parametrize("template", ["{v}", "{v}/{id}", "../{v}", "/{v}/../../{id}", "./.{v}"])
def test_escape_attempts_in_values_and_templates_stay_inside_outputs(
    template: str, value: str
) -> None:
    assert_confined(OutputSpec(name=template).stem(value, {"v": value}))
    assert_confined(OutputSpec().stem(value, {}))


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("ab/.\\\0 {}_-é")), max_size=30).map(
        lambda text: text.replace("{", "{{").replace("}", "}}")
    ),
    st.text(max_size=40),
    st.text(min_size=1, max_size=40),
)
def test_any_name_template_and_any_value_stay_inside_outputs(
    literal: str, value: str, row_id: str
) -> None:
    for template in (literal + "{v}", "{v}" + literal, literal + "{v}/{id}" + literal):
        assert_confined(OutputSpec(name=template).stem(row_id, {"v": value}))


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ({"format": "gif"}, "format must be png, jpeg or webp"),
        ({"quality": 0}, "quality must be a whole number from 1 to 100"),
        ({"name": "{sku"}, "output name template has an unbalanced"),
        ({"keep_original": "yes"}, "keep_original must be true or false"),
        ({"colour": 1}, "unknown key 'colour'"),
    ],
)
def test_bad_output_settings_say_what_is_allowed(output: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_output(output)


def test_a_bad_output_mapping_names_the_job_file_line(tmp_path: Path) -> None:
    write_csv(tmp_path / "m.csv", [{"id": "a", "prompt": "p", "image": "https://e.com/a.png"}])
    (tmp_path / "job.yaml").write_text("manifest: m.csv\noutput:\n  format: tiff\n")
    with pytest.raises(SourceError) as info:
        load_job(tmp_path / "job.yaml")
    assert info.value.line == 3 and "format must be png, jpeg or webp" in str(info.value)


def test_names_are_checked_before_anything_is_sent(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "prompt": "p", "image": "https://e.com/a.png", "sku": "MUG", "brand": "F"},
        {"id": "b", "prompt": "p", "image": "https://e.com/b.png", "sku": "mug", "brand": "F"},
        {"id": "c", "prompt": "p", "image": "https://e.com/c.png", "sku": "HAT", "brand": ""},
    ]
    manifest = write_csv(tmp_path / "m.csv", rows)
    job = apply_overrides(load_job(manifest), output={"name": "{brand}/{sku}"})
    first, second, third = iter_rows(job)
    assert isinstance(first, Row) and first.output_stem == "F/MUG"
    assert isinstance(second, InvalidRow)
    assert second.problems[0].field == "output"
    assert "output name 'outputs/F/mug' is also that of the row on line 2" in str(
        second.problems[0]
    )
    assert isinstance(third, Row) and third.output_stem == "HAT"
    job = apply_overrides(load_job(manifest), output={"name": "{colour}/{id}"})
    assert all(isinstance(row, InvalidRow) for row in iter_rows(job))


def _catalog(folder: Path) -> Path:
    write_image(folder / "mug.png", colour="red")
    rows = [
        {"id": f"row-{n}", "prompt": "on white", "image": "mug.png", "sku": f"SKU-{n}"}
        for n in range(3)
    ]
    for row in rows:
        row["brand"] = "Fjell & Co."
    return write_csv(folder / "m.csv", rows)


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def _check_report_matches_disk(run_dir: Path) -> list[dict[str, Any]]:
    listed = []
    for line in read_report(run_dir):
        assert line["status"] == "succeeded", line
        for output in line["outputs"]:
            path = run_dir / output["path"]
            data = path.read_bytes()
            assert hashlib.sha256(data).hexdigest() == output["sha256"]
            assert len(data) == output["bytes"]
            with Image.open(path) as image:
                image.load()
                assert image.format is not None
                assert image.format.lower() == output["format"]
                assert image.size == (output["width"], output["height"])
            listed.append(output)
    kept = [output["original"] for output in listed if output["original"] is not None]
    for original in kept:
        data = (run_dir / original["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == original["sha256"]
        assert len(data) == original["bytes"]
    assert {f"outputs/{name}" for name in _files(run_dir / "outputs")} == {
        str(output["path"]) for output in listed + kept
    }, "the report lists exactly the files written"
    return listed


@pytest.mark.parametrize(
    ("fmt", "ext", "pillow"), [("webp", "webp", "WEBP"), ("jpeg", "jpg", "JPEG")]
)
def test_converted_outputs_decode_in_the_requested_format(
    tmp_path: Path, threaded_simulator: Simulators, fmt: str, ext: str, pillow: str
) -> None:
    threaded_simulator()
    manifest = _catalog(tmp_path)
    run_dir = tmp_path / "run"
    argv = ["run", str(manifest), "--out", str(run_dir), *FAST, "--output-name", "{brand}/{sku}"]
    assert main([*argv, "--output-format", fmt, "--quality", "80"]) == 0
    listed = _check_report_matches_disk(run_dir)
    assert sorted(str(o["path"]) for o in listed) == [
        f"outputs/Fjell_Co./SKU-{n}.{ext}" for n in range(3)
    ]
    for output in listed:
        with Image.open(run_dir / str(output["path"])) as image:
            assert image.format == pillow and image.mode == "RGB"


def test_the_original_is_kept_only_when_asked(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    threaded_simulator()
    manifest = _catalog(tmp_path)
    job = tmp_path / "job.yaml"
    job.write_text(
        "manifest: m.csv\noutput:\n  name: '{sku}'\n  format: webp\n  keep_original: true\n"
    )
    assert main(["run", str(job), "--out", str(tmp_path / "kept"), *FAST]) == 0
    listed = _check_report_matches_disk(tmp_path / "kept")
    assert [o["path"] for o in listed] == [f"outputs/SKU-{n}.webp" for n in range(3)]
    originals = [o["original"]["path"] for o in listed]
    assert originals == [f"outputs/SKU-{n}.original.png" for n in range(3)], "attributes"

    assert main(["run", str(manifest), "--out", str(tmp_path / "plain"), *FAST]) == 0
    assert _files(tmp_path / "plain" / "outputs") == {f"row-{n}.png" for n in range(3)}
    same = ["--output-format", "png"]
    assert main(["run", str(manifest), "--out", str(tmp_path / "same"), *FAST, *same]) == 0
    assert _files(tmp_path / "same" / "outputs") == {f"row-{n}.png" for n in range(3)}


def test_hostile_ids_and_names_write_only_inside_outputs(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    threaded_simulator()
    job_dir = tmp_path / "job"
    write_image(job_dir / "mug.png")
    ids = ["../../escape", "/etc/passwd", "a\\0b", "..", ".hidden", "x" * 300, "CON.png", "aux/NUL"]
    rows = "".join(
        f'- {{id: "{row_id}", sku: "{row_id}", prompt: p, image: mug.png}}\n' for row_id in ids
    )
    (job_dir / "m.yaml").write_text(rows)
    before = _files(tmp_path)
    run_dir = job_dir / "run"
    for template in ("{id}", "../{sku}/{id}"):
        out = run_dir / template.replace("/", "_").replace(".", "").strip("{}")
        assert (
            main(
                [
                    "run",
                    str(job_dir / "m.yaml"),
                    "--out",
                    str(out),
                    *FAST,
                    "--output-name",
                    template,
                ]
            )
            == 0
        )
        report = read_report(out)
        assert [line["id"] for line in report] == [i.replace("\\0", "\0") for i in ids]
        _check_report_matches_disk(out)
        written = [path.relative_to(out / "outputs") for path in (out / "outputs").rglob("*")]
        assert not [path for path in written if any(map(is_windows_device, path.parts))]
    after = {name for name in _files(tmp_path) - before}
    assert all(name.startswith("job/run/") for name in after), after
