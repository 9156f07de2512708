"""What a run paid, from the user's price table: the run's spend, and each
report line's `cost`.

The spend is counted as the run pays (the submit gate adds each paid submit
through `RunStats.paid`, an `unknown` outcome included, since it may have
been charged) in decimal arithmetic, so ten submits at 0.10 make exactly
1.00 and a cap of 1.00 is not passed by a rounding error. summary.json
carries it as `spend: {amount, currency, by_model, unpriced}`; a run without
a price table has `spend: null`.

A report line's `cost` is what its row has cost over every run of the
directory (`attempts` paid submits at today's price): 0 for a row never
paid for, null without a price table or for a paid row the table does not
price.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from batchedit.manifest.prices import PriceTable
from batchedit.records import ReportRecord

#: Decimal places amounts are shown and stored with (a price table's are fewer).
AMOUNT_PLACES = 6


def as_decimal(value: float) -> Decimal:
    """A price or cap as written (0.1 is 0.1, not 0.1000000000000000055...)."""
    return Decimal(repr(value))


def as_amount(value: Decimal) -> float:
    return round(float(value), AMOUNT_PLACES)


@dataclass(slots=True)
class SpendTally:
    """The run's spend so far, per model; `unpriced` paid submits the table
    does not price (they add nothing, and the amount is then a lower bound)."""

    currency: str = ""
    total: Decimal = Decimal(0)
    by_model: dict[str, Decimal] = field(default_factory=dict)
    unpriced: int = 0

    @classmethod
    def for_table(cls, table: PriceTable | None) -> SpendTally | None:
        return None if table is None else cls(table.currency)

    @property
    def amount(self) -> float:
        return as_amount(self.total)

    def add(self, model: str, price: float | None) -> None:
        """One paid submit of `model` at `price` (None: not in the table)."""
        if price is None:
            self.unpriced += 1
            return
        cost = as_decimal(price)
        self.total += cost
        self.by_model[model] = self.by_model.get(model, Decimal(0)) + cost

    def text(self) -> str:
        """As a person reads it: `1.00 EUR`."""
        shown = f"{self.total:.2f}" + (f" {self.currency}" if self.currency else "")
        return shown + (f" (and {self.unpriced} unpriced submit(s))" if self.unpriced else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "amount": self.amount,
            "currency": self.currency,
            "by_model": {model: as_amount(spent) for model, spent in self.by_model.items()},
            "unpriced": self.unpriced,
        }


def row_cost(record: ReportRecord, table: PriceTable | None) -> float | None:
    """What the row has cost over every run of the directory (see the module)."""
    if table is None:
        return None
    if record.attempts == 0:
        return 0.0
    price = None if record.model is None else table.submit_price(record.model, record.params)
    return None if price is None else as_amount(as_decimal(price) * record.attempts)


def with_cost(record: ReportRecord, table: PriceTable | None) -> ReportRecord:
    """The record with its `cost` (see `row_cost`)."""
    cost = row_cost(record, table)
    return record if cost == record.cost else replace(record, cost=cost)
