"""Every model family end to end against the simulator: each body exactly what the
catalogue says, multi-output rows with all their files, the official CLI's
JSONL batch file, `batchedit models --json`, `models refresh` into the cache,
and the cost guard counting images where a task makes several."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import ThreadedSimulator, read_report, write_csv

from batchedit.api.schemas import schema_url
from batchedit.catalogue import current_catalogue, packaged_catalogue, schema_cache_dir
from batchedit.catalogue.schema import schema_of
from batchedit.catalogue.store import SCHEMA_BASE_URL, write_cached_schema
from batchedit.cli import main
from batchedit.manifest.job import iter_rows, load_job
from batchedit.origins import SIMULATE
from batchedit.pipeline.launch import confirm_question
from batchedit.pipeline.plan.planning import survey
from batchedit.records import InvalidRow, Row
from batchedit.state.fingerprint import FileDigests
from batchedit.state.rundir import RunPaths

FAST = ["--poll-interval", "0.01", "--no-progress"]
A, B = "https://cdn.example.com/a.png", "https://cdn.example.com/b.png"
Simulators = Callable[..., ThreadedSimulator]

#: One row per family, and the body the catalogue says each must send.
MIXED: list[tuple[dict[str, str], dict[str, Any]]] = [
    (
        {
            "id": "google",
            "model": "google/nano-banana-pro-edit",
            "image": f"{A}|{B}",
            "aspect_ratio": "4:5",
            "resolution": "1K",
        },
        {"prompt": "edit google", "image": [A, B], "aspectRatio": "4:5", "imageSize": "1K"},
    ),
    (
        {
            "id": "seedream",
            "model": "bytedance/seedream-5.0-lite-edit",
            "image": A,
            "param.size": "640x480",
            "param.output_format": "png",
        },
        {"prompt": "edit seedream", "image": [A], "size": "640x480", "output_format": "png"},
    ),
    (
        {
            "id": "gpt",
            "model": "openai/gpt-image-2-edit",
            "image": f"{A}|{B}",
            "param.size": "1024x1024",
            "param.quality": "high",
        },
        {"prompt": "edit gpt", "images": [A, B], "size": "1024x1024", "quality": "high"},
    ),
    (
        {
            "id": "qwen",
            "model": "alibaba/qwen-image-edit-plus",
            "image": A,
            "param.size": "512*512",
            "param.n": "2",
            "param.seed": "42",
            "param.prompt_extend": "false",
        },
        {
            "prompt": "edit qwen",
            "images": [A],
            "size": "512*512",
            "n": 2,
            "seed": 42,
            "prompt_extend": False,
        },
    ),
    (
        {
            "id": "wan",
            "model": "alibaba/wan2.7-image-edit",
            "image": A,
            "param.size": "768*768",
            "param.n": "1",
        },
        {"prompt": "edit wan", "images": [A], "size": "768*768", "n": 1},
    ),
    (
        {
            "id": "kling",
            "model": "kling/kling-v3-i2i",
            "image": A,
            "aspect_ratio": "1:1",
            "param.n": "3",
        },
        {"prompt": "edit kling", "image": A, "aspect_ratio": "1:1", "n": 3},
    ),
]


def bodies_by_prompt(simulator: ThreadedSimulator) -> dict[str, dict[str, Any]]:
    return {entry["body"]["prompt"]: entry for entry in simulator.stats()["bodies"]}


def test_a_manifest_mixing_model_families_sends_each_body_as_the_catalogue_says(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator(record_bodies=True)
    rows = [{"prompt": "edit {id}", **row} for row, _ in MIXED]
    manifest = write_csv(tmp_path / "mixed.csv", rows)
    run_dir = tmp_path / "run"

    assert main(["run", str(manifest), "--out", str(run_dir), *FAST]) == 0

    sent = bodies_by_prompt(simulator)
    for row, body in MIXED:
        entry = sent[body["prompt"]]
        assert entry["body"] == body, row["id"]
        assert entry["model"] == row["model"]
        assert entry["path"] == f"/api/v1/{row['model']}/async"
    report = {line["id"]: line for line in read_report(run_dir)}
    assert {line["status"] for line in report.values()} == {"succeeded"}
    counts = {"google": 1, "seedream": 1, "gpt": 1, "qwen": 2, "wan": 1, "kling": 3}
    for row_id, count in counts.items():
        outputs = report[row_id]["outputs"]
        names = [Path(out["path"]).name for out in outputs]
        expected = (
            [f"{row_id}.png"] if count == 1 else [f"{row_id}-{n}.png" for n in range(1, count + 1)]
        )
        assert [name.rsplit(".", 1)[0] for name in names] == [e.rsplit(".", 1)[0] for e in expected]
        assert all((run_dir / out["path"]).is_file() for out in outputs)
    assert (
        report["seedream"]["outputs"][0]["width"],
        report["seedream"]["outputs"][0]["height"],
    ) == (640, 480)
    assert [(o["width"], o["height"]) for o in report["qwen"]["outputs"]] == [(512, 512)] * 2
    assert report["qwen"]["params"] == {
        "n": 2,
        "prompt_extend": False,
        "seed": 42,
        "size": "512*512",
    }
    stats = simulator.stats()
    assert stats["submits"] == len(MIXED) and stats["downloads"] == sum(counts.values())


def test_the_official_clis_batch_jsonl_runs_as_it_is(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    simulator = threaded_simulator(record_bodies=True)
    lines: list[dict[str, Any]] = [
        {
            "modelSlug": "openai/gpt-image-2-edit",
            "body": {"prompt": "one", "images": [A], "size": "1536x1024"},
        },
        {
            "id": "named",
            "modelSlug": "google/nano-banana-2-edit",
            "body": {"prompt": "two", "image": [A, B], "aspectRatio": "8:1", "imageSize": "512"},
        },
        {
            "modelSlug": "alibaba/qwen-image-2.0-edit",
            "body": {"prompt": "three", "images": [B], "size": "2048*2048", "n": 2},
        },
    ]
    manifest = tmp_path / "batch.jsonl"
    manifest.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n", encoding="utf-8")
    run_dir = tmp_path / "run"

    assert main(["run", str(manifest), "--out", str(run_dir), *FAST]) == 0

    sent = bodies_by_prompt(simulator)
    for line in lines:
        assert sent[line["body"]["prompt"]]["body"] == line["body"]
        assert sent[line["body"]["prompt"]]["model"] == line["modelSlug"]
    report = read_report(run_dir)
    assert [line["id"] for line in report] == ["1", "named", "3"]
    assert [line["row"] for line in report] == [1, 2, 3]
    assert len(report[2]["outputs"]) == 2


def test_jsonl_problems_name_the_file_and_line(tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        "\n".join(
            [
                json.dumps(
                    {
                        "id": "a",
                        "prompt": "p",
                        "image": A,
                        "params": {"size": "9x9"},
                        "model": "openai/gpt-image-2-edit",
                    }
                ),
                "{not json",
                json.dumps(
                    {
                        "modelSlug": "kling/kling-v3-i2i",
                        "body": {"prompt": "p", "image": A, "n": 10},
                    }
                ),
                json.dumps(["a list"]),
            ]
        ),
        encoding="utf-8",
    )
    rows = list(iter_rows(load_job(manifest)))
    assert all(isinstance(row, InvalidRow) for row in rows)
    problems = [str(p) for row in rows if isinstance(row, InvalidRow) for p in row.problems]
    assert problems[0].startswith(
        f"{manifest}:1: param.size '9x9' is not allowed for openai/gpt-image-2-edit; "
        "allowed: 1024x1024, 1536x1024"
    )
    assert problems[1].startswith(f"{manifest}:2: not a JSON object")
    assert problems[2] == (
        f"{manifest}:3: param.n 10 is out of range for kling/kling-v3-i2i; "
        "allowed: a whole number from 1 to 9"
    )
    assert problems[3] == f"{manifest}:4: a line must be a JSON object, not list"


def test_models_json_parses_and_lists_every_parameter(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["ok"] is True
    slugs = [model["slug"] for model in listing["models"]]
    assert slugs == list(packaged_catalogue().models)
    assert main(["models", "alibaba/wan2.7-image-edit", "--json"]) == 0
    wan = json.loads(capsys.readouterr().out)["model"]
    assert wan["outputs"] == {
        "count": 4,
        "param": "n",
        "max": 4,
        "at_most": False,
        "bills_per_output": True,
    }
    assert {p["column"] for p in wan["params"]} == {
        "param.size",
        "param.n",
        "param.seed",
        "param.thinking_mode",
    }
    assert wan["output_size"]["rule"] == "size_param"
    assert main(["models", "google/nano-banana-pro-edit", "--json"]) == 0
    size = json.loads(capsys.readouterr().out)["model"]["output_size"]
    assert size["rule"] == "ratio_grid" and size["grid"]["1K"]["21:9"] == "1584x672"
    assert size["source"].startswith("https://ai.google.dev/") and size["as_of"]
    assert main(["models", "acme/nope", "--json"]) == 2
    error = json.loads(capsys.readouterr().out)
    assert error["ok"] is False and error["error"]["exit_code"] == 2


def test_models_refresh_against_the_simulator_fills_its_own_cache_and_validation_prefers_it(
    tmp_path: Path,
    threaded_simulator: Simulators,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    simulator = threaded_simulator()
    assert main(["models", "refresh", "--base-url", simulator.base_url]) == 0
    folder = schema_cache_dir(origin=simulator.base_url)
    assert folder.parent == tmp_path / "cache" / "batchedit" / "schemas" / "origins"
    cached = sorted(path.name for path in folder.glob("*.json"))
    assert cached == sorted(
        slug.replace("/", "--") + ".json" for slug in packaged_catalogue().models
    )
    entry = json.loads((folder / "openai--gpt-image-2-edit.json").read_text(encoding="utf-8"))
    assert entry["schema"] == schema_of(
        packaged_catalogue().models["openai/gpt-image-2-edit"], simulator.base_url
    )
    sim_rules = current_catalogue(origin=simulator.base_url).models.values()
    assert all(spec.source == "cached schema" for spec in sim_rules)
    assert all(spec.source == "packaged" for spec in current_catalogue().models.values())
    capsys.readouterr()

    # A newer published schema wins over the packaged data; an older one does not.
    folder = schema_cache_dir()  # the real model pages' schemas: those validation reads
    gpt = packaged_catalogue().models["openai/gpt-image-2-edit"]
    document = schema_of(gpt)
    document["components"]["schemas"]["EditRequest"]["properties"]["size"]["enum"].append(
        "4096x4096"
    )
    row = {"id": "a", "prompt": "p", "image": A, "model": gpt.slug, "param.size": "4096x4096"}
    manifest = write_csv(tmp_path / "m.csv", [row])
    published = schema_url(SCHEMA_BASE_URL, gpt.slug)
    write_cached_schema(folder, gpt.slug, document, "2099-01-01T00:00:00Z", published)
    [checked] = iter_rows(load_job(manifest))
    assert isinstance(checked, Row) and checked.request.params() == {"size": "4096x4096"}
    write_cached_schema(folder, gpt.slug, document, "2001-01-01T00:00:00Z", published)
    [checked] = iter_rows(load_job(manifest))
    assert isinstance(checked, InvalidRow)
    assert main(["models", gpt.slug]) == 0
    assert "rules: the packaged data, checked" in capsys.readouterr().out


def test_models_refresh_offline_says_validation_keeps_the_packaged_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert main(["models", "refresh", "--base-url", "http://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err
    assert "validation uses the packaged data" in err
    assert all(spec.source == "packaged" for spec in current_catalogue().models.values())
    # Plain http to a host on the network is refused, as for the API origin.
    assert main(["models", "refresh", "--base-url", "http://example.com"]) == 2


def test_the_plan_counts_paid_images_and_the_question_names_them(tmp_path: Path) -> None:
    rows = [
        {"id": f"wan-{n}", "prompt": "p", "image": A, "model": "alibaba/wan2.7-image-edit"}
        for n in range(30)
    ]
    rows.append({"id": "single", "prompt": "p", "image": A, "model": "google/nano-banana-edit"})
    job = load_job(write_csv(tmp_path / "m.csv", rows))
    planned = survey(job, RunPaths(tmp_path / "run"), FileDigests(), origin=SIMULATE)
    assert (planned.paid_submissions, planned.paid_images) == (31, 121)
    assert planned.multi_output_rows == 30 and planned.paid_units == 121
    question = confirm_question(planned)
    assert question.startswith(
        "This run will make 31 paid submissions to the Modellix API "
        "making 121 paid images (30 row(s)"
    )
    assert "n > 1" in question


def test_the_compare_sample_job_runs_both_models_side_by_side(tmp_path: Path) -> None:
    job = Path(__file__).parent.parent / "jobs" / "compare" / "job.yaml"
    run_dir = tmp_path / "compare"
    simulate = ["--simulate", "--sim-latency", "0-0.02"]
    assert main(["run", str(job), *simulate, "--out", str(run_dir), *FAST]) == 0
    report = read_report(run_dir)
    models = {line["model"] for line in report}
    assert models == {"google/nano-banana-pro-edit", "bytedance/seedream-5.0-lite-edit"}
    for line in report:
        (output,) = line["outputs"]
        kept = output["original"]
        assert kept is None or kept["c2pa"], "only a C2PA original is kept beside"
        seedream = line["model"].startswith("bytedance/")
        assert (output["width"], output["height"]) == ((1024, 1280) if seedream else (928, 1152))
        assert output["path"].startswith(f"outputs/{line['fields']['sku']}/")


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    line=st.dictionaries(
        st.sampled_from(["id", "prompt", "image", "model", "params", "modelSlug", "body", "x"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=8),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=5), inner, max_size=3)
            ),
            max_leaves=6,
        ),
        max_size=6,
    )
)
def test_any_json_object_line_is_a_row_or_that_lines_problem(
    tmp_path: Path, line: dict[str, Any]
) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n" + json.dumps(line) + "\n", encoding="utf-8")
    [row] = iter_rows(load_job(manifest))
    assert row.line == 2
    if isinstance(row, InvalidRow):
        assert all(
            problem.line == 2 and str(problem).startswith(f"{manifest}:2: ")
            for problem in row.problems
        )
