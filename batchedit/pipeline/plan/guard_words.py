"""How a refusal of the cost guard says what to give: in the caller's words.

The same rule refuses a run from the command line and from Python, but what
to type differs: `--max-tasks 150` and `--yes` there, `max_tasks=150` and
`yes=True` here. A message naming flags to a Python caller (or keywords on a
command line) points at nothing they can use, so the guard's messages are
written through one of these.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GuardWords:
    """The command line's words (`python` False) or the Python API's."""

    python: bool = False

    def setting(self, name: str, value: object) -> str:
        """A setting as the caller gives it: `--max-tasks 150` or `max_tasks=150`."""
        if self.python:
            return f"{name}={value}"
        return f"--{name.replace('_', '-')} {value}"

    @property
    def yes(self) -> str:
        return "yes=True" if self.python else "--yes"

    @property
    def nobody_to_ask(self) -> str:
        return "code cannot be asked" if self.python else "there is no terminal to ask"


COMMAND_LINE = GuardWords()
PYTHON = GuardWords(python=True)
