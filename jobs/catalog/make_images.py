"""Draw the sample catalog's product photos (the inputs of `make demo`).

Every picture is made here from flat shapes: no third-party photos, no
randomness, so a re-run writes the same files. Each product stands on a soft
two-tone studio backdrop (wall and floor) over a blurred floor shadow. Shapes
are drawn at 3x and scaled down for smooth edges, then reduced to a small
palette so each PNG stays well under 40 KB.

Regenerate from the repository root:

    .venv/bin/python jobs/catalog/make_images.py

`catalog.csv` refers to these files by name; keep the two lists in step.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

RGB = tuple[int, int, int]
Point = tuple[float, float]
Box = tuple[float, float, float, float]

#: Shapes are drawn this many times larger, then scaled down (anti-aliasing).
SUPERSAMPLE = 3
#: Colours kept in each PNG's palette: flat shapes need few, and few compress well.
PALETTE_COLOURS = 48
#: Product units across the shorter side of a picture.
UNITS_ACROSS = 100.0
#: Where the floor line under the product sits, as a fraction of the height.
FLOOR_AT = 0.84
#: Where the wall meets the floor behind the product.
HORIZON_AT = 0.60

WHITE: RGB = (255, 255, 255)
BLACK: RGB = (0, 0, 0)
OFF_WHITE: RGB = (246, 244, 238)


def rgb(value: str) -> RGB:
    """`"#a1b2c3"` as an RGB triple."""
    value = value.lstrip("#")
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))


def mix(a: RGB, b: RGB, t: float) -> RGB:
    """The colour a fraction `t` of the way from `a` to `b`."""
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def darker(colour: RGB, t: float = 0.18) -> RGB:
    return mix(colour, BLACK, t)


def lighter(colour: RGB, t: float = 0.25) -> RGB:
    return mix(colour, WHITE, t)


@dataclass(frozen=True, slots=True)
class Colourway:
    """The three colours of one picture: the product's, its trim, the backdrop."""

    main: RGB
    accent: RGB
    backdrop: RGB


@dataclass(frozen=True, slots=True)
class Pen:
    """Draws in product units: x to the right of the product's centre line,
    y upwards from the floor, so drawings are independent of picture size."""

    draw: ImageDraw.ImageDraw
    origin_x: float
    origin_y: float
    px_per_unit: float

    def point(self, x: float, y: float) -> Point:
        return (self.origin_x + x * self.px_per_unit, self.origin_y - y * self.px_per_unit)

    def box(self, x0: float, y0: float, x1: float, y1: float) -> Box:
        left, top = self.point(min(x0, x1), max(y0, y1))
        right, bottom = self.point(max(x0, x1), min(y0, y1))
        return (left, top, right, bottom)

    def width(self, units: float) -> int:
        return max(1, round(units * self.px_per_unit))

    def rect(
        self,
        box: Box,
        fill: RGB,
        radius: float = 0.0,
        corners: tuple[bool, bool, bool, bool] | None = None,
    ) -> None:
        """A rectangle given as (x0, y0, x1, y1) in units; corners as Pillow orders them
        (top-left, top-right, bottom-right, bottom-left)."""
        self.draw.rounded_rectangle(
            self.box(*box), radius * self.px_per_unit, fill=fill, corners=corners
        )

    def oval(self, box: Box, fill: RGB) -> None:
        self.draw.ellipse(self.box(*box), fill=fill)

    def ring(self, box: Box, colour: RGB, width: float) -> None:
        self.draw.ellipse(self.box(*box), outline=colour, width=self.width(width))

    def lower_half(self, box: Box, fill: RGB) -> None:
        """The lower half of the ellipse in `box` (Pillow's angles run clockwise)."""
        self.draw.chord(self.box(*box), 0, 180, fill=fill)

    def upper_half(self, box: Box, fill: RGB) -> None:
        self.draw.chord(self.box(*box), 180, 360, fill=fill)

    def poly(self, points: Sequence[Point], fill: RGB) -> None:
        self.draw.polygon([self.point(x, y) for x, y in points], fill=fill)

    def line(self, points: Sequence[Point], colour: RGB, width: float) -> None:
        self.draw.line(
            [self.point(x, y) for x, y in points],
            fill=colour,
            width=self.width(width),
            joint="curve",
        )


def bezier(p0: Point, p1: Point, p2: Point, steps: int = 16) -> list[Point]:
    """Points along the quadratic Bezier curve from p0 to p2 pulled towards p1."""
    out: list[Point] = []
    for i in range(steps + 1):
        t = i / steps
        a, b, c = (1 - t) ** 2, 2 * (1 - t) * t, t * t
        out.append((a * p0[0] + b * p1[0] + c * p2[0], a * p0[1] + b * p1[1] + c * p2[1]))
    return out


def leaf(base: Point, angle_deg: float, length: float, half_width: float) -> list[Point]:
    """A pointed leaf outline growing from `base` at `angle_deg` (0 = right, 90 = up)."""
    ux, uy = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    nx, ny = -uy, ux
    steps = 12
    left: list[Point] = []
    right: list[Point] = []
    for i in range(steps + 1):
        t = i / steps
        w = half_width * math.sin(math.pi * t) ** 0.8
        cx, cy = base[0] + ux * length * t, base[1] + uy * length * t
        left.append((cx + nx * w, cy + ny * w))
        right.append((cx - nx * w, cy - ny * w))
    return left + right[::-1]


# --- the products --------------------------------------------------------------------
# Each function draws one product standing on the floor line (y = 0), centred on x = 0.


def draw_mug(pen: Pen, c: Colourway) -> None:
    pen.ring((8, 11, 33, 38), darker(c.main, 0.12), width=5.5)
    pen.rect((-22, 0, 18, 46), c.main, radius=7, corners=(False, False, True, True))
    pen.rect((-22, 15, 18, 20), c.accent)
    pen.rect((7, 0, 18, 46), darker(c.main, 0.12), radius=7, corners=(False, False, True, False))
    pen.rect((7, 15, 18, 20), darker(c.accent, 0.12))
    pen.rect((-17, 23, -13, 41), lighter(c.main, 0.3), radius=2)
    pen.rect((-17, 5, -13, 12), lighter(c.main, 0.3), radius=2)
    pen.oval((-22, 42, 18, 50), lighter(c.main, 0.12))
    pen.oval((-19.5, 43.3, 15.5, 48.7), darker(c.main, 0.45))


def draw_tshirt(pen: Pen, c: Colourway) -> None:
    outline = [
        (-9, 64), (-24, 61), (-40, 45), (-31, 35), (-21, 42), (-21, 0),
        (21, 0), (21, 42), (31, 35), (40, 45), (24, 61), (9, 64),
    ]  # fmt: skip
    pen.poly(outline, c.main)
    pen.poly([(11, 0), (21, 0), (21, 42), (15, 47)], darker(c.main, 0.1))
    pen.poly([(21, 42), (31, 35), (40, 45), (24, 61)], darker(c.main, 0.1))
    pen.rect((-21, 0, 21, 3), darker(c.main, 0.2))
    pen.line([(-38.2, 47), (-29.4, 37.3)], darker(c.main, 0.2), width=1.2)
    pen.line([(38.2, 47), (29.4, 37.3)], darker(c.main, 0.28), width=1.2)
    pen.lower_half((-11, 53, 11, 75), c.accent)
    pen.lower_half((-8, 56.5, 8, 71.5), darker(c.main, 0.4))
    pen.rect((-15, 38, -6, 48), c.accent, radius=1.2)
    pen.rect((-15, 46, -6, 48), darker(c.accent, 0.15))


def draw_sneaker(pen: Pen, c: Colourway) -> None:
    upper = [
        (-41, 8), *bezier((-42, 26), (-42, 34), (-33, 36), 6), (-27, 36), (-20, 31),
        *bezier((-20, 31), (5, 26), (34, 18), 10), *bezier((34, 18), (47, 16), (46, 8), 8),
    ]  # fmt: skip
    pen.poly(upper, c.main)
    pen.poly(
        [(-21, 31), *bezier((-18, 40), (-13, 43), (-8, 38), 6), (-5, 27)], lighter(c.main, 0.15)
    )
    pen.poly([(-42, 25), (-38, 34), (-33, 35), (-35, 20), (-41, 12)], c.accent)
    pen.poly([(-26, 11), (-9, 26), (-3, 25), (-19, 11)], c.accent)
    pen.poly([(-14, 11), (3, 23), (8, 22), (-7, 11)], c.accent)
    pen.poly([(28, 9), (29, 19), *bezier((34, 18), (47, 16), (46, 8), 8)], darker(c.main, 0.08))
    for i in range(4):
        x, y = -16 + i * 4, 30.4 - i * 0.85
        pen.line([(x - 1.4, y - 3.2), (x + 1.2, y + 1.4)], darker(c.accent, 0.25), width=1.1)
    pen.rect((-43, 0, 47, 9), OFF_WHITE, radius=4)
    pen.rect((-43, 0, 47, 2.6), darker(c.accent, 0.35), radius=1.3)
    pen.line([(-40, 5.6), (44, 5.6)], mix(OFF_WHITE, c.accent, 0.25), width=0.6)


def draw_backpack(pen: Pen, c: Colourway) -> None:
    pen.ring((-8, 61, 8, 76), darker(c.main, 0.3), width=2.6)
    pen.rect((-28, 6, -22, 44), darker(c.main, 0.3), radius=3)
    pen.rect((22, 6, 28, 44), darker(c.main, 0.35), radius=3)
    pen.rect((-24, 0, 24, 68), c.main, radius=14)
    pen.rect((-19, 5, 19, 33), darker(c.main, 0.12), radius=8)
    pen.line([(-15, 28.5), (15, 28.5)], c.accent, width=1.1)
    pen.rect((8, 22.5, 11, 28.5), c.accent, radius=1)
    pen.line(bezier((-20, 44), (0, 74), (20, 44)), c.accent, width=1.1)
    pen.rect((-5, 38, 5, 45), c.accent, radius=1.2)
    pen.rect((-16, 60, 16, 64), lighter(c.main, 0.12), radius=2)


def draw_backpack_back(pen: Pen, c: Colourway) -> None:
    pen.ring((-8, 61, 8, 76), darker(c.main, 0.3), width=2.6)
    pen.rect((-24, 0, 24, 68), c.main, radius=14)
    pen.rect((-19, 8, 19, 60), darker(c.main, 0.15), radius=10)
    for x in (-15.5, 6.5):
        pen.rect((x, 4, x + 9, 64), darker(c.main, 0.32), radius=4)
        pen.rect((x + 1.5, 16, x + 7.5, 20), c.accent, radius=1)
    pen.rect((-11, 42, 11, 44.5), c.accent, radius=1)
    pen.rect((-3, 40.5, 3, 46), darker(c.accent, 0.2), radius=1)


def draw_lamp(pen: Pen, c: Colourway) -> None:
    pen.rect((-17, 0, 17, 4), darker(c.main, 0.15), radius=2)
    pen.oval((-17, 2, 17, 7), c.main)
    pen.line([(0, 5), (0, 52)], c.main, width=2.4)
    pen.line([(0.6, 5), (0.6, 52)], darker(c.main, 0.2), width=0.8)
    pen.poly([(-23, 50), (23, 50), (14, 76), (-14, 76)], c.accent)
    pen.poly([(-23, 50), (-9, 50), (-5, 76), (-14, 76)], lighter(c.accent, 0.25))
    pen.poly([(9, 50), (23, 50), (14, 76), (6, 76)], darker(c.accent, 0.1))
    pen.lower_half((-23, 47.5, 23, 52.5), rgb("#ffe9a8"))
    pen.oval((-1.8, 75.5, 1.8, 79), c.main)


def draw_plant(pen: Pen, c: Colourway) -> None:
    green = rgb("#5c8f55")
    pen.poly([(-19.5, 32), (19.5, 32), (15, 0), (-15, 0)], c.main)
    pen.poly([(11, 32), (19.5, 32), (15, 0), (8.5, 0)], darker(c.main, 0.12))
    pen.oval((-21, 36, 21, 41), rgb("#5a4636"))
    leaves = [(100, 40, 8), (62, 36, 7), (128, 34, 7), (35, 28, 6), (152, 27, 6), (84, 30, 6)]
    for i, (angle, length, width) in enumerate(leaves):
        colour = green if i % 2 == 0 else darker(green, 0.18)
        pen.poly(leaf((0, 38.5), angle, length, width), colour)
    pen.rect((-22.5, 31, 22.5, 38.5), lighter(c.main, 0.1), radius=1.5)
    pen.rect((12, 31, 22.5, 38.5), darker(c.main, 0.06), radius=1.5, corners=(False,) * 4)
    pen.rect((-8, 12, 8, 20), c.accent, radius=1)


def draw_bottle(pen: Pen, c: Colourway) -> None:
    pen.rect((-13, 0, 13, 52), c.main, radius=8)
    pen.oval((-13, 42, 13, 62), c.main)
    pen.rect((-7, 56, 7, 64), darker(c.main, 0.1))
    pen.rect((-8.5, 63, 8.5, 73), c.accent, radius=2)
    pen.ring((-4, 71, 4, 79), c.accent, width=1.8)
    pen.rect((-13, 16, 13, 30), mix(c.main, WHITE, 0.65))
    pen.rect((6, 6, 10, 48), darker(c.main, 0.1), radius=2)
    pen.rect((-9.5, 8, -6.5, 46), lighter(c.main, 0.35), radius=1.5)
    pen.line([(-6, 23), (4, 23)], darker(c.main, 0.2), width=1.2)


def draw_cap(pen: Pen, c: Colourway) -> None:
    pen.upper_half((-27, -28, 27, 36), c.main)
    for end in (-20.0, 5.0, 21.0):
        pen.line(bezier((0, 35), (end * 0.7, 32), (end, 4)), darker(c.main, 0.18), width=0.9)
    pen.oval((-2.5, 33.5, 2.5, 37.5), c.accent)
    pen.oval((-13, 23, -10, 26), darker(c.main, 0.3))
    pen.rect((4, 13, 14, 20), lighter(c.main, 0.55), radius=1)
    underside = bezier((50, 3.5), (34, 1.5), (10, 5)) + bezier((10, 3), (34, -0.5), (50, 3.5))
    pen.poly(underside, darker(c.accent, 0.3))
    top = bezier((10, 10), (36, 11.5), (50, 3.5)) + bezier((50, 3.5), (34, 1.5), (10, 5))
    pen.poly(top, c.accent)
    pen.line(bezier((13, 8.6), (35, 9.6), (46, 4.4)), lighter(c.accent, 0.2), width=0.6)


def draw_swatch(pen: Pen, c: Colourway) -> None:
    """A fabric swatch card: the material close up, for a second input image."""
    pen.rect((-30, 0, 30, 72), OFF_WHITE, radius=2)
    pen.rect((-26, 16, 26, 68), c.main)
    for i in range(26):
        y = 17 + i * 2
        pen.line([(-26, y), (26, y)], lighter(c.main, 0.1), width=0.5)
    for i in range(26):
        x = -25 + i * 2
        pen.line([(x, 16), (x, 68)], darker(c.main, 0.12), width=0.5)
    teeth = [(-26 + i * 2.6, 16 if i % 2 == 0 else 13.8) for i in range(21)]
    pen.poly([(-26, 16), *teeth, (26, 16)], c.main)
    for label_y, length in ((8.5, 34.0), (4.5, 22.0)):
        pen.line([(-24, label_y), (-24 + length, label_y)], rgb("#9a968c"), width=1.2)


Drawer = Callable[[Pen, Colourway], None]


@dataclass(frozen=True, slots=True)
class Product:
    """How to draw one kind of product, and the picture it is drawn in."""

    drawer: Drawer
    size: tuple[int, int]
    #: Half the width of the floor shadow, in product units.
    shadow_half_width: float = 28.0
    #: The middle of the drawing in product units, placed at the picture's centre.
    centre_x: float = 0.0


@dataclass(frozen=True, slots=True)
class Picture:
    """One output file: a product in one colourway."""

    name: str
    product: Product
    colours: Colourway


def colourway(main: str, accent: str, backdrop: str) -> Colourway:
    return Colourway(rgb(main), rgb(accent), rgb(backdrop))


SQUARE = (384, 384)
LANDSCAPE = (480, 320)
PORTRAIT = (320, 400)
TALL = (288, 384)

MUG = Product(draw_mug, SQUARE, shadow_half_width=30, centre_x=5)
TSHIRT = Product(draw_tshirt, SQUARE, shadow_half_width=30)
SNEAKER = Product(draw_sneaker, LANDSCAPE, shadow_half_width=46, centre_x=2)
BACKPACK = Product(draw_backpack, PORTRAIT)
BACKPACK_BACK = Product(draw_backpack_back, PORTRAIT)
LAMP = Product(draw_lamp, TALL, shadow_half_width=20)
PLANT_POT = Product(draw_plant, SQUARE, shadow_half_width=22)
BOTTLE = Product(draw_bottle, SQUARE, shadow_half_width=18)
CAP = Product(draw_cap, SQUARE, shadow_half_width=36, centre_x=11)
SWATCH = Product(draw_swatch, SQUARE, shadow_half_width=30)

#: Every file written, in catalog order.
PICTURES: tuple[Picture, ...] = (
    Picture("mug-red.png", MUG, colourway("#c8423b", "#f3e6d0", "#f4e3dc")),
    Picture("mug-teal.png", MUG, colourway("#2f8f8a", "#f2d58a", "#dcefec")),
    Picture("tshirt-navy.png", TSHIRT, colourway("#2c3e66", "#d9a441", "#e3e8f2")),
    Picture("tshirt-mustard.png", TSHIRT, colourway("#d9a33a", "#6b4a1f", "#f6ecd6")),
    Picture("sneaker-white.png", SNEAKER, colourway("#f1efe9", "#3b5b8c", "#e4e9ef")),
    Picture("sneaker-coral.png", SNEAKER, colourway("#ee7a62", "#2f3b45", "#f8e5dc")),
    Picture("backpack-olive.png", BACKPACK, colourway("#6f7a45", "#e0b15a", "#eceadb")),
    Picture("backpack-olive-back.png", BACKPACK_BACK, colourway("#6f7a45", "#e0b15a", "#eceadb")),
    Picture("lamp-brass.png", LAMP, colourway("#b8913f", "#f1e8d6", "#e6e1ec")),
    Picture("plantpot-terracotta.png", PLANT_POT, colourway("#c56a45", "#f0d6c4", "#e8efe3")),
    Picture("plantpot-white.png", PLANT_POT, colourway("#f3f1ec", "#8aa6b8", "#dfe9ee")),
    Picture("bottle-sky.png", BOTTLE, colourway("#6fb2e0", "#2b4a63", "#e6f1f7")),
    Picture("bottle-charcoal.png", BOTTLE, colourway("#3d4247", "#e07a4f", "#eee6de")),
    Picture("cap-forest.png", CAP, colourway("#2f5d46", "#e9dcc0", "#e7eee4")),
    Picture("cap-cream.png", CAP, colourway("#efe4cc", "#8c3b3b", "#ece4e8")),
    Picture("swatch-navy.png", SWATCH, colourway("#2c3e66", "#d9a441", "#e3e8f2")),
)


def render(picture: Picture) -> Image.Image:
    """The finished picture: backdrop, soft floor shadow, product, palette."""
    product = picture.product
    width, height = (side * SUPERSAMPLE for side in product.size)
    wall = picture.colours.backdrop
    image = Image.new("RGB", (width, height), wall)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, round(height * HORIZON_AT), width, height), fill=darker(wall, 0.05))

    px_per_unit = min(width, height) / UNITS_ACROSS
    origin_x = width / 2 - product.centre_x * px_per_unit
    pen = Pen(draw, origin_x, height * FLOOR_AT, px_per_unit)

    # The shadow is drawn on its own mask so it can be blurred, then laid on the floor.
    mask = Image.new("L", (width, height), 0)
    shadow = Pen(ImageDraw.Draw(mask), pen.origin_x, pen.origin_y, px_per_unit)
    left = product.centre_x - product.shadow_half_width
    right = product.centre_x + product.shadow_half_width
    shadow.draw.ellipse(shadow.box(left, -3.5, right, 3.5), fill=120)
    mask = mask.filter(ImageFilter.GaussianBlur(2.2 * px_per_unit))
    image.paste(darker(wall, 0.3), (0, 0), mask)

    product.drawer(pen, picture.colours)
    small = image.resize(product.size, Image.Resampling.LANCZOS)
    return small.quantize(
        colors=PALETTE_COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
    )


def write_all(out_dir: Path) -> list[Path]:
    """Render every picture into `out_dir`; the paths written, in catalog order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for picture in PICTURES:
        path = out_dir / picture.name
        render(picture).save(path, format="PNG", optimize=True)
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Write the pictures and list them with their pixel size and file size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "images",
        help="directory to write the PNGs to (default: images/ next to this script)",
    )
    args = parser.parse_args(argv)
    for path in write_all(args.out):
        with Image.open(path) as image:
            size = f"{image.width}x{image.height}"
        print(f"{path.name:28} {size:>8} {path.stat().st_size / 1024:6.1f} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
