"""`--feed shopify`: a Shopify product CSV that updates products' images by import.

Imported with "Overwrite products with matching handles", it changes only
the columns it has: Shopify keeps every other value of a product as it is.
Per product (its `Handle`), one line per published image, numbered by
`Image Position` in the manifest's order, with the row's alt text. When the
rows are variants (they have a SKU), a row's first image is also its
variant's `Variant Image`, on a line that names the variant by `Variant SKU`
and by its option values (`Option1 Name`, `Option1 Value`, ... when the
catalog has them), which is how Shopify's import finds a variant.

Values come from the rows' fields (feeds.py says where), verbatim.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from batchedit.errors import UsageError
from batchedit.report.publish.feeds import PublishedRow, field_text
from batchedit.report.publish.links import PublicBase
from batchedit.report.publish.sync import Feed

SHOPIFY_FEED = "shopify-images.csv"
OPTION_COLUMNS = tuple(f"Option{n} {part}" for n in (1, 2, 3) for part in ("Name", "Value"))
#: Where each Shopify column is read from: the mapped field first, then Shopify's own name.
HANDLE = ("handle", "Handle")
SKU = ("sku", "Variant SKU")
ALT_TEXT = ("alt_text", "Image Alt Text")
MAX_IDS_SHOWN = 10


def shopify_feed(rows: Sequence[PublishedRow], base: PublicBase) -> Feed:
    """The product CSV; refused (naming the rows) when a row has no handle."""
    missing = [row.record.id for row in rows if not field_text(row.record, *HANDLE)]
    if missing:
        shown = ", ".join(missing[:MAX_IDS_SHOWN]) + (
            " ..." if len(missing) > MAX_IDS_SHOWN else ""
        )
        raise UsageError(
            f"--feed shopify: {len(missing)} row(s) have no product handle ({shown}); "
            "give the manifest a Handle column, or map one in the job: columns: {handle: COLUMN}"
        )
    variants = any(field_text(row.record, *SKU) for row in rows)
    options = [c for c in OPTION_COLUMNS if any(field_text(r.record, c) for r in rows)]
    header = ["Handle", *options]
    if variants:
        header += ["Variant SKU", "Variant Image"]
    header += ["Image Src", "Image Position", "Image Alt Text"]
    out = io.StringIO()
    writer = csv.DictWriter(out, header, lineterminator="\n")
    writer.writeheader()
    for handle, group in _by_handle(rows):
        position = 0
        for row in group:
            alt = field_text(row.record, *ALT_TEXT)
            for index, name in enumerate(row.names):
                position += 1
                line = {
                    "Handle": handle,
                    "Image Src": base.link(name),
                    "Image Position": str(position),
                    "Image Alt Text": alt,
                }
                sku = field_text(row.record, *SKU)
                if index == 0 and variants and sku:
                    line["Variant SKU"] = sku
                    line["Variant Image"] = base.link(name)
                    line.update({c: field_text(row.record, c) for c in options})
                writer.writerow(line)
    return Feed(SHOPIFY_FEED, out.getvalue().encode(), "text/csv")


def _by_handle(rows: Sequence[PublishedRow]) -> list[tuple[str, list[PublishedRow]]]:
    """The rows grouped by product, products in the order they first appear."""
    groups: dict[str, list[PublishedRow]] = {}
    for row in rows:
        groups.setdefault(field_text(row.record, *HANDLE), []).append(row)
    return list(groups.items())
