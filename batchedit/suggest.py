"""Did you mean: the one place a mistyped name is matched to the names known.

Model slugs, settings, mapped and template columns, parameters and their
allowed values are all names a user types, and a typo in any of them should
come back with the fix, not with a list of thirty names to search. Every
message that refuses a name asks here, so they all suggest alike:

- a name that differs only in case (`Variant Sku` for `Variant SKU`, `1k`
  for `1K`) or in separators (`4x5`, `4/5` for `4:5`, `nano banana` for
  `nano-banana`) is the same name written differently: it comes first;
- otherwise the nearest names by difflib's similarity ratio, above a cutoff
  that keeps unrelated names out (a suggestion that is wrong costs more
  than none).

`same_but_case` is the stricter question enums ask: is there exactly one
known value this one differs from only by case? Then it may be taken, with
a warning, instead of refused.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

#: Below this similarity ratio a known name is not offered.
CUTOFF = 0.6
#: The same for short names (four characters or fewer once folded), where one
#: character is a third of the name: `1:4` is not offered `1:1`.
SHORT_CUTOFF = 0.75
#: At most this many names are offered.
MAX_SUGGESTIONS = 3

_SEPARATORS = re.compile(r"[\W_]+")
_TIMES = re.compile(r"(?<=\d)\s*[x×*]\s*(?=\d)")  # 4x5, 4 × 5, 4*5: a ratio or a size


def _normal(name: str) -> str:
    """A name folded for comparison: case, and any run of separators made one space."""
    folded = _TIMES.sub(" ", name.casefold())
    return _SEPARATORS.sub(" ", folded).strip()


def closest(given: str, known: Iterable[str], *, limit: int = MAX_SUGGESTIONS) -> list[str]:
    """The known names `given` most likely meant, best first; empty when none is close."""
    names = list(dict.fromkeys(known))
    if given in names:
        return [given]
    target = _normal(given)
    same = [name for name in names if _normal(name) == target]
    cutoff = CUTOFF if len(target) > 4 else SHORT_CUTOFF
    matcher = difflib.SequenceMatcher(b=target, autojunk=False)
    scored: list[tuple[float, int, str]] = []
    for index, name in enumerate(names):
        if name in same:
            continue
        matcher.set_seq1(_normal(name))
        if matcher.real_quick_ratio() < cutoff or matcher.quick_ratio() < cutoff:
            continue
        ratio = matcher.ratio()
        if ratio >= cutoff:
            scored.append((-ratio, index, name))
    scored.sort()
    return (same + [name for _, _, name in scored])[:limit]


def did_you_mean(given: str, known: Iterable[str], *, prefix: str = "") -> str:
    """`did you mean 'X'?` for the best match (two when they tie), or "".
    A `prefix` every name shares (`param.`) is left out of the comparison,
    where it would make every name look alike, and put back in the words."""
    names = closest(given.removeprefix(prefix), known, limit=2)
    if not names:
        return ""
    if len(names) == 2 and _tied(given.removeprefix(prefix), *names):
        return f"did you mean '{prefix}{names[0]}' or '{prefix}{names[1]}'?"
    return f"did you mean '{prefix}{names[0]}'?"


def unknown_name(what: str, given: str, known: Iterable[str]) -> str:
    """`unknown setting 'concurancy'; did you mean 'concurrency'?`, or, with
    nothing near, the names allowed: the message of every unknown-name refusal."""
    names = list(dict.fromkeys(known))
    hint = did_you_mean(given, names)
    return f"unknown {what} '{given}'; {hint or 'allowed: ' + ', '.join(names)}"


def same_but_case(given: str, known: Iterable[str]) -> str | None:
    """The one known value `given` differs from only by letter case; None when
    there is none, or more than one (`a` against `A` and `a `: refuse, do not guess)."""
    folded = given.casefold()
    matches = [name for name in dict.fromkeys(known) if name.casefold() == folded]
    return matches[0] if len(matches) == 1 else None


def _tied(given: str, first: str, second: str) -> bool:
    target = _normal(given)
    if _normal(first) == target:
        return _normal(second) == target
    ratios = [
        difflib.SequenceMatcher(a=_normal(name), b=target, autojunk=False).ratio()
        for name in (first, second)
    ]
    return ratios[0] == ratios[1]
