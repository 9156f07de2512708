"""`batchedit models [SLUG] [--json]` and `batchedit models refresh [--base-url URL]`.

The list shows each model's images field and count, parameters and outputs;
one SLUG shows every parameter with its allowed values and default, and
where the rules came from (the packaged data, or a schema `refresh` cached).
`refresh` fetches each model's published schema into the user's cache
(`$XDG_CACHE_HOME/batchedit/schemas/`); offline it says that validation keeps
using the packaged data. With `--base-url` at another origin (a simulator),
refresh caches apart (`schemas/origins/ORIGIN/`), validation never reads
those, and the listing with the same `--base-url` shows them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from batchedit.api.schemas import FetchedSchema, check_schema_base_url, fetch_schemas
from batchedit.catalogue import (
    Catalogue,
    ModelSpec,
    current_catalogue,
    describe,
    packaged_catalogue,
    schema_cache_dir,
)
from batchedit.catalogue.schema import spec_with_schema
from batchedit.catalogue.store import SCHEMA_BASE_URL, write_cached_schema
from batchedit.cli.exits import EXIT_OK, EXIT_USAGE
from batchedit.errors import UsageError

EXIT_SOME_FAILED = 1


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    models = commands.add_parser(
        "models",
        help="the model catalogue; `models refresh` caches each model's published schema",
        description="List the edit models batchedit knows, or one model's parameters "
        "(`models SLUG`); `models refresh` fetches each model's published schema.",
    )
    models.add_argument(
        "slug", nargs="?", metavar="SLUG", help="one model, or `refresh` to update the cache"
    )
    # --json is a global option (cli/conventions.py), taken before or after `models`.
    models.add_argument(
        "--base-url",
        default=SCHEMA_BASE_URL,
        help=f"where the model pages are (default {SCHEMA_BASE_URL}): refresh fetches "
        "from there; any other origin's schemas are cached apart, never used to validate "
        "runs, and listed with the same --base-url",
    )
    models.set_defaults(handler=command_models)


def command_models(args: argparse.Namespace) -> int:
    if args.slug == "refresh":
        return command_refresh(args.base_url, as_json=args.json)
    origin = _other_origin(args.base_url)
    catalogue = current_catalogue(origin=origin)
    if args.slug is None:
        specs = list(catalogue.models.values())
        if args.json:
            _print_json({"ok": True, "models": [model_json(spec) for spec in specs]})
        else:
            print("\n".join(list_lines(catalogue, origin)))
        return EXIT_OK
    spec = catalogue.find(args.slug)
    if spec is None:
        message = catalogue.unknown_model_message(args.slug)
        if args.json:
            _print_json({"ok": False, "error": {"exit_code": EXIT_USAGE, "message": message}})
            return EXIT_USAGE
        raise UsageError(message)
    if args.json:
        _print_json({"ok": True, "model": model_json(spec)})
    else:
        print("\n".join(model_lines(spec)))
    return EXIT_OK


def _other_origin(base_url: str) -> str | None:
    """`--base-url` when it names another origin than the real model pages."""
    base = check_schema_base_url(base_url)
    return None if schema_cache_dir(origin=base) == schema_cache_dir() else base


def command_refresh(base_url: str, *, as_json: bool = False) -> int:
    packaged = packaged_catalogue()
    fetched = asyncio.run(fetch_schemas(base_url, packaged.models))
    origin = _other_origin(base_url)
    folder = schema_cache_dir(origin=origin)
    fetched_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    results = [_cache_one(packaged, item, folder, fetched_at) for item in fetched]
    failed = [result for result in results if not result["ok"]]
    if as_json:
        _print_json({"ok": not failed, "cache_dir": str(folder), "models": results})
    else:
        for result in results:
            print(f"{'ok  ' if result['ok'] else 'FAIL'}  {result['slug']}: {result['detail']}")
        print(f"cache: {folder}")
        if origin is not None:
            print(
                f"kept apart: schemas from {origin} never change the validation of runs; "
                f"batchedit models --base-url {origin} lists them"
            )
        if failed:
            print(
                f"{len(failed)} model(s) not refreshed: validation uses the packaged data for them",
                file=sys.stderr,
            )
    return EXIT_SOME_FAILED if failed else EXIT_OK


def _cache_one(
    packaged: Catalogue, item: FetchedSchema, folder: Any, fetched_at: str
) -> dict[str, Any]:
    if item.document is None:
        return {"slug": item.slug, "ok": False, "detail": f"{item.error} ({item.url})"}
    spec = packaged.models[item.slug]
    try:
        spec_with_schema(spec, item.document, fetched_at)
    except ValueError as exc:
        return {"slug": item.slug, "ok": False, "detail": f"schema not usable: {exc}"}
    try:
        path = write_cached_schema(folder, item.slug, item.document, fetched_at, item.url)
    except OSError as exc:
        return {"slug": item.slug, "ok": False, "detail": f"cannot write the cache: {exc}"}
    return {"slug": item.slug, "ok": True, "detail": f"cached as {path.name}"}


def list_lines(catalogue: Catalogue, origin: str | None = None) -> list[str]:
    lines = [f"{'MODEL':<34} {'IMAGES':<14} {'OUTPUTS':<14} PARAMETERS"]
    for spec in catalogue.models.values():
        lines.append(
            f"{spec.slug:<34} {_images_words(spec):<14} {_outputs_words(spec):<14} "
            f"{', '.join(_parameter_names(spec)) or '-'}"
        )
    sources = {spec.source for spec in catalogue.models.values()}
    if sources == {"packaged"}:
        as_of = max(spec.as_of for spec in catalogue.models.values())
        lines.append(
            f"rules: the packaged data (checked {as_of}); `batchedit models refresh` "
            "fetches the published schemas"
        )
    else:
        cached = sum(spec.source != "packaged" for spec in catalogue.models.values())
        folder = schema_cache_dir(origin=origin)
        lines.append(f"rules: {cached} model(s) from schemas cached in {folder}")
    if origin is not None:
        lines.append(f"(the schemas cached from {origin}: runs are validated by the others)")
    return lines


def model_lines(spec: ModelSpec) -> list[str]:
    lines = [spec.slug, f"  {spec.description}" if spec.description else ""]
    lines += [
        f"  docs: {spec.docs_url}",
        f"  submit: POST {spec.submit_path}",
        f"  rules: {_source_words(spec)}",
        f"  prompt: field {spec.prompt_field}, "
        + (
            f"at most {spec.prompt_max_chars} characters"
            if spec.prompt_max_chars
            else "length not documented"
        ),
        f"  images: {_images_words(spec)}"
        + ("" if spec.images.field_documented else " (field name not documented)"),
        f"  outputs: {_outputs_words(spec)}"
        + (" images per task, each billed" if spec.outputs.bills_per_output else " per task"),
        f"  result size: {_size_words(spec)}",
        f"  inputs prepared to: {_input_words(spec)}",
        "  parameters:",
    ]
    for friendly, api_name in spec.friendly.items():
        lines.append(f"    {friendly:<40} sent as {api_name}")
    for name, param in spec.params.items():
        default = "" if param.default is None else f" (default {json.dumps(param.default)})"
        lines.append(f"    param.{name:<34} {describe(param)}{default}")
    lines += [f"  note: {note}" for note in spec.notes]
    return [line for line in lines if line]


def model_json(spec: ModelSpec) -> dict[str, Any]:
    """One model at the JSON edge, for `models --json`."""
    images = spec.images
    outputs = spec.outputs
    return {
        "slug": spec.slug,
        "type": spec.type,
        "description": spec.description,
        "docs_url": spec.docs_url,
        "submit_path": spec.submit_path,
        "source": spec.source,
        "as_of": spec.as_of,
        "prompt": {"field": spec.prompt_field, "max_chars": spec.prompt_max_chars},
        "images": {
            "field": images.field,
            "min": images.min_count,
            "max": images.max_count,
            "single_string": images.as_string,
            "field_documented": images.field_documented,
        },
        "friendly": dict(spec.friendly),
        "params": [
            {
                "name": name,
                "column": f"param.{name}",
                "type": param.kind.value,
                "values": None if param.choices is None else list(param.choices),
                "min": param.minimum,
                "max": param.maximum,
                "default": param.default,
                "allowed": describe(param),
            }
            for name, param in spec.params.items()
        ],
        "outputs": {
            "count": outputs.count,
            "param": outputs.param,
            "max": outputs.max_count,
            "at_most": outputs.at_most,
            "bills_per_output": outputs.bills_per_output,
        },
        "output_size": _size_json(spec),
        "input_limits": {
            "max_bytes": spec.input_limits.max_bytes,
            "max_long_side": spec.input_limits.max_long_side_px,
            "max_pixels": spec.input_limits.max_pixels,
            "formats": list(spec.input_limits.formats),
            "source": spec.input_limits.source,
            "as_of": spec.input_limits.as_of,
        },
        "notes": list(spec.notes),
    }


def _input_words(spec: ModelSpec) -> str:
    """The limits a local input is prepared to, and where they were read."""
    limits = spec.input_limits
    words = [f"at most {limits.max_bytes} bytes", "/".join(limits.formats)]
    if limits.max_long_side_px is not None:
        words.append(f"long side at most {limits.max_long_side_px} px")
    if limits.max_pixels is not None:
        words.append(f"at most {limits.max_pixels / 1e6:.3g} MP")
    return f"{', '.join(words)} (from {limits.source})"


def _parameter_names(spec: ModelSpec) -> list[str]:
    friendly = set(spec.friendly.values())
    names = list(spec.friendly)
    names += [name for name in spec.params if name not in friendly]
    return names


def _images_words(spec: ModelSpec) -> str:
    images = spec.images
    low = images.min_count or 1
    high = "?" if images.max_count is None else str(images.max_count)
    count = str(low) if high == str(low) else f"{low}-{high}"
    return f"{images.field} {count}"


def _outputs_words(spec: ModelSpec) -> str:
    outputs = spec.outputs
    if outputs.param is None:
        return str(outputs.count or "?")
    default = "?" if outputs.count is None else str(outputs.count)
    if outputs.when:
        return f"{default} (up to {outputs.max_count or '?'})"
    return f"{outputs.param}={default}" + (f" (1-{outputs.max_count})" if outputs.max_count else "")


def _size_words(spec: ModelSpec) -> str:
    rule = spec.output_size
    if rule.rule == "size_param":
        return f"the size asked for (param.{rule.param})"
    if rule.rule != "ratio_grid":
        return "not documented (not checked)"
    tiers = ", ".join(f"{tier} about {_megapixels(sizes)} MP" for tier, sizes in rule.grid.items())
    per = f"{rule.ratio_param} and {rule.size_param}" if rule.size_param else rule.ratio_param
    return f"the provider's grid by {per} ({tiers}), from {rule.source}, read {rule.as_of}"


def _megapixels(sizes: Mapping[str, tuple[int, int]]) -> str:
    width, height = sizes.get("1:1") or next(iter(sizes.values()))
    return f"{width * height / 1e6:.2g}"


def _size_json(spec: ModelSpec) -> dict[str, Any]:
    rule = spec.output_size
    grid = {
        tier: {ratio: f"{width}x{height}" for ratio, (width, height) in sizes.items()}
        for tier, sizes in rule.grid.items()
    }
    return {
        "rule": rule.rule,
        "param": rule.param,
        "ratio_param": rule.ratio_param,
        "size_param": rule.size_param,
        "grid": grid or None,
        "source": rule.source or None,
        "as_of": rule.as_of or None,
    }


def _source_words(spec: ModelSpec) -> str:
    if spec.source == "packaged":
        return f"the packaged data, checked {spec.as_of} (no newer cached schema)"
    return f"the published schema cached {spec.as_of}, over the packaged data"


def _print_json(document: dict[str, Any]) -> None:
    print(json.dumps(document, ensure_ascii=False, indent=1))
