"""`--result-profile realistic`: photo-like results at the model's real output
grid, so a client meets results at their real sizes.

A real 4K result is a 15-30 MB PNG: 4096x4096 pixels of detail and grain
that do not compress, where the ordinary simulator result (a tinted copy of
the input) compresses to a few hundred KB. Memory and CPU measured against
those say little. So each result here is a texture: smooth gradients under
fine grain, at the size the catalogue's grid gives, PNG unless the request
asks for another format. A 4K PNG comes out at about 17 MB.

It must stay cheap: in benchmarks the simulator shares the cores with the
client it serves. The grain is a band of noise as wide as the picture, made
once per width and repeated down it (a repeat far apart, beyond what PNG's
compressor can see, so it still does not compress), and each file is made
once per shape and served to every task of that shape, as prerendered.py
does with its gradients. The colours follow the shape, so every file of a
run is the same for the same request, run after run.
"""

from __future__ import annotations

import functools
import hashlib

from PIL import Image, ImageChops, ImageOps

#: Rows of grain made at once and repeated down the picture: an odd count, so
#: the repeat never lines up with the 8-row blocks an encoder may use.
GRAIN_ROWS = 61
#: The grain's standard deviation, in levels: enough that a 4K PNG is 15 MB or
#: more, as a real one is, and yet a picture rather than noise.
GRAIN_SIGMA = 4.0


def paint_photo(size_px: tuple[int, int]) -> Image.Image:
    """A photo-like RGB picture of `size_px`: a gradient in colours chosen by
    the shape, under a grain shared by the three channels (as a sensor's
    luminance noise is)."""
    width, height = size_px
    seed = hashlib.sha256(f"{width}x{height}".encode()).digest()
    angle = seed[0] * 360 / 256
    gradient = Image.linear_gradient("L").rotate(angle, resample=Image.Resampling.BILINEAR)
    dark = (seed[1] // 3, seed[2] // 3, seed[3] // 3)
    light = (150 + seed[4] // 3, 150 + seed[5] // 3, 150 + seed[6] // 3)
    base = ImageOps.colorize(gradient.resize(size_px, Image.Resampling.BILINEAR), dark, light)
    band = _grain(width)
    grain = Image.new("RGB", size_px)
    for top in range(0, height, GRAIN_ROWS):
        grain.paste(band, (0, top))
    return ImageChops.add(base, grain, scale=1.0, offset=-128)


@functools.cache
def _grain(width: int) -> Image.Image:
    """GRAIN_ROWS rows of noise centred on 128, the same in each channel."""
    noise = Image.effect_noise((width, GRAIN_ROWS), GRAIN_SIGMA)
    return Image.merge("RGB", (noise, noise, noise))
