"""Channel profiles: the limits each sales channel sets on a product image.

`output: {profile: amazon | shopify | merchant}` shapes a stored result to
one of these (pipeline/write/profiles.py) and checks it against its rules. The
channels change their rules, so every value carries where it was read and
when, as the model catalogue does for prices: when a channel moves a limit,
this table is edited with a new source date, and docs/publishing.md says the
same. Values are the channel's published ones, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Source:
    """Where a value was read, and on what day (ISO date)."""

    url: str
    read_on: str


@dataclass(frozen=True, slots=True)
class ChannelProfile:
    """One channel's image rules. A None limit: the channel sets none.

    `max_side_px` and `max_megapixels` are met by downscaling (Lanczos);
    everything else is only checked, each broken rule reported as
    `profile:<rule>` in the row's checks."""

    name: str
    source: Source
    max_side_px: int | None  # longest side allowed; larger results are downscaled
    max_megapixels: float | None  # width x height / 1e6 allowed
    max_bytes: int | None  # the stored file's size allowed
    min_long_side_px: int | None  # the long side at least (Amazon: for zoom)
    min_short_side_px: int | None  # both sides at least (Merchant Center's minimum)
    jpeg_srgb: bool  # stored as JPEG in sRGB, alpha laid on white
    white_background: bool  # the borders must be pure white (Amazon's main image)
    min_fill: float | None  # the product's share of the frame, by its bounding box


#: Amazon's main (MAIN) image: pure white RGB 255,255,255 background, the
#: product filling 85 % or more of the frame, 1,000 px or more on the long
#: side for zoom, at most 10,000 px on the long side, JPEG preferred.
AMAZON = ChannelProfile(
    name="amazon",
    source=Source(
        "https://sellercentral.amazon.com/help/hub/reference/external/G1881", "2026-12-07"
    ),
    max_side_px=10_000,
    max_megapixels=None,
    max_bytes=None,
    min_long_side_px=1_000,
    min_short_side_px=None,
    jpeg_srgb=True,
    white_background=True,
    min_fill=0.85,
)

#: Shopify product media (MediaImage): at most 4472 x 4472 px or 20
#: megapixels, and 20 MB a file.
SHOPIFY = ChannelProfile(
    name="shopify",
    source=Source("https://shopify.dev/docs/apps/build/online-store/product-media", "2026-12-07"),
    max_side_px=4_472,
    max_megapixels=20.0,
    max_bytes=20_000_000,  # decimal MB: the stricter reading
    min_long_side_px=None,
    min_short_side_px=None,
    jpeg_srgb=False,
    white_background=False,
    min_fill=None,
)

#: Google Merchant Center `image_link`: at least 100 x 100 px (250 x 250 for
#: apparel; Google announces 500 x 500 for every product from 2027-01-31), at
#: most 64 megapixels and 16 MB.
MERCHANT = ChannelProfile(
    name="merchant",
    source=Source("https://support.google.com/merchants/answer/6324350", "2026-12-07"),
    max_side_px=None,
    max_megapixels=64.0,
    max_bytes=16_000_000,  # decimal MB: the stricter reading
    min_long_side_px=None,
    min_short_side_px=100,
    jpeg_srgb=False,
    white_background=False,
    min_fill=None,
)

PROFILES: dict[str, ChannelProfile] = {p.name: p for p in (AMAZON, SHOPIFY, MERCHANT)}
