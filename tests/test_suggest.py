"""The one did-you-mean helper: a typo of a known name finds that name, a case
or separator difference comes first, an unrelated name finds nothing."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from batchedit.catalogue import current_catalogue
from batchedit.manifest.settings import SETTINGS
from batchedit.suggest import closest, did_you_mean, same_but_case

SLUGS = tuple(current_catalogue().models)
SETTING_NAMES = tuple(SETTINGS)
SHOPIFY = ("Handle", "Title", "Body (HTML)", "Vendor", "Option1 Name", "Variant SKU", "Image Src")
RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
LETTERS = string.ascii_lowercase + string.digits


@st.composite
def one_edit(draw: st.DrawFn, names: tuple[str, ...]) -> tuple[str, str]:
    """A known name and that name with one character inserted, deleted or replaced."""
    name = draw(st.sampled_from([n for n in names if len(n) >= 6]))
    where = draw(st.integers(0, len(name) - 1))
    char = draw(st.sampled_from(LETTERS))
    how = draw(st.sampled_from(("insert", "delete", "replace")))
    if how == "insert":
        typo = name[:where] + char + name[where:]
    elif how == "delete":
        typo = name[:where] + name[where + 1 :]
    else:
        typo = name[:where] + char + name[where + 1 :]
    return name, typo


@given(one_edit(SLUGS + SETTING_NAMES + SHOPIFY))
def test_a_one_edit_typo_of_a_known_name_suggests_that_name(case: tuple[str, str]) -> None:
    name, typo = case
    for known in (SLUGS, SETTING_NAMES, SHOPIFY):
        if name in known:
            assert name in closest(typo, known)


@given(st.sampled_from(SLUGS + SETTING_NAMES + SHOPIFY))
def test_a_known_name_is_its_own_only_match(name: str) -> None:
    assert closest(name, SLUGS + SETTING_NAMES + SHOPIFY) == [name]


def test_case_and_separators_come_before_similarity() -> None:
    assert closest("Variant Sku", SHOPIFY)[0] == "Variant SKU"
    assert closest("4x5", RATIOS)[0] == "4:5"
    assert closest("4/5", RATIOS)[0] == "4:5"
    assert did_you_mean("google/nano-banana-pro-edt", SLUGS) == (
        "did you mean 'google/nano-banana-pro-edit'?"
    )
    assert did_you_mean("concurrancy", SETTING_NAMES) == "did you mean 'concurrency'?"
    assert did_you_mean("Handel", SHOPIFY) == "did you mean 'Handle'?"


def test_nothing_close_suggests_nothing() -> None:
    assert did_you_mean("acme/paint-v2", SLUGS) == ""
    assert did_you_mean("3K", ("1K", "2K", "4K")) == ""
    assert closest("", SHOPIFY) == []


def test_only_an_unambiguous_case_difference_is_the_same_value() -> None:
    assert same_but_case("1k", ("1K", "2K", "4K")) == "1K"
    assert same_but_case("auto", ("AUTO", "Auto")) is None  # which one? refuse
    assert same_but_case("4x5", RATIOS) is None  # near, but not the same: suggest only
