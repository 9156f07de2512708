"""The folder tree is the architecture: layers that import downwards only
(import-linter contracts in pyproject.toml), modules of at most 400 lines,
and a docstring per layer saying what it owns."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "batchedit"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
LAYERS = ("cli", "library", "pipeline", "report", "manifest", "api", "state", "simulator")
MAX_MODULE_LINES = 400


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _tree_with(tmp_path: Path, module: str, extra_import: str) -> Path:
    """A copy of the package and its contracts, with one import added to `module`."""
    shutil.copytree(PACKAGE, tmp_path / "batchedit", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path / "batchedit" / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text(encoding="utf-8") + f"\n{extra_import}\n", encoding="utf-8")
    return tmp_path


def test_the_layer_contracts_hold_on_the_tree() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "extra_import", "named"),
    [
        # the state layer reaching up into the pipeline
        (
            "state.journal",
            "import batchedit.pipeline.runner",
            "batchedit.state.journal -> batchedit.pipeline.runner",
        ),
        # two sibling layers that must stay independent
        (
            "api.client",
            "import batchedit.manifest.rows",
            "batchedit.api.client -> batchedit.manifest.rows",
        ),
        # the simulator reaching into the client's side
        (
            "simulator.submit",
            "import batchedit.api.endpoint",
            "batchedit.simulator.submit -> batchedit.api.endpoint",
        ),
        # a layer other than cli and the --simulate launch importing the simulator
        (
            "report.summary",
            "import batchedit.simulator.options",
            "batchedit.report.summary -> batchedit.simulator.options",
        ),
    ],
)
def test_an_import_against_the_layers_fails_lint_naming_it(
    tmp_path: Path, module: str, extra_import: str, named: str
) -> None:
    result = _lint_imports(_tree_with(tmp_path, module, extra_import))
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert named in result.stdout


def test_every_module_is_at_most_400_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): count
        for path in PACKAGE.rglob("*.py")
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


@pytest.mark.parametrize("layer", LAYERS)
def test_each_layer_says_what_it_owns(layer: str) -> None:
    init = PACKAGE / layer / "__init__.py"
    docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
    assert docstring is not None and len(docstring.split()) >= 20, f"{init}: say what it owns"


#: The one module that renames files: durably (file and folder fsynced).
RENAMER = PACKAGE / "fsutil.py"
_RENAMES = {"replace", "rename", "renames"}


def _renames(source: str) -> list[str]:
    """The renames a module's code makes itself, by line: `os.replace`,
    `os.rename`, `os.renames`, `shutil.move`, a name imported from os as one of
    them, and a `Path.replace(target)` or `.rename(target)` (one argument:
    `str.replace` takes two, `dataclasses.replace` and `datetime.replace`
    keywords, so they are not counted)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module in ("os", "shutil"):
            found += [
                f"{node.lineno}: from {node.module} import {a.name}"
                for a in node.names
                if a.name in {*_RENAMES, "move"}
            ]
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        name, owner = node.func.attr, node.func.value
        owner_name = owner.id if isinstance(owner, ast.Name) else None
        if owner_name == "os" and name in _RENAMES or owner_name == "shutil" and name == "move":
            found.append(f"{node.lineno}: {owner_name}.{name}")
        elif name in ("replace", "rename") and owner_name != "dataclasses":
            if len(node.args) == 1 and not node.keywords:
                found.append(f"{node.lineno}: .{name}(...)")
    return found


def test_files_are_renamed_only_in_fsutil() -> None:
    """Durable files one way (issue 28.6): a module that renames a file itself
    can forget the fsyncs; fsutil's `atomic_writer` and `replace_synced` do not."""
    found = {
        f"{path.relative_to(ROOT)}:{where}": path
        for path in PACKAGE.rglob("*.py")
        if path != RENAMER
        for where in _renames(path.read_text(encoding="utf-8"))
    }
    assert list(found) == []
    assert _renames(RENAMER.read_text(encoding="utf-8")) != []  # the scan sees fsutil's own


@pytest.mark.parametrize(
    "code",
    [
        "os.replace(a, b)",
        "os.rename(a, b)",
        "shutil.move(a, b)",
        "from os import replace",
        "Path(a).replace(b)",
        "aside.rename(target)",
    ],
)
def test_the_rename_scan_sees_each_spelling(code: str) -> None:
    assert _renames(code) != []


@pytest.mark.parametrize(
    "code",
    ["text.replace('a', 'b')", "dataclasses.replace(x, y=1)", "moment.replace(tzinfo=UTC)"],
)
def test_the_rename_scan_passes_what_renames_nothing(code: str) -> None:
    assert _renames(code) == []
