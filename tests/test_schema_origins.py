"""Caches kept apart (issue 29.8): `models refresh --base-url` at a simulator,
as the docs show, caches that origin's schemas in a folder of its own, and
they never change how runs against the real service are validated, even
when an older batchedit left them in the real cache."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from support import ThreadedSimulator, write_csv

from batchedit.api.schemas import schema_url
from batchedit.catalogue import current_catalogue, packaged_catalogue, schema_cache_dir
from batchedit.catalogue.schema import schema_of
from batchedit.catalogue.store import write_cached_schema
from batchedit.cli import main

Simulators = Callable[..., ThreadedSimulator]
GPT = "openai/gpt-image-2-edit"
WIDER = "4096x4096"  # a size the packaged rules refuse


def wider_schema(base_url: str) -> dict[str, object]:
    """The model's published schema, as a simulator's might differ: one more size."""
    document = schema_of(packaged_catalogue().models[GPT], base_url)
    size = document["components"]["schemas"]["EditRequest"]["properties"]["size"]
    size["enum"].append(WIDER)
    return document


def test_a_refresh_from_a_simulator_is_kept_apart_from_the_real_rules(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = threaded_simulator()
    row = {"id": "a", "prompt": "p", "image": "https://cdn.example.com/a.png", "model": GPT}
    manifest = write_csv(tmp_path / "m.csv", [{**row, "param.size": WIDER}])

    assert main(["models", "refresh", "--base-url", simulator.base_url]) == 0
    out = capsys.readouterr().out
    port = simulator.base_url.rsplit(":", 1)[1]
    apart = schema_cache_dir() / "origins" / f"http_127.0.0.1_{port}"
    assert f"cache: {apart}" in out and "never change the validation of runs" in out
    assert len(list(apart.glob("*.json"))) == len(packaged_catalogue().models)
    assert not list(schema_cache_dir().glob("*.json")), "the real cache untouched"

    # The simulator's schema says more than the real rules: only its listing shows it.
    document = wider_schema(simulator.base_url)
    source = schema_url(simulator.base_url, GPT)
    write_cached_schema(apart, GPT, document, "2099-01-01T00:00:00Z", source)
    assert main(["models", GPT, "--base-url", simulator.base_url, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["model"]
    assert listed["source"] == "cached schema"
    assert WIDER in next(p for p in listed["params"] if p["name"] == "size")["values"]
    assert main(["models", GPT, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"]["source"] == "packaged"
    assert main(["validate", str(manifest)]) == 2, "validation keeps the real rules"
    assert WIDER in capsys.readouterr().out

    # A cache an older batchedit filled from the simulator, in the real folder:
    # its entries name where they came from, and are not used.
    write_cached_schema(schema_cache_dir(), GPT, document, "2099-01-01T00:00:00Z", source)
    assert current_catalogue().models[GPT].source == "packaged"
    assert main(["validate", str(manifest)]) == 2
    assert WIDER in capsys.readouterr().out
