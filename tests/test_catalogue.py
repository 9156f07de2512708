"""The catalogue as data: every model of the issue loads, every parameter rule
refuses a bad value naming what it allows and takes a good one, the size
checks hold for any W and H, and the body is built under each model's names."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import write_csv, write_image

from batchedit.catalogue import (
    ModelSpec,
    ParamKind,
    ParamSpec,
    SizeRule,
    build_body,
    check_body,
    check_size,
    check_value,
    output_pixel_size,
    outputs_for,
    packaged_catalogue,
    parse_size,
)
from batchedit.catalogue.schema import schema_of, spec_with_schema
from batchedit.manifest.job import apply_overrides, iter_rows, load_job
from batchedit.records import InvalidRow, Row

CDN = "https://cdn.example.com/a.png"
ISSUE_MODELS = {
    "google/nano-banana-pro-edit",
    "google/nano-banana-2-edit",
    "google/nano-banana-2-lite-edit",
    "google/nano-banana-edit",
    "bytedance/seedream-5.0-lite-edit",
    "bytedance/seedream-4.5-i2i",
    "openai/gpt-image-2-edit",
    "openai/gpt-image-1.5-edit",
    "alibaba/qwen-image-2.0-edit",
    "alibaba/qwen-image-2.0-pro-edit",
    "alibaba/qwen-image-edit-plus",
    "alibaba/wan2.7-image-edit",
    "kling/kling-v3-i2i",
}
CATALOGUE = packaged_catalogue()


def spec(slug: str) -> ModelSpec:
    found = CATALOGUE.find(slug)
    assert found is not None, slug
    return found


def test_every_model_of_the_issue_is_catalogued_with_its_submit_path() -> None:
    assert set(CATALOGUE.models) == ISSUE_MODELS
    for model in CATALOGUE.models.values():
        assert model.submit_path == f"/api/v1/{model.slug}/async"
        assert model.images.field in ("image", "images")
        assert set(model.friendly.values()) <= set(model.params), model.slug


def test_what_the_docs_leave_open_stays_open_in_the_data() -> None:
    lite = spec("google/nano-banana-2-lite-edit")
    assert lite.params["aspectRatio"].choices is None  # "?": the service decides
    assert spec("google/nano-banana-pro-edit").params["imageSize"].default is None
    assert spec("alibaba/qwen-image-edit-plus").outputs.count is None  # n's default: "?"
    assert spec("alibaba/wan2.7-image-edit").outputs.count == 4  # the documented cost trap
    assert not spec("alibaba/qwen-image-2.0-edit").images.field_documented
    assert spec("kling/kling-v3-i2i").output_size.rule == "unknown"


def test_the_published_schema_round_trips_through_the_spec() -> None:
    for model in CATALOGUE.models.values():
        again = spec_with_schema(model, schema_of(model), "2030-01-01T00:00:00Z")
        assert again.source == "cached schema" and again.as_of == "2030-01-01"
        expected = dataclasses.replace(
            model, images=dataclasses.replace(model.images, field_documented=True)
        )
        assert dataclasses.replace(again, source=model.source, as_of=model.as_of) == expected


def good_and_bad(param: ParamSpec) -> tuple[str, str | None]:
    """A value the rule takes and one it must refuse (None: the rule refuses nothing)."""
    kind = param.kind
    if kind is ParamKind.ENUM:
        if param.choices is None:
            return "anything", None
        return param.choices[-1], "not-a-choice"
    if kind is ParamKind.INTEGER:
        low = int(param.minimum) if param.minimum is not None else 0
        high = param.maximum
        return str(low), (str(int(high) + 1) if high is not None else "1.5")
    if kind is ParamKind.BOOLEAN:
        return "false", "maybe"
    if kind is ParamKind.SIZE:
        assert param.size is not None
        rule, sep = param.size, param.size.separator
        good = f"2048{sep}2048"
        bad = f"2048{'*' if sep == 'x' else 'x'}2048"
        if rule.max_pixels is not None:
            bad = f"9000{sep}9000"
        return good, bad
    if kind is ParamKind.STRING:
        return "blurry", ("x" * (param.max_chars + 1) if param.max_chars else None)
    return "1", None


def param_cases() -> list[tuple[str, str]]:
    return [(m.slug, name) for m in CATALOGUE.models.values() for name in m.params]


@pytest.mark.parametrize(("slug", "name"), param_cases())
def test_each_parameter_rule_takes_a_good_value_and_refuses_a_bad_one_naming_what_it_allows(
    tmp_path: Path, slug: str, name: str
) -> None:
    param = spec(slug).params[name]
    good, bad = good_and_bad(param)
    rows = [{"id": "good", "prompt": "p", "image": CDN, "model": slug, f"param.{name}": good}]
    if bad is not None:
        rows.append({"id": "bad", "prompt": "p", "image": CDN, "model": slug, f"param.{name}": bad})
    manifest = write_csv(tmp_path / "m.csv", rows)
    checked = list(iter_rows(load_job(manifest)))
    assert isinstance(checked[0], Row), checked[0]
    sent = checked[0].request.params()[name]
    assert sent == check_value(param, good)  # typed: "3" -> 3, "false" -> False
    if bad is None:
        return
    refused = checked[1]
    assert isinstance(refused, InvalidRow)
    [problem] = refused.problems
    assert problem.line == 3 and problem.field == f"param.{name}"
    assert problem.message.startswith(f"param.{name} ")
    assert slug in problem.message
    if param.choices:
        assert "allowed: " + ", ".join(param.choices) in problem.message
    elif param.maximum is not None:
        assert f"to {int(param.maximum)}" in problem.message
    elif param.max_chars is not None:
        assert f"at most {param.max_chars}" in problem.message
    elif param.size is not None:
        assert f"W{param.size.separator}H" in problem.message


def test_an_unknown_parameter_of_a_known_model_is_invalid_and_names_the_one_meant(
    tmp_path: Path,
) -> None:
    row = {"id": "a", "prompt": "p", "image": CDN, "model": "openai/gpt-image-2-edit"}
    manifest = write_csv(tmp_path / "m.csv", [{**row, "param.qualty": "high"}])
    [checked] = iter_rows(load_job(manifest))
    assert isinstance(checked, InvalidRow)
    assert [p.message for p in checked.problems] == [
        "unknown parameter 'param.qualty' for openai/gpt-image-2-edit; "
        "did you mean 'param.quality'?"
    ]
    manifest = write_csv(tmp_path / "m.csv", [{**row, "param.style": "vivid"}])
    [checked] = iter_rows(load_job(manifest))  # nothing near: the parameters there are
    assert isinstance(checked, InvalidRow)
    assert [p.message for p in checked.problems] == [
        "unknown parameter 'param.style' for openai/gpt-image-2-edit; "
        "its parameters: param.size, param.quality"
    ]


def test_friendly_fields_map_to_each_models_own_names_or_are_refused(tmp_path: Path) -> None:
    base = {"id": "a", "prompt": "p", "image": CDN, "aspect_ratio": "16:9", "resolution": "2K"}
    rows = [
        {**base, "id": "google", "model": "google/nano-banana-pro-edit"},
        {**base, "id": "kling", "model": "kling/kling-v3-i2i", "resolution": "2k"},
        {**base, "id": "seedream", "model": "bytedance/seedream-5.0-lite-edit"},
        {**base, "id": "both", "model": "google/nano-banana-pro-edit", "param.aspectRatio": "1:1"},
    ]
    google, kling, seedream, both = iter_rows(load_job(write_csv(tmp_path / "m.csv", rows)))
    assert isinstance(google, Row) and isinstance(kling, Row)
    assert google.request.params() == {"aspectRatio": "16:9", "imageSize": "2K"}
    assert kling.request.params() == {"aspect_ratio": "16:9", "resolution": "2k"}
    assert isinstance(seedream, InvalidRow)
    assert seedream.problems[0].message.startswith(
        "aspect_ratio is not a parameter of bytedance/seedream-5.0-lite-edit; "
        "its parameters: param.size,"
    )
    assert isinstance(both, InvalidRow)
    assert "aspect_ratio and param.aspectRatio both set aspectRatio" in both.problems[0].message


def test_an_allowed_unknown_model_passes_its_parameters_unchecked(tmp_path: Path) -> None:
    row = {"id": "a", "prompt": "p", "image": CDN, "model": "acme/paint"}
    params = {"param.steps": "30", "param.style": "ink", "param.hdr": "true", "param.cfg": "7.5"}
    manifest = write_csv(tmp_path / "m.csv", [{**row, **params}])
    [checked] = iter_rows(apply_overrides(load_job(manifest), allow_models=["acme/paint"]))
    assert isinstance(checked, Row)
    assert checked.request.params() == {"cfg": 7.5, "hdr": True, "steps": 30, "style": "ink"}


def test_yaml_params_and_job_defaults_params_are_the_same_as_columns(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(
        "defaults:\n  model: alibaba/qwen-image-edit-plus\n  params: {n: 2, seed: 7}\n"
        "rows:\n"
        f"  - {{id: a, prompt: p, image: {CDN}, params: {{size: '1024*1024', seed: 9}}}}\n"
        f"  - {{id: b, prompt: p, image: {CDN}, params: {{n: 9}}}}\n",
        encoding="utf-8",
    )
    (tmp_path / "job.yaml").write_text(
        "manifest: m.yaml\ndefaults:\n  params:\n    prompt_extend: false\n", encoding="utf-8"
    )
    first, second = iter_rows(load_job(tmp_path / "job.yaml"))
    assert isinstance(first, Row)
    assert first.request.params() == {
        "n": 2,
        "prompt_extend": False,
        "seed": 9,
        "size": "1024*1024",
    }
    assert isinstance(second, InvalidRow)
    assert [(p.line, p.message) for p in second.problems] == [
        (
            6,
            "param.n 9 is out of range for alibaba/qwen-image-edit-plus; "
            "allowed: a whole number from 1 to 6",
        )
    ]


def test_the_body_carries_prompt_and_images_under_each_models_field_names() -> None:
    urls = ["https://x/a.png"]
    assert build_body(spec("openai/gpt-image-2-edit"), "p", urls, {"size": "1024x1024"}) == {
        "prompt": "p",
        "images": urls,
        "size": "1024x1024",
    }
    assert build_body(spec("kling/kling-v3-i2i"), "p", urls, {"n": 2}) == {
        "prompt": "p",
        "image": "https://x/a.png",
        "n": 2,
    }
    for model in CATALOGUE.models.values():  # what build_body makes, check_body takes
        body = build_body(model, "p", urls, {})
        assert check_body(model, body).images == tuple(urls)


def test_outputs_follow_n_and_seedreams_sequential_mode() -> None:
    wan, qwen = spec("alibaba/wan2.7-image-edit"), spec("alibaba/qwen-image-edit-plus")
    seedream = spec("bytedance/seedream-5.0-lite-edit")
    assert outputs_for(wan, {}).count == 4 and outputs_for(wan, {"n": 1}).count == 1
    assert outputs_for(qwen, {}).count is None and outputs_for(qwen, {}).planned == 1
    assert outputs_for(seedream, {}).count == 1
    auto = outputs_for(seedream, {"sequential_image_generation": "auto"})
    assert (auto.count, auto.at_most) == (15, True)


@given(
    width=st.integers(min_value=1, max_value=20000),
    height=st.integers(min_value=1, max_value=20000),
    separator=st.sampled_from(["x", "*"]),
)
def test_size_checks_hold_for_any_width_and_height(width: int, height: int, separator: str) -> None:
    rule = SizeRule(
        separator, min_pixels=3686400, max_pixels=16777216, min_aspect=1 / 16, max_aspect=16
    )
    text = f"{width}{separator}{height}"
    assert parse_size(text, separator) == (width, height)
    pixels, aspect = width * height, width / height
    fits = 3686400 <= pixels <= 16777216 and 1 / 16 <= aspect <= 16
    try:
        assert check_size(rule, text) == (width, height)
        assert fits
    except ValueError as exc:
        assert not fits
        assert "allowed: W" + separator + "H in pixels" in str(exc)
    other = "*" if separator == "x" else "x"
    with pytest.raises(ValueError, match=rf"not W\{other}H" if other == "*" else "not WxH"):
        check_size(rule, f"{width}{other}{height}")


@given(text=st.text(max_size=30))
def test_any_text_is_a_size_or_a_clear_refusal(text: str) -> None:
    rule = SizeRule("x", keywords=("1K", "2K"))
    try:
        size = check_size(rule, text)
    except ValueError as exc:
        assert "allowed: WxH in pixels" in str(exc)
        return
    assert size is None and text in ("1K", "2K") or size == parse_size(text, "x")


def test_the_packaged_data_files_are_plain_json_one_per_model() -> None:
    folder = Path(__file__).parent.parent / "batchedit" / "catalogue" / "data"
    files = sorted(folder.glob("*.json"))
    assert len(files) == len(ISSUE_MODELS)
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        assert path.name == data["slug"].replace("/", "--") + ".json"


def test_image_rules_of_a_model_are_checked_before_sending(tmp_path: Path) -> None:
    big = write_image(tmp_path / "big.png")  # decodable; zeros after its end make it big
    big.write_bytes(big.read_bytes() + b"\0" * 10_000_001)
    rows = [
        {
            "id": "data",
            "prompt": "p",
            "image": "data:image/png;base64,AAAA",
            "model": "openai/gpt-image-2-edit",
        },
        {
            "id": "big",
            "prompt": "p",
            "image": "big.png",
            "model": "bytedance/seedream-5.0-lite-edit",
        },
        {
            "id": "long",
            "prompt": "x" * 601,
            "image": CDN,
            "model": "bytedance/seedream-5.0-lite-edit",
        },
    ]
    # Sent as they are: a file over the model's bytes is refused. Prepared (the
    # default), it would be made smaller to fit, so it is not.
    job = apply_overrides(load_job(write_csv(tmp_path / "m.csv", rows)), inputs={"prepare": "off"})
    checked = list(iter_rows(job))
    messages = [[p.message for p in row.problems] for row in checked if isinstance(row, InvalidRow)]
    assert messages[0] == [
        "openai/gpt-image-2-edit takes https:// image URLs only, not data: URIs; "
        "give the image as a URL or a local file"
    ]
    assert any("reads images of at most 10000000 bytes" in m for m in messages[1])
    prepared = list(iter_rows(load_job(write_csv(tmp_path / "m.csv", rows))))
    assert [row.id for row in prepared if isinstance(row, InvalidRow)] == ["data", "long"]
    assert messages[2] == [
        "prompt is 601 characters once filled in; "
        "bytedance/seedream-5.0-lite-edit takes at most 600"
    ]


def test_each_provider_grid_keeps_its_ratios_and_an_area_per_tier() -> None:
    """The grids as published (ai.google.dev's table): every entry within 3% of
    its named ratio, and every entry of a tier within 15% of the tier's 1:1
    area, so a mistyped size cannot hide in the data."""
    grids = 0
    for spec in packaged_catalogue().models.values():
        rule = spec.output_size
        if rule.rule != "ratio_grid":
            continue
        grids += 1
        assert rule.source.startswith("https://") and len(rule.as_of) == 10
        ratios = spec.params[rule.ratio_param or ""].choices
        for tier, sizes in rule.grid.items():
            assert set(sizes) == set(ratios or ()), (spec.slug, tier)
            square = sizes["1:1"][0] * sizes["1:1"][1]
            for ratio, (width, height) in sizes.items():
                ratio_w, ratio_h = (int(side) for side in ratio.split(":"))
                assert abs(width / height / (ratio_w / ratio_h) - 1) < 0.03, (spec.slug, ratio)
                assert abs(width * height / square - 1) < 0.15, (spec.slug, tier, ratio)
    assert grids == 3
    pro = packaged_catalogue().find("google/nano-banana-pro-edit")
    assert pro is not None
    assert output_pixel_size(pro, {"aspectRatio": "21:9", "imageSize": "1K"}) == (1584, 672)
    assert output_pixel_size(pro, {"aspectRatio": "21:9", "imageSize": "8K"}) is None
    assert output_pixel_size(pro, {"aspectRatio": "21:9"}) is None  # no size: not documented
