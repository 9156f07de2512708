"""Shop feeds from the published rows: what each shop reads, values verbatim.

A feed for upload keeps every value exactly as the catalog has it: a shop
matches rows on them (an id, a handle, a SKU), so nothing is escaped for a
spreadsheet's sake, unlike the CSVs batchedit writes for people to open.

Values come from the manifest's own columns, kept in each report line's
`fields`: under the name the job's `columns:` mapping gives them (`handle`,
`sku`, `alt_text`, `offer_id`) or, without a mapping, under the column
names of a shop's own export (`Handle`, `Variant SKU`, `Image Alt Text`).

`--feed merchant` writes a Google Merchant Center supplemental feed: a
tab-separated file with `id` and `image_link`, and `additional_image_link`
(comma-separated, at most 10, as Merchant Center takes) when a row publishes
several images. The id is the row's `offer_id` field when there is one (a
Merchant Center id differs from the catalog's own, e.g. for a Shopify-fed
account), else the row's id.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from batchedit.records import ReportRecord
from batchedit.report.publish.links import PublicBase
from batchedit.report.publish.sync import Feed

MERCHANT_FEED = "merchant-center-images.tsv"
#: Merchant Center reads at most 10 additional images per item.
MAX_ADDITIONAL_IMAGES = 10
FEED_KINDS = ("merchant", "shopify")


@dataclass(frozen=True, slots=True)
class PublishedRow:
    """A row and the names its images are published under, in order."""

    record: ReportRecord
    names: tuple[str, ...]


def field_text(record: ReportRecord, *names: str) -> str:
    """The first of the row's fields `names` that has a value, as text; "" if none."""
    for name in names:
        value = record.fields.get(name)
        if value is not None and str(value).strip():
            return str(value)
    return ""


def merchant_feed(rows: Sequence[PublishedRow], base: PublicBase) -> Feed:
    """The Merchant Center supplemental feed of the published rows' image links."""
    several = any(len(row.names) > 1 for row in rows)
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n")
    writer.writerow(("id", "image_link", "additional_image_link")[: 3 if several else 2])
    for row in rows:
        links = [base.link(name) for name in row.names]
        line = [field_text(row.record, "offer_id") or row.record.id, links[0]]
        if several:
            line.append(",".join(links[1 : 1 + MAX_ADDITIONAL_IMAGES]))
        writer.writerow(line)
    return Feed(MERCHANT_FEED, out.getvalue().encode(), "text/tab-separated-values")
