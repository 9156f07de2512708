"""The user's price table: what one paid task costs, per model and size.

batchedit does not know Modellix's prices (they change, and differ per
account), so it never invents one: a cost is shown only from a table the user
gives, under `prices:` in the job file or in a file of its own
(`--prices FILE`, YAML or JSON), in the user's own currency:

    prices:
      currency: EUR                       # a label, shown beside the amounts
      google/nano-banana-pro-edit:        # per size ...
        1K: 0.13
        2K: 0.13
        4K: 0.24
        default: 0.13                     # rows that give no resolution
      bytedance/seedream-4.0-edit: 0.03   # ... or one price for every size

A row whose model or size the table does not name has no price; the plan
counts such rows and says the cost is "at least" the sum of the others.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from batchedit.catalogue import ParamValue, billed_units, current_catalogue, is_model_slug
from batchedit.errors import SourceError
from batchedit.manifest.setting_checks import as_number

DEFAULT_SIZE = "default"
IMAGE_SIZE = "imageSize"  # the body field a row's `resolution` is sent as: the table's size


@dataclass(frozen=True, slots=True)
class PriceTable:
    """model slug -> size (or "default") -> price of one paid task."""

    prices: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    currency: str = ""

    def price(self, model: str, size: str | None) -> float | None:
        """One task's price, or None when the table does not say."""
        sizes = self.prices.get(model)
        if sizes is None:
            return None
        if size is not None and size in sizes:
            return sizes[size]
        return sizes.get(DEFAULT_SIZE)

    def submit_price(self, model: str, params: Mapping[str, ParamValue]) -> float | None:
        """One paid submit's price: the unit price of its model and size (the
        `imageSize` it sends) times the units the model bills a submit for
        (`billed_units`: its images, where billed per image); None when the
        table does not say. The plan's cost, the run's spend and the report's
        `cost` all price a submit so."""
        size = params.get(IMAGE_SIZE)
        price = self.price(model, size if isinstance(size, str) else None)
        if price is None:
            return None
        return price * billed_units(current_catalogue().body_spec(model), params)

    def to_json(self) -> dict[str, Any]:
        """The table as `prices:` reads it back (parse_prices)."""
        table: dict[str, Any] = {model: dict(sizes) for model, sizes in self.prices.items()}
        if self.currency:
            table["currency"] = self.currency
        return table

    def amount(self, value: float) -> str:
        """A cost as the user reads it: two decimals and the currency label."""
        return f"{value:.2f}" + (f" {self.currency}" if self.currency else "")


def parse_prices(value: object) -> PriceTable:
    """A `prices:` mapping; raises ValueError saying what is expected."""
    if isinstance(value, PriceTable):
        return value
    if not isinstance(value, Mapping):
        raise ValueError(
            "prices must be a mapping of model slug to a price, or to sizes and prices "
            "(e.g. google/nano-banana-pro-edit: {1K: 0.13, 4K: 0.24})"
        )
    currency = value.get("currency", "")
    if not isinstance(currency, str):
        raise ValueError(f"prices: currency must be a label such as EUR (got {currency!r})")
    table: dict[str, dict[str, float]] = {}
    for model, given in value.items():
        if model == "currency":
            continue
        if not isinstance(model, str) or not is_model_slug(model):
            raise ValueError(f"prices: '{model}' is not a provider/name model slug")
        if isinstance(given, Mapping):
            table[model] = {str(size): _price(model, size, p) for size, p in given.items()}
        else:
            table[model] = {DEFAULT_SIZE: _price(model, DEFAULT_SIZE, given)}
    return PriceTable(table, currency.strip())


def _price(model: str, size: object, value: object) -> float:
    number = as_number(value)
    if number is None or number < 0:
        raise ValueError(
            f"prices: {model} {size}: a price must be a number, 0 or more (got {value!r})"
        )
    return number


def load_prices(path: Path) -> PriceTable:
    """`--prices FILE`: a YAML or JSON file holding the mapping (or `prices:` and it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourceError(str(path), None, f"cannot read the price table: {exc.strerror}") from exc
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise SourceError(str(path), None, f"is not a YAML or JSON price table: {exc}") from exc
    if isinstance(data, Mapping) and isinstance(data.get("prices"), Mapping):
        data = data["prices"]
    try:
        return parse_prices(data)
    except ValueError as exc:
        raise SourceError(str(path), None, str(exc)) from exc


def prices_from_flag(path: Path) -> object:
    """The table itself, kept for `retry`, which then needs no file."""
    return load_prices(path).to_json()
