"""The baseline of benchmark B9: the same pictures made upright by a plain
Pillow loop, one thread, nothing else. For each file: open, decode at a
reduced scale where the target is smaller (`draft`; the bench's target is
the full size, so it decodes in full), apply the EXIF orientation, downscale
where it must, encode as JPEG at quality 95 (what batchedit's preparation
writes first) to a file. No budget, no cache, no hashing, no upload. Run as
its own process (`python bench/input_baseline.py TARGET_PX OUT_FOLDER FILE...`)
so that its peak RSS and CPU are its own; it prints the bytes it wrote."""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageOps


def prepare(path: Path, target_px: int, out: Path) -> int:
    """Make one picture upright, at most `target_px` on its long side; bytes written."""
    with Image.open(path, formats=("JPEG",)) as image:
        if target_px < max(image.size):
            image.draft("RGB", (target_px, target_px))
        picture = ImageOps.exif_transpose(image) or image
        if max(picture.size) > target_px:
            picture.thumbnail((target_px, target_px), Image.Resampling.LANCZOS)
        picture.save(out, "JPEG", quality=95)
    return out.stat().st_size


def main(target_px: int, folder: Path, files: list[Path]) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    return sum(prepare(path, target_px, folder / path.name) for path in files)


if __name__ == "__main__":
    print(main(int(sys.argv[1]), Path(sys.argv[2]), [Path(arg) for arg in sys.argv[3:]]))
