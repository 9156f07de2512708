"""Where the API key comes from, in the order a user expects; never from argv.

1. `--api-key-file FILE` (or `api_key_file=` in Python): the first line of
   a file only its owner reads, for systemd credentials and Kubernetes secrets;
2. `MODELLIX_API_KEY`, as the official Modellix CLI reads it;
3. the official CLI's own profile file, so a user who ran `modellix-cli auth
   login` need not export the key again: `$XDG_CONFIG_HOME/modellix/config.json`
   (default `~/.config/modellix/config.json`), shaped
   `{"currentProfile": "default", "profiles": {"default": {"apiKey": "..."}}}`
   (or the older `{"apiKey": "..."}`); the profile is `MODELLIX_PROFILE`, else
   the file's `currentProfile`, else `default`, as the official CLI picks it.

A key on the command line would show in `ps` and shell history, so there is
no `--api-key`. The key itself is never part of a message: only its source.
Whatever its source, a key must have at least 8 printable characters without
spaces (redact.check_api_key): a shorter one could not be redacted apart from
ordinary words, and a control character would break the Authorization header.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from batchedit.errors import UsageError
from batchedit.redact import check_api_key

KEY_VARIABLE = "MODELLIX_API_KEY"
PROFILE_VARIABLE = "MODELLIX_PROFILE"
DEFAULT_PROFILE = "default"
MAX_CONFIG_BYTES = 1024 * 1024  # the official CLI's own cap


@dataclass(frozen=True, slots=True)
class FoundKey:
    """A key and where it was found (said in messages; the key never is)."""

    key: str = field(repr=False)
    source: str


def config_path(env: Mapping[str, str]) -> Path:
    """The official CLI's config file, as it computes the path."""
    configured = env.get("XDG_CONFIG_HOME", "").strip()
    if configured and Path(configured).is_absolute():
        return Path(configured) / "modellix" / "config.json"
    home = env.get("HOME", "").strip()
    base = Path(home) if home else Path.home()
    return base / ".config" / "modellix" / "config.json"


def find_api_key(env: Mapping[str, str], *, key_file: Path | None = None) -> FoundKey | None:
    """The key from the first source that has one, checked, or None."""
    found = _first_key(env, key_file)
    if found is not None:
        checked_key(found.key, found.source)
    return found


def checked_key(key: str, source: str) -> str:
    """`key`, or a usage error naming `source` and what is wrong with it."""
    try:
        return check_api_key(key, where=source)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def _first_key(env: Mapping[str, str], key_file: Path | None) -> FoundKey | None:
    if key_file is not None:
        return FoundKey(read_key_file(key_file), f"the file {key_file}")
    key = env.get(KEY_VARIABLE, "").strip()
    if key:
        return FoundKey(key, f"the environment variable {KEY_VARIABLE}")
    return profile_key(env)


def read_key_file(path: Path) -> str:
    """The first line of `path`, stripped; a missing or empty file is a usage error."""
    try:
        with open(path, encoding="utf-8") as handle:
            key = handle.readline().strip()
    except OSError as exc:
        raise UsageError(f"--api-key-file {path}: cannot read it ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"--api-key-file {path}: not a text file") from exc
    if not key:
        raise UsageError(f"--api-key-file {path}: the file is empty; put the key on its first line")
    return key


def profile_key(env: Mapping[str, str]) -> FoundKey | None:
    """The selected profile's key from the official CLI's config file, if any."""
    path = config_path(env)
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise UsageError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes; not a Modellix config")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the Modellix config ({exc.strerror})") from exc
    except ValueError as exc:
        raise UsageError(f"{path}: the Modellix config is not JSON ({exc})") from exc
    if not isinstance(data, dict):
        return None
    profiles = data.get("profiles")
    chosen = env.get(PROFILE_VARIABLE, "").strip()
    if not isinstance(profiles, dict):  # the older single-key shape
        legacy = data.get("apiKey")
        if isinstance(legacy, str) and legacy.strip() and chosen in ("", DEFAULT_PROFILE):
            return FoundKey(legacy.strip(), f"{path}")
        return None
    current = data.get("currentProfile")
    profile = chosen or (current if isinstance(current, str) and current else DEFAULT_PROFILE)
    entry = profiles.get(profile)
    key = entry.get("apiKey") if isinstance(entry, dict) else None
    if isinstance(key, str) and key.strip():
        return FoundKey(key.strip(), f"{path} (profile {profile})")
    if chosen:
        raise UsageError(
            f"{PROFILE_VARIABLE}={chosen}: {path} has no key for that profile "
            f"(its profiles: {', '.join(map(str, profiles)) or 'none'})"
        )
    return None
