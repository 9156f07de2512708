"""A model's published OpenAPI document (`api_schema`), to and from a ModelSpec.

`batchedit models refresh` caches each model's document; `spec_with_schema`
lays a cached document over the packaged spec, so the request schema the
service publishes wins where it speaks (fields, types, enums, bounds) and
the packaged data fills in what a schema cannot say (which field the
friendly aspect_ratio maps to, how many outputs are billed, the pixel size
of a result). `schema_of` writes the document the simulator serves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from batchedit.catalogue.spec import ImagesSpec, ModelSpec, ParamKind, ParamSpec, SizeRule

SERVER_ORIGIN = "https://api.modellix.ai"
_SIZE_PATTERN = {"x": r"^[1-9][0-9]*x[1-9][0-9]*$", "*": r"^[1-9][0-9]*\*[1-9][0-9]*$"}


def schema_of(spec: ModelSpec, origin: str = SERVER_ORIGIN) -> dict[str, Any]:
    """The OpenAPI 3 document of one model's submit, as the model page publishes it."""
    properties: dict[str, Any] = {spec.prompt_field: _prompt_property(spec)}
    properties[spec.images.field] = _images_property(spec.images)
    for name, param in spec.params.items():
        properties[name] = _param_property(param)
    request = {
        "type": "object",
        "required": [spec.prompt_field, spec.images.field],
        "additionalProperties": False,
        "properties": properties,
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": spec.slug, "version": spec.as_of, "description": spec.description},
        "servers": [{"url": origin + spec.submit_path}],
        "paths": {
            "/": {
                "post": {
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/EditRequest"}
                            }
                        },
                    },
                    "responses": {"200": {"description": "the task was created"}},
                }
            }
        },
        "components": {"schemas": {"EditRequest": request}},
    }


def spec_with_schema(
    packaged: ModelSpec, document: Mapping[str, Any], fetched_at: str
) -> ModelSpec:
    """`packaged` with the schema's request fields; ValueError if the document
    holds no request schema this can read."""
    request = _request_schema(document)
    properties = request.get("properties")
    if not isinstance(properties, Mapping) or not properties:
        raise ValueError("the schema's request body has no properties")
    image_field = next((name for name in ("image", "images") if name in properties), None)
    if image_field is None or packaged.prompt_field not in properties:
        raise ValueError("the schema's request body has no prompt or image field")
    params: dict[str, ParamSpec] = {}
    for name, prop in properties.items():
        if name in (packaged.prompt_field, image_field) or not isinstance(prop, Mapping):
            continue
        params[str(name)] = _param_from_property(str(name), prop, packaged.params.get(name))
    prompt = properties[packaged.prompt_field]
    return dataclasses.replace(
        packaged,
        submit_path=_submit_path(document) or packaged.submit_path,
        images=_images_from_property(image_field, properties[image_field], packaged.images),
        params=params,
        friendly={k: v for k, v in packaged.friendly.items() if v in params},
        prompt_max_chars=_int(prompt.get("maxLength")) if isinstance(prompt, Mapping) else None,
        as_of=fetched_at[:10],
        source="cached schema",
    )


def _request_schema(document: Mapping[str, Any]) -> Mapping[str, Any]:
    paths = document.get("paths")
    if not isinstance(paths, Mapping):
        raise ValueError("the schema has no paths")
    for item in paths.values():
        post = item.get("post") if isinstance(item, Mapping) else None
        if not isinstance(post, Mapping):
            continue
        content = post.get("requestBody", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema")
        if isinstance(schema, Mapping):
            return _resolve(document, schema)
    raise ValueError("the schema has no JSON request body")


def _resolve(document: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return schema
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node.get(part) if isinstance(node, Mapping) else None
    if not isinstance(node, Mapping):
        raise ValueError(f"the schema's {ref!r} does not resolve")
    return node


def _submit_path(document: Mapping[str, Any]) -> str | None:
    servers = document.get("servers")
    if isinstance(servers, list) and servers and isinstance(servers[0], Mapping):
        path = urlsplit(str(servers[0].get("url", ""))).path.rstrip("/")
        if path.startswith("/api/v1/") and ".." not in path:
            return path
    return None


def _prompt_property(spec: ModelSpec) -> dict[str, Any]:
    prop: dict[str, Any] = {"type": "string", "minLength": 1}
    if spec.prompt_max_chars is not None:
        prop["maxLength"] = spec.prompt_max_chars
    return prop


def _images_property(images: ImagesSpec) -> dict[str, Any]:
    if images.as_string:
        return {"type": "string", "description": "one image: an https URL or base64"}
    prop: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
    if images.min_count is not None:
        prop["minItems"] = images.min_count
    if images.max_count is not None:
        prop["maxItems"] = images.max_count
    return prop


def _images_from_property(name: str, prop: object, packaged: ImagesSpec) -> ImagesSpec:
    if not isinstance(prop, Mapping):
        return dataclasses.replace(packaged, field=name)
    if prop.get("type") == "string":
        return dataclasses.replace(packaged, field=name, as_string=True, min_count=1, max_count=1)
    return dataclasses.replace(
        packaged,
        field=name,
        as_string=False,
        min_count=_int(prop.get("minItems")),
        max_count=_int(prop.get("maxItems")),
        field_documented=True,
    )


def _param_property(param: ParamSpec) -> dict[str, Any]:
    prop = _typed_property(param)
    if param.default is not None:
        prop["default"] = param.default
    if param.description:
        prop["description"] = param.description
    return prop


def _typed_property(param: ParamSpec) -> dict[str, Any]:
    prop: dict[str, Any]
    kind = param.kind
    if kind is ParamKind.ENUM:
        prop = {"type": "string"}
        if param.choices is not None:
            prop["enum"] = list(param.choices)
    elif kind in (ParamKind.INTEGER, ParamKind.NUMBER):
        prop = {"type": kind.value}
        if param.minimum is not None:
            prop["minimum"] = param.minimum
        if param.maximum is not None:
            prop["maximum"] = param.maximum
    elif kind is ParamKind.BOOLEAN:
        prop = {"type": "boolean"}
    elif kind is ParamKind.SIZE:
        assert param.size is not None
        prop = {"type": "string", "pattern": _SIZE_PATTERN[param.size.separator]}
        if param.size.keywords:
            prop = {"anyOf": [prop, {"type": "string", "enum": list(param.size.keywords)}]}
    elif kind is ParamKind.STRING:
        prop = {"type": "string"}
        if param.max_chars is not None:
            prop["maxLength"] = param.max_chars
    else:
        prop = {}
    return prop


def _param_from_property(
    name: str, prop: Mapping[str, Any], packaged: ParamSpec | None
) -> ParamSpec:
    default = prop.get("default")
    if "anyOf" in prop and packaged is not None and packaged.kind is ParamKind.SIZE:
        return dataclasses.replace(packaged, default=default)
    kind_name = prop.get("type")
    if kind_name in ("integer", "number"):
        return ParamSpec(
            name,
            ParamKind(kind_name),
            minimum=prop.get("minimum"),
            maximum=prop.get("maximum"),
            default=default,
        )
    if kind_name == "boolean":
        return ParamSpec(name, ParamKind.BOOLEAN, default=default)
    if kind_name != "string":
        return ParamSpec(name, ParamKind.ANY, default=default)
    if isinstance(prop.get("enum"), list):
        return ParamSpec(
            name, ParamKind.ENUM, choices=tuple(map(str, prop["enum"])), default=default
        )
    pattern = str(prop.get("pattern", ""))
    for separator, size_pattern in _SIZE_PATTERN.items():
        if pattern == size_pattern:
            rule = packaged.size if packaged is not None and packaged.size else None
            if rule is None or rule.separator != separator:
                rule = SizeRule(separator)
            return ParamSpec(name, ParamKind.SIZE, size=rule, default=default)
    if packaged is not None and packaged.kind in (ParamKind.ENUM, ParamKind.SIZE) and not pattern:
        return dataclasses.replace(packaged, default=default)  # a plain string says less
    return ParamSpec(name, ParamKind.STRING, max_chars=_int(prop.get("maxLength")), default=default)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
