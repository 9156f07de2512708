from __future__ import annotations

import pytest

from batchedit.manifest.template import TemplateError, render_template, template_fields


def test_columns_are_replaced_by_the_rows_values() -> None:
    values = {"title": "Café crème ☕", "n": 3, "price": 1.5, "flag": True, "gone": None}
    rendered = render_template("{title} x{n} at {price} ({flag}) [{gone?}]", values)
    assert rendered == "Café crème ☕ x3 at 1.5 (True) []"


def test_an_empty_column_is_a_problem_unless_marked_optional() -> None:
    values = {"title": "cap", "colour": " ", "size": None}
    for template in ("Put the {colour} {title} on white", "{title} in {size}"):
        with pytest.raises(TemplateError, match="empty in this row.*[?]}' in the template"):
            render_template(template, values, require_values=True)
    assert render_template("{title} in {size}", values) == "cap in ", "other templates may"
    assert render_template("Put the {colour?} {title}{size?}", values) == "Put the  cap"
    assert render_template("{absent?}{title}", values) == "cap"
    assert template_fields("{colour?} {title} {colour}") == ("colour", "title")
    for wrong in ("{?}", "{a?b}", "{a??}"):
        with pytest.raises(TemplateError, match="column[?]"):
            render_template(wrong, values)


def test_a_list_value_reads_as_a_csv_cell() -> None:
    assert render_template("{image}", {"image": ("a.png", "b.png")}) == "a.png|b.png"


def test_doubled_braces_are_literal() -> None:
    assert render_template("{{keep}} {x} }}{{", {"x": "v"}) == "{keep} v }{"


def test_text_without_fields_is_unchanged() -> None:
    assert render_template("商品を白背景に", {}) == "商品を白背景に"


def test_column_names_may_contain_spaces() -> None:
    assert render_template("{product name}", {"product name": "Shoe"}) == "Shoe"


def test_missing_column_names_the_column_and_lists_the_columns() -> None:
    with pytest.raises(TemplateError) as info:
        render_template("Put {title} on white", {"id": "1", "sku": "S"})
    assert str(info.value) == (
        "prompt template names column 'title', which this row does not have (columns: id, sku)"
    )


@pytest.mark.parametrize("template", ["a {", "a }", "{a", "{a}}", "}{"])
def test_unbalanced_braces_are_errors(template: str) -> None:
    with pytest.raises(TemplateError, match="unbalanced"):
        render_template(template, {"a": "x"})


def test_unbalanced_message_names_the_brace() -> None:
    with pytest.raises(TemplateError, match=r"unbalanced '\{'"):
        render_template("a {b", {})
    with pytest.raises(TemplateError, match=r"unbalanced '\}'"):
        render_template("a } b", {})


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{}", "empty '{}'"),
        ("{a!r}", "only plain '{column}'"),
        ("{a:>10}", "only plain '{column}'"),
        ("{a.upper}", "only plain column names"),
        ("{a[0]}", "only plain column names"),
    ],
)
def test_only_plain_names_are_allowed(template: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message.replace("{", r"\{").replace("}", r"\}")):
        render_template(template, {"a": "x"})


def test_template_error_is_a_value_error() -> None:
    assert issubclass(TemplateError, ValueError)


def test_template_fields_lists_each_name_once_in_order() -> None:
    assert template_fields("{b} {{x}} {a} {b}") == ("b", "a")
    assert template_fields("plain") == ()
