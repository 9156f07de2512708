"""Output naming and format: where a row's results go under `outputs/`, and as what.

`output: {name: "{Handle}/{sku}", format: webp, quality: 90, keep_original: false}`
in the job file (and `profile: amazon|shopify|merchant`, `pad: true`: shaped
for a sales channel, see channels.py), with the labelling settings of docs/outputs.md beside them:
`ai_label: composite|trained|off`, `provenance: basic|full`, `c2pa: keep|drop`
and `c2pa_sign: {cert: FILE, key: FILE}`. The name is a template over the
row's fields; each value is folded to `[A-Za-z0-9._-]` before it goes in
(so a value can never add a folder or climb out with `../`), a `/` written
in the template itself makes a subfolder, and every segment then goes
through `safe_name` (no hidden names, no `..`, at most 120 characters).
Whatever the row holds, the file lands inside `outputs/`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from batchedit.fsutil import safe_name
from batchedit.manifest.channels import PROFILES
from batchedit.manifest.template import (
    TemplateError,
    render_template,
    render_value,
    template_fields,
)
from batchedit.records import Row
from batchedit.suggest import unknown_name

#: Output formats and the Pillow format name and file extension of each.
FORMATS = {"png": ("PNG", "png"), "jpeg": ("JPEG", "jpg"), "jpg": ("JPEG", "jpg")}
FORMATS["webp"] = ("WEBP", "webp")
MAX_SEGMENTS = 8
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: The values of each labelling setting; the first is the default.
AI_LABELS = ("composite", "trained", "off")
PROVENANCE = ("basic", "full")
C2PA_CHOICES = ("keep", "drop")
OUTPUT_KEYS = (
    "name",
    "format",
    "quality",
    "keep_original",
    "ai_label",
    "provenance",
    "c2pa",
    "c2pa_sign",
    "profile",
    "pad",
)


@dataclass(frozen=True, slots=True)
class SigningFiles:
    """`c2pa_sign:` the PEM certificate chain and private key that sign outputs."""

    cert: Path
    key: Path


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """How results are named, stored and labelled. The defaults keep the
    service's own format under the row's id, labelled as an AI edit."""

    name: str | None = None  # a template; None: the row id
    format: str | None = None  # png, jpeg or webp; None: as the service returned it
    quality: int | None = None  # 1-100, for jpeg and webp
    keep_original: bool = False  # also keep the service's file when converting
    ai_label: str = AI_LABELS[0]  # the XMP DigitalSourceType to stamp; off: none
    provenance: str = PROVENANCE[0]  # full: the prompt goes into the XMP too
    c2pa: str = C2PA_CHOICES[0]  # keep: a manifest-bearing original stays beside
    c2pa_sign: SigningFiles | None = None
    profile: str | None = None  # a sales channel (channels.py): shaped and checked for it
    pad: bool = False  # with a profile: padded with white to a square canvas

    @property
    def pillow_format(self) -> str | None:
        return None if self.format is None else FORMATS[self.format][0]

    def stem(self, row_id: str, values: Mapping[str, object]) -> str:
        """The path under outputs/, without extension, `/`-separated. Raises
        TemplateError when the template names a column the row lacks."""
        if self.name is None:
            return safe_name(row_id)
        rendered = render_template(
            self.name, {**values, "id": row_id}, what="output name", render=_fold_value
        )
        segments = [safe_name(part) for part in rendered.split("/") if part.strip(" .")]
        if not segments:
            return safe_name(row_id)
        if len(segments) > MAX_SEGMENTS:
            segments = [*segments[: MAX_SEGMENTS - 1], "_".join(segments[MAX_SEGMENTS - 1 :])]
            segments[-1] = safe_name(segments[-1])
        return "/".join(segments)


def _fold_value(value: object) -> str:
    """A row value inside a name: only `[A-Za-z0-9._-]`, so it adds no folder."""
    return _UNSAFE.sub("_", render_value(value)).strip("_")


def parse_output(value: object) -> OutputSpec:
    """The job file's `output:` mapping (or the command line's pieces of it)."""
    if isinstance(value, OutputSpec):
        return value
    if value is None:
        return OutputSpec()
    if not isinstance(value, Mapping):
        raise ValueError(
            'output must be a mapping, e.g. {name: "{sku}/{id}", format: webp, quality: 90}'
        )
    unknown = sorted(set(map(str, value)) - set(OUTPUT_KEYS))
    if unknown:
        raise ValueError(f"output: {unknown_name('key', unknown[0], OUTPUT_KEYS)}")
    return OutputSpec(
        name=_check_name(value.get("name")),
        format=_check_format(value.get("format")),
        quality=_check_quality(value.get("quality")),
        keep_original=_check_flag(value.get("keep_original", False), "keep_original"),
        ai_label=_check_choice("ai_label", value.get("ai_label"), AI_LABELS),
        provenance=_check_choice("provenance", value.get("provenance"), PROVENANCE),
        c2pa=_check_choice("c2pa", value.get("c2pa"), C2PA_CHOICES),
        c2pa_sign=_check_signing(value.get("c2pa_sign")),
        profile=_check_profile(value.get("profile")),
        pad=_check_flag(value.get("pad", False), "pad"),
    )


def _check_choice(key: str, value: object, allowed: tuple[str, ...]) -> str:
    if value is None:
        return allowed[0]
    if value is False and "off" in allowed:  # YAML 1.1 reads a bare `off` as false
        return "off"
    text = value.strip().lower() if isinstance(value, str) else None
    if text is None or text not in allowed:
        raise ValueError(f"output: {key} must be {' or '.join(allowed)} (got {value!r})")
    return text


def _check_signing(value: object) -> SigningFiles | None:
    if value is None or isinstance(value, SigningFiles):
        return value
    example = "c2pa_sign: {cert: signer-chain.pem, key: signer-key.pem}"
    if not isinstance(value, Mapping) or set(map(str, value)) != {"cert", "key"}:
        raise ValueError(f"output: c2pa_sign must be a mapping with cert and key, e.g. {example}")
    paths: dict[str, Path] = {}
    for key in ("cert", "key"):
        given = value[key]
        if isinstance(given, Path):
            paths[key] = given
        elif isinstance(given, str) and given.strip():
            paths[key] = Path(given.strip())
        else:
            raise ValueError(f"output: c2pa_sign {key} must be a PEM file path (got {given!r})")
    return SigningFiles(cert=paths["cert"], key=paths["key"])


def output_fields(spec: OutputSpec) -> dict[str, object]:
    """`spec` as the pieces of `output:` (what parse_output reads back), for the
    command line's pieces to be laid over a job's."""
    return {
        "name": spec.name,
        "format": spec.format,
        "quality": spec.quality,
        "keep_original": spec.keep_original,
        "ai_label": spec.ai_label,
        "provenance": spec.provenance,
        "c2pa": spec.c2pa,
        "c2pa_sign": None
        if spec.c2pa_sign is None
        else {"cert": str(spec.c2pa_sign.cert), "key": str(spec.c2pa_sign.key)},
        "profile": spec.profile,
        "pad": spec.pad,
    }


def resolve_signing(spec: OutputSpec, base: Path) -> OutputSpec:
    """The signing files relative to `base` (the job file's folder), checked to
    exist, so a typo is refused before anything is paid for."""
    files = spec.c2pa_sign
    if files is None:
        return spec
    cert, key = base / files.cert, base / files.key
    for name, path in (("cert", cert), ("key", key)):
        if not path.is_file():
            raise ValueError(
                f"output: c2pa_sign {name} '{path}' not found (looked for {path.absolute()}); "
                "paths are relative to the job file"
            )
    return dataclasses.replace(spec, c2pa_sign=SigningFiles(cert=cert, key=key))


def _check_name(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f'output: name must be a template such as "{{sku}}/{{id}}" ({value!r})')
    try:
        template_fields(value, what="output name")
    except TemplateError as exc:
        raise ValueError(f"output: {exc}") from exc
    return value.strip()


def _check_format(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip().lower()
    if text not in FORMATS:
        raise ValueError(f"output: format must be png, jpeg or webp (got {value!r})")
    return "jpeg" if text == "jpg" else text


def _check_quality(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        raise ValueError(f"output: quality must be a whole number from 1 to 100 (got {value!r})")
    return value


def _check_flag(value: object, key: str) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"output: {key} must be true or false (got {value!r})")


def _check_profile(value: object) -> str | None:
    if value is None:
        return None
    text = value.strip().lower() if isinstance(value, str) else None
    if text not in PROFILES:
        raise ValueError(f"output: profile must be {' or '.join(PROFILES)} (got {value!r})")
    return text


def output_layout(spec: OutputSpec, row: Row) -> str:
    """Where and how a row's results are stored, as a short key: when it
    changes between runs (a new name template or format), a succeeded row's
    files are made again from its results instead of being left as they were."""
    stem = row.output_stem or safe_name(row.id)
    parts: list[object] = [stem, spec.format, spec.quality, spec.keep_original]
    labelling = (spec.ai_label, spec.provenance, spec.c2pa, spec.c2pa_sign is not None)
    if labelling != ("composite", "basic", "keep", False):
        parts.append(list(labelling))  # the defaults leave earlier runs' keys as they were
    if spec.profile is not None:
        parts.append({"profile": spec.profile, "pad": spec.pad})
    key = json.dumps(parts)
    return hashlib.sha256(key.encode()).hexdigest()[:16]
