"""The model catalogue: what each Modellix edit model accepts, as data.

One JSON file per model in `data/` (shipped as package data) says which field
carries the prompt and the images, each parameter's API name, type and
allowed values, the defaults, how many images a task yields and whether
each is billed, and the result's pixel size where that can be known.
Whatever the public documentation leaves open is left open in the data:
not checked here, the service decides.

Part of the shared base: row validation (manifest/), the submit path and
body (api/, pipeline/), the plan and cost guard, and the simulator all read
this one owner of "what a model accepts", so they cannot disagree.
"""

from __future__ import annotations

from batchedit.catalogue.body import BodyError, CheckedBody, build_body, check_body
from batchedit.catalogue.outputs import (
    OutputCount,
    billed_units,
    max_outputs,
    output_pixel_size,
    outputs_for,
    parse_ratio,
    ratio_size,
)
from batchedit.catalogue.params import check_size, check_value, describe, parse_size
from batchedit.catalogue.spec import (
    ImagesSpec,
    ModelSpec,
    OutputsSpec,
    ParamKind,
    ParamSpec,
    ParamValue,
    SizeRule,
)
from batchedit.catalogue.store import (
    DEFAULT_MODEL,
    Catalogue,
    current_catalogue,
    is_model_slug,
    packaged_catalogue,
    schema_cache_dir,
)

__all__ = [
    "DEFAULT_MODEL",
    "BodyError",
    "Catalogue",
    "CheckedBody",
    "ImagesSpec",
    "ModelSpec",
    "OutputCount",
    "OutputsSpec",
    "ParamKind",
    "ParamSpec",
    "ParamValue",
    "SizeRule",
    "build_body",
    "check_body",
    "check_size",
    "check_value",
    "current_catalogue",
    "describe",
    "is_model_slug",
    "max_outputs",
    "output_pixel_size",
    "billed_units",
    "outputs_for",
    "packaged_catalogue",
    "parse_ratio",
    "parse_size",
    "ratio_size",
    "schema_cache_dir",
]
