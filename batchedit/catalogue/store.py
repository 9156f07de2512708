"""The catalogue as loaded: the packaged data files, and the user's cached schemas.

The packaged files (`data/*.json`) are read once per process. `batchedit
models refresh` caches each model's published schema under
`$XDG_CACHE_HOME/batchedit/schemas/` (default `~/.cache/...`); a cached
schema fetched after the packaged data was last checked is laid over it
(see schema.py), so validation follows the service's newest word, and
offline (no cache) it follows the packaged data, saying so in
`batchedit models`. The simulator always speaks the packaged data.

Schemas fetched from anywhere but the real model pages (`--base-url` at a
simulator, a mirror) are kept apart, in `schemas/origins/ORIGIN/`, and shown
only when asked for that origin: a simulator on loopback must not change the
rules every run against the real service is checked by. The real cache's
entries are held to the same rule by the URL each was fetched from, so a
cache an older batchedit filled from a simulator is ignored too.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from batchedit.catalogue.schema import spec_with_schema
from batchedit.catalogue.spec import ImagesSpec, ModelSpec, spec_from_data
from batchedit.fsutil import atomic_writer
from batchedit.suggest import did_you_mean

log = logging.getLogger(__name__)

DEFAULT_MODEL = "google/nano-banana-pro-edit"
#: Where the real model pages are: the one origin whose schemas validation reads.
SCHEMA_BASE_URL = "https://www.modellix.ai"
_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
#: The fields a model passed through with --allow-model gets for aspect_ratio and resolution.
PASS_THROUGH_FRIENDLY = {"aspect_ratio": "aspectRatio", "resolution": "imageSize"}


def is_model_slug(text: str) -> bool:
    """`provider/name`, as the submit path takes it: nothing that could leave the path."""
    return _SLUG.fullmatch(text) is not None and ".." not in text


def cache_file_name(slug: str) -> str:
    return slug.replace("/", "--") + ".json"


def schema_cache_dir(env: Mapping[str, str] | None = None, *, origin: str | None = None) -> Path:
    """`$XDG_CACHE_HOME/batchedit/schemas`, `~/.cache/batchedit/schemas` without it;
    for schemas from another `origin` than the real model pages, a folder of that
    origin's own under it (`schemas/origins/http_127.0.0.1_8765`)."""
    env = os.environ if env is None else env
    root = env.get("XDG_CACHE_HOME", "").strip()
    base = Path(root) if root and Path(root).is_absolute() else Path.home() / ".cache"
    folder = base / "batchedit" / "schemas"
    if origin is None or _same_origin(origin, SCHEMA_BASE_URL):
        return folder
    return folder / "origins" / origin_key(origin)


def origin_key(origin: str) -> str:
    """A folder name for an origin: `http://127.0.0.1:8765` -> `http_127.0.0.1_8765`."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", origin.rstrip("/")).strip("_") or "_"


def _same_origin(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Every known model by slug, and where each one's rules came from."""

    models: Mapping[str, ModelSpec]

    def find(self, slug: str) -> ModelSpec | None:
        return self.models.get(slug)

    @property
    def max_images_any_model(self) -> int:
        return max((spec.images.max_count or 1) for spec in self.models.values())

    def spec_for(self, slug: str, allowed: Collection[str] = ()) -> ModelSpec | None:
        """The rules to check a row against: a known model's own, or, for a slug
        the user allowed, only the largest image count any model takes."""
        spec = self.models.get(slug)
        if spec is None and slug in allowed and is_model_slug(slug):
            return self.pass_through(slug)
        return spec

    def pass_through(self, slug: str) -> ModelSpec:
        """An unknown slug sent anyway: prompt and `image` as the Google models
        take them, every parameter as given, nothing else checked."""
        return ModelSpec(
            slug=slug,
            submit_path=f"/api/v1/{slug}/async",
            images=ImagesSpec("image", 1, self.max_images_any_model),
            friendly=PASS_THROUGH_FRIENDLY,
            known=False,
            source="--allow-model (not checked)",
        )

    def body_spec(self, slug: str) -> ModelSpec:
        """The spec a submit's body is built with: unknown slugs pass through."""
        return self.models.get(slug) or self.pass_through(slug)

    def unknown_model_message(self, slug: str) -> str:
        """Why `slug` is refused: the catalogued slug it most likely means first;
        `--allow-model` is offered only for a model the catalogue does not know
        yet, and carries the typed slug only when no catalogued one is near, so
        a pasted fix never sends a typo to the paid API."""
        known = ", ".join(self.models)
        hint = did_you_mean(slug, self.models)
        if hint:
            return (
                f"unknown model '{slug}'; {hint} (`batchedit models` lists every "
                "model; only for a new model the catalogue does not know yet: "
                "--allow-model SLUG, or allow_models: in the job file)"
            )
        if not is_model_slug(slug):
            return f"model '{slug}' is not a provider/name slug; known models: {known}"
        return (
            f"unknown model '{slug}'; known models: {known} (if it is a new model the "
            f"catalogue does not know yet, send it anyway: --allow-model {slug}, or "
            "allow_models: in the job file)"
        )


@functools.cache
def packaged_catalogue() -> Catalogue:
    """The data files shipped in the package, read once."""
    folder = resources.files("batchedit.catalogue").joinpath("data")
    specs = []
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            specs.append(spec_from_data(json.loads(entry.read_text(encoding="utf-8"))))
    return Catalogue({spec.slug: spec for spec in sorted(specs, key=lambda s: s.slug)})


def current_catalogue(cache_dir: Path | None = None, *, origin: str | None = None) -> Catalogue:
    """The packaged catalogue with every newer cached schema of the real model
    pages laid over it (or, for `batchedit models --base-url`, of `origin`).
    Read once per process and cache folder, so a run checks and sends every
    row by one catalogue, and asking again costs nothing (no file system on
    the event loop); `write_cached_schema` forgets it, so a refresh is seen at
    once."""
    if origin is not None:
        folder = schema_cache_dir(origin=origin)
    else:
        folder = _cache_dir_for(os.environ.get("XDG_CACHE_HOME"), os.environ.get("HOME"))
    folder = folder if cache_dir is None else cache_dir
    known = _CURRENT.get(folder)
    if known is None:
        known = _CURRENT[folder] = _with_cache(folder, origin or SCHEMA_BASE_URL)
    return known


_CURRENT: dict[Path, Catalogue] = {}


@functools.lru_cache(maxsize=8)
def _cache_dir_for(xdg_cache_home: str | None, home: str | None) -> Path:
    """`schema_cache_dir` for these variables, worked out once: the submitters
    ask for the catalogue per row, and the path arithmetic cost more than the rest."""
    return schema_cache_dir()


def _with_cache(folder: Path, origin: str) -> Catalogue:
    packaged = packaged_catalogue()
    if not folder.is_dir():
        return packaged
    models = dict(packaged.models)
    elsewhere: list[str] = []
    for slug, spec in packaged.models.items():
        entry = read_cached_schema(folder / cache_file_name(slug))
        if entry is None or not _newer(entry.get("fetched_at"), spec.as_of):
            continue
        if not _fetched_from(entry, origin):
            elsewhere.append(slug)
            continue
        try:
            models[slug] = spec_with_schema(spec, entry["schema"], str(entry["fetched_at"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("%s: cached schema not used (%s); using the packaged data", slug, exc)
    if elsewhere:
        log.warning(
            "%d cached schema(s) in %s were fetched from another origin than %s (a "
            "simulator?): not used, the packaged data is; `batchedit models refresh` "
            "replaces them",
            len(elsewhere),
            folder,
            origin,
        )
    return Catalogue(models)


def write_cached_schema(
    folder: Path, slug: str, document: Mapping[str, Any], fetched_at: str, source_url: str
) -> Path:
    """Cache one model's document, whole or not at all; synchronous (the CLI's)."""
    path = folder / cache_file_name(slug)
    entry = {"slug": slug, "fetched_at": fetched_at, "source_url": source_url, "schema": document}
    with atomic_writer(path, "w") as out:
        json.dump(entry, out, indent=1, ensure_ascii=False)
    _CURRENT.pop(folder, None)
    return path


def read_cached_schema(path: Path) -> dict[str, Any] | None:
    """A cache file's JSON, or None when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("schema"), dict) else None


def _fetched_from(entry: Mapping[str, Any], origin: str) -> bool:
    """Whether a cache entry was fetched from `origin` (its `source_url` under it)."""
    source = entry.get("source_url")
    prefix = origin.rstrip("/").lower() + "/"
    return isinstance(source, str) and source.lower().startswith(prefix)


def _newer(fetched_at: object, as_of: str) -> bool:
    if not isinstance(fetched_at, str):
        return False
    try:
        fetched = datetime.fromisoformat(fetched_at.replace("Z", "+00:00"))
        checked = datetime.fromisoformat(as_of).replace(tzinfo=UTC)
    except ValueError:
        return False
    if fetched.tzinfo is None:
        fetched = fetched.replace(tzinfo=UTC)
    return fetched > checked
