"""Sharding: one slice of a manifest's rows per machine, chosen by a hash of the row id.

`--shard K/N` keeps the rows whose id hashes to K modulo N. The hash is of
the id alone (BLAKE2b, not Python's salted `hash`), so every machine, every
run and every Python agree, and a row stays in its shard when rows are added
or reordered. A duplicate id lands in the same shard as its first occurrence,
where validation catches it; rows keep their manifest row number, so the
shards' reports merge back into manifest order (`batchedit report merge`).

`--shard N` takes K from the job-array index of the engine that started the
process: Kubernetes Indexed Jobs, AWS Batch array jobs or Slurm job arrays.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass

#: Where job-array engines put this process's index, in the order they are read.
INDEX_VARIABLES = ("JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX", "SLURM_ARRAY_TASK_ID")


@dataclass(frozen=True, slots=True)
class Shard:
    index: int  # K, from 0
    count: int  # N

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"the number of shards must be at least 1 (got {self.count})")
        if not 0 <= self.index < self.count:
            raise ValueError(
                f"shard {self.index} does not exist among {self.count}: "
                f"K counts from 0 to {self.count - 1}, as JOB_COMPLETION_INDEX does"
            )

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, row_id: str) -> bool:
        return shard_of(row_id, self.count) == self.index


def shard_of(row_id: str, count: int) -> int:
    """The shard (0 .. count-1) that a row id belongs to, the same everywhere."""
    digest = hashlib.blake2b(row_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


def parse_shard(text: str, environ: Mapping[str, str] | None = None) -> Shard:
    """`"K/N"`, or `"N"` with K from the job-array index; ValueError saying how to fix it."""
    environ = os.environ if environ is None else environ
    index_text, sep, count_text = text.strip().partition("/")
    if not sep:
        index_text, count_text = "", index_text
    try:
        count = int(count_text)
    except ValueError:
        raise ValueError(
            f"--shard takes K/N, or N with K from the job array (got {text!r})"
        ) from None
    if index_text.strip():
        try:
            index = int(index_text)
        except ValueError:
            raise ValueError(f"--shard K/N: K must be a whole number (got {text!r})") from None
    else:
        index = _index_from_environment(environ, text)
    return Shard(index, count)


def _index_from_environment(environ: Mapping[str, str], text: str) -> int:
    for name in INDEX_VARIABLES:
        value = environ.get(name, "").strip()
        if value:
            try:
                return int(value)
            except ValueError:
                raise ValueError(f"{name}={value!r} is not a whole number") from None
    raise ValueError(
        f"--shard {text}: no shard index given and none of {', '.join(INDEX_VARIABLES)} is set; "
        "give --shard K/N"
    )


def shard_from_flag(text: str) -> str:
    """`K/N` with K read from the job array now (a bare N), so `retry` replays it."""
    return str(parse_shard(text))
