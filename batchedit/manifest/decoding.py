"""Preflight that decodes: every distinct local image decoded once, in full,
before anything is paid for.

The cheap checks of preflight.py read 16 bytes; a truncated JPEG, a PNG whose
chunks are garbage after a good header, or a 30000x30000 decompression bomb
pass them and would be uploaded and paid for. Here each file is decoded by
Pillow (its header's size checked against `MAX_PIXELS` first, so a bomb is
never expanded), once per process for a (path, size, mtime) and once per run
directory for a content digest:

- `Verdicts` is the process's memory, consulted by every row validator
  (`validate`, the plan, the producer and the report all see one verdict);
- `predecode` fills it for many files at once in worker threads, reading and
  writing the run directory's `decoded.jsonl` (sha256 -> verdict), so a
  re-run decodes only new or changed files.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from batchedit.jsonlines import append_lines, dumps_line, loads, read_lines
from batchedit.manifest.input_files import read_input_header
from batchedit.pictures import PIXEL_BUDGET, PictureRefused, decoded_pixels, load_picture
from batchedit.records import InvalidRow, Row

#: Files larger than this many pixels are refused (a sane cap; 50 MP is 8660 x 5773).
MAX_PIXELS = 50_000_000
DECODE_THREADS = 4
DECODED_FILE = "decoded.jsonl"
_FORMATS = ("PNG", "JPEG", "WEBP")


#: A JPEG input to be prepared is judged at this long side at least (libjpeg
#: still reads every byte of its scans, so a file cut short fails the same).
_JUDGE_DRAFT_PX = 1024


def decode_problem(path: Path, *, prepare: bool = False) -> str | None:
    """`strict_problem`, or with `prepare` `prepared_problem`."""
    return prepared_problem(path) if prepare else strict_problem(path)


def prepared_problem(path: Path) -> str | None:
    """Why the input at `path` cannot be prepared for upload (input_prep.py):
    not one of the input formats, over 250 MP by its header, or not decodable
    (a JPEG decoded at a reduced scale, all under the pixel budget), or None.
    Blocking: call it from a thread."""
    try:
        header = read_input_header(path)
        with Image.open(path, formats=(header.format,)) as image:
            pixels = decoded_pixels(image, draft_px=_JUDGE_DRAFT_PX)
            with PIXEL_BUDGET.hold(pixels):
                load_picture(image, draft_px=_JUDGE_DRAFT_PX)
    except PictureRefused as exc:
        return exc.message
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        return f"cannot be decoded ({exc}): is it cut short or damaged?"
    return None


def strict_problem(path: Path) -> str | None:
    """Why `path` is not a whole PNG, JPEG or WebP image of at most MAX_PIXELS,
    or None; the message leaves the file to the caller to name (a verdict is
    kept by content, and the same content may sit under several names).
    Blocking (reads and decodes): call it from a thread."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path, formats=_FORMATS) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    megapixels = width * height / 1_000_000
                    return (
                        f"is {width}x{height} pixels ({megapixels:.0f} MP); at most "
                        f"{MAX_PIXELS // 1_000_000} MP is accepted"
                    )
                image.load()
    except Image.DecompressionBombError:  # far past the cap: Pillow refuses to open it
        cap = MAX_PIXELS // 1_000_000
        return f"is far over {cap} MP (a decompression bomb?); at most {cap} MP is accepted"
    except UnidentifiedImageError:
        return "cannot be decoded as a PNG, JPEG or WebP image"
    except (OSError, ValueError, SyntaxError, EOFError) as exc:  # Pillow's "corrupt"
        return f"cannot be decoded ({exc}): is it cut short or damaged?"
    return None


class Verdicts:
    """Decode verdicts by (path, size, mtime_ns, prepare): a file decoded once
    per process for each way inputs are taken."""

    def __init__(self) -> None:
        self._known: dict[_Key, str | None] = {}
        self._lock = threading.Lock()

    def problem(self, path: Path, *, prepare: bool = False) -> str | None:
        """The verdict on `path`, decoding it now if no verdict is known yet."""
        key = _key(path, prepare)
        if key is None:
            return None  # gone since the cheap checks: the uploader says so
        with self._lock:
            if key in self._known:
                return self._known[key]
        verdict = decode_problem(path, prepare=prepare)
        self.remember(key, verdict)
        return verdict

    def known(self, path: Path, *, prepare: bool = False) -> bool:
        key = _key(path, prepare)
        with self._lock:
            return key is not None and key in self._known

    def remember(self, key: _Key, verdict: str | None) -> None:
        with self._lock:
            self._known[key] = verdict


#: The process's verdicts: every RowValidator asks here.
VERDICTS = Verdicts()


def predecode(
    paths: Iterable[Path],
    state_dir: Path | None = None,
    *,
    digest_of: Callable[[Path], str | None] | None = None,
    verdicts: Verdicts = VERDICTS,
    threads: int = DECODE_THREADS,
    prepare: bool = False,
) -> int:
    """Decode every file of `paths` not yet judged, in worker threads, reusing and
    extending the run directory's verdicts by content digest (`digest_of`: the
    caller's cached hashing, if it has one); the number decoded."""
    saved = _load(state_dir, prepare)
    digest_of = digest_of or _sha256_file
    todo: list[tuple[_Key, str, Path]] = []
    for path in dict.fromkeys(paths):
        key = _key(path, prepare)
        if key is None or verdicts.known(path, prepare=prepare):
            continue
        sha256 = digest_of(path)
        if sha256 is None:
            continue  # unreadable now: the row's own check says so
        if sha256 in saved:
            verdicts.remember(key, saved[sha256])
        else:
            todo.append((key, sha256, path))
    if not todo:
        return 0
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="batchedit-decode") as pool:
        results = list(pool.map(lambda item: decode_problem(item[2], prepare=prepare), todo))
    fresh: dict[str, str | None] = {}
    for (key, sha256, _), verdict in zip(todo, results, strict=True):
        verdicts.remember(key, verdict)
        fresh[sha256] = verdict
    _save(state_dir, fresh, prepare)
    return len(todo)


def local_paths(rows: Iterable[Row | InvalidRow]) -> Iterator[Path]:
    """The local image files of the valid rows, as the validator found them."""
    for row in rows:
        if isinstance(row, Row):
            for image in row.request.images:
                if image.path is not None:
                    yield image.path


def _sha256_file(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


_Key = tuple[Path, int, int, bool]


def _key(path: Path, prepare: bool) -> _Key | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (path, stat.st_size, stat.st_mtime_ns, prepare)


def _load(state_dir: Path | None, prepare: bool) -> dict[str, str | None]:
    """sha256 -> verdict from earlier runs. A torn last line is dropped
    (jsonlines.py); a foreign line anywhere is skipped: a verdict lost costs a
    decode, nothing more."""
    saved: dict[str, str | None] = {}
    if state_dir is None:
        return saved
    try:
        lines = list(read_lines(state_dir / DECODED_FILE))
    except OSError:
        return saved
    for line in lines:
        try:
            entry = loads(line.text)
        except ValueError:
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            continue
        if bool(entry.get("prepared", False)) != prepare:
            continue  # a verdict on how the other setting takes inputs
        problem = entry.get("problem")
        saved[entry["sha256"]] = problem if isinstance(problem, str) else None
    return saved


def _save(state_dir: Path | None, fresh: dict[str, str | None], prepare: bool) -> None:
    """Append the new verdicts to a state folder that exists (a run holds its lock
    there); losing them costs a decode next time, nothing more."""
    if state_dir is None or not fresh or not state_dir.is_dir():
        return
    lines = b"".join(
        dumps_line({"sha256": sha256, "problem": problem, "prepared": prepare})
        for sha256, problem in fresh.items()
    )
    with contextlib.suppress(OSError):
        append_lines(state_dir / DECODED_FILE, lines)
