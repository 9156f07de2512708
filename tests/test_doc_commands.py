"""Every command in the README and docs/ runs as written (issue 29.9).

The shell and Python blocks of README.md and docs/*.md that a page marks with
a `<!-- runnable -->` line (or `<!-- runnable: save as FILE -->`, which writes
the block to FILE for a later block to use) are run in order, page by page,
each page in a fresh folder holding the repo's demo files, with HOME in the
test's own folder and MODELLIX_BASE_URL pointed at a simulator of the test's
own with millisecond latencies, so that nothing reaches the internet. A page
whose runnable blocks use `runs/catalog` starts as `make demo` leaves the
repo (the README's first command). A block fails the test when it exits
non-zero, or when it mentions a file that neither the repo nor it nor an
earlier block made; every block, runnable or not, may name only files the
repo ships under its own folders (`jobs/...`, `contrib/...`). See
docs/testing.md, "The commands in the docs".
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import TEST_KEY, ThreadedSimulator
from warm_cli import WarmCli

from batchedit.cli import main

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: The repo's folders a user has after cloning it: copied into each page's folder.
DEMO_FOLDERS = ("jobs", "contrib")
#: What a block may name as shipped by the repo (checked in every block).
SHIPPED_FOLDERS = ("jobs", "contrib", "bench", "docs", "tests", "batchedit")
SHELLS = ("sh", "bash", "shell")
PYTHONS = ("python", "py")
RUNNABLE = re.compile(r"^<!-- runnable(?:: save as (?P<name>[\w./-]+))? -->$")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)")
#: A word of a command that names a file: a path of plain characters.
PATH_LIKE = re.compile(r"^(?:~/|\.{1,2}/|/)?[\w@%+.-]+(?:/[\w@%+.-]+)*/?$")
EXTENSIONS = (
    "csv yaml yml jsonl json html py log prom txt fish bash zsh sh sbatch md png jpg webp "
    "out toml cfg"
).split()
#: The demo's run directory: a page whose runnable blocks use it starts after `make demo`.
DEMO_RUN = "runs/catalog"
BLOCK_TIMEOUT_S = 120
#: A page runs a few commands, each a Python start-up: seconds, more on a loaded machine.
PAGE_TIMEOUT_S = 300


@dataclass(frozen=True, slots=True)
class Block:
    page: Path
    line: int  # the opening fence's line, 1-based
    language: str
    text: str
    runnable: bool
    save_as: str | None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def code_blocks(page: Path) -> list[Block]:
    """The shell and Python fenced blocks of a page, with their marks."""
    blocks: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    number = 0
    while number < len(lines):
        opening = FENCE.match(lines[number])
        if opening is None:
            number += 1
            continue
        fence, language = opening.group(1), opening.group(2).lower()
        end = number + 1
        while end < len(lines) and not lines[end].lstrip().startswith(fence):
            end += 1
        mark = _mark_before(lines, number)
        if language in SHELLS + PYTHONS:
            blocks.append(
                Block(
                    page=page,
                    line=number + 1,
                    language="python" if language in PYTHONS else "sh",
                    text="\n".join(lines[number + 1 : end]) + "\n",
                    runnable=mark is not None,
                    save_as=None if mark is None else mark.group("name"),
                )
            )
        elif mark is not None:
            raise AssertionError(f"{page.name}:{number + 1}: runnable marks a {language!r} block")
        number = end + 1
    return blocks


def _mark_before(lines: list[str], fence_index: int) -> re.Match[str] | None:
    before = fence_index - 1
    while before >= 0 and not lines[before].strip():
        before -= 1
    return RUNNABLE.match(lines[before].strip()) if before >= 0 else None


def is_file_word(word: str, slugs: frozenset[str]) -> bool:
    """Whether a word of a command names a file: a path with a folder in it, or
    a file name with a known extension, and not a model slug."""
    if not PATH_LIKE.match(word) or "://" in word or word in slugs:
        return False
    if re.fullmatch(r"[\d./]+", word):  # 0.5/20, 2/4: rates and shards
        return False
    return "/" in word or word.rsplit(".", 1)[-1] in EXTENSIONS and "." in word


def mentioned_files(block: Block, slugs: frozenset[str]) -> list[str]:
    """The files a block names: the words of its commands (comments left out),
    or the strings of its Python code."""
    words: list[str] = []
    if block.language == "python":
        words = [
            node.value
            for node in ast.walk(ast.parse(block.text))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        ]
    else:
        for line in block.text.replace("\\\n", " ").splitlines():
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            try:
                tokens = list(lexer)
            except ValueError:  # an unbalanced quote across lines: left to the shell
                continue
            for token in tokens:
                option = token.startswith("--") and "=" in token
                words.append(token.partition("=")[2] if option else token)
    return [word for word in dict.fromkeys(words) if is_file_word(word, slugs)]


def model_slugs() -> frozenset[str]:
    data = ROOT / "batchedit" / "catalogue" / "data"
    return frozenset(path.stem.replace("--", "/") for path in data.glob("*.json"))


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def runnable_pages() -> list[Path]:
    return [page for page in PAGES if any(block.runnable for block in code_blocks(page))]


# -- the environment -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Folder:
    """A page's own copy of the repo's demo files, its HOME, and the environment
    its blocks run in (no variable of the test's own, nothing to the internet)."""

    work: Path
    home: Path
    env: dict[str, str]

    def exists(self, mention: str) -> bool:
        if mention.startswith("~/"):
            return (self.home / mention[2:]).exists()
        return (self.work / mention).exists()


def make_folder(tmp_path: Path, simulator: ThreadedSimulator, warm_bin: Path) -> Folder:
    work, home = tmp_path / "work", tmp_path / "home"
    home.mkdir()
    for name in DEMO_FOLDERS:
        shutil.copytree(ROOT / name, work / name, ignore=shutil.ignore_patterns("__pycache__"))
    env = {
        "PATH": os.pathsep.join(
            [str(warm_bin), str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)]
        ),
        "HOME": str(home),
        "TMPDIR": str(tmp_path),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "MODELLIX_BASE_URL": simulator.base_url,
        "MODELLIX_API_KEY": TEST_KEY,
    }
    return Folder(work, home, env)


def make_demo_run(folder: Folder, monkeypatch: pytest.MonkeyPatch) -> None:
    """runs/catalog as `make demo` leaves it (`run jobs/catalog/job.yaml --simulate`),
    in this process and with a simulator of milliseconds, to spare a start-up."""
    with monkeypatch.context() as patch:
        patch.chdir(folder.work)
        for name, value in folder.env.items():
            patch.setenv(name, value)
        patch.delenv("XDG_CACHE_HOME", raising=False)
        patch.delenv("XDG_CONFIG_HOME", raising=False)
        fast = ["--sim-latency", "0-0.02", "--poll-interval", "0.01", "--no-progress"]
        assert main(["run", "jobs/catalog/job.yaml", "--simulate", *fast]) == 0


def run_block(block: Block, folder: Folder, scripts: Path) -> subprocess.CompletedProcess[str]:
    if block.save_as is not None:
        target = folder.work / block.save_as
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.text, encoding="utf-8")
        return subprocess.CompletedProcess([], 0, "", "")
    script = (
        scripts / f"{block.page.stem}-{block.line}.{'py' if block.language == 'python' else 'sh'}"
    )
    script.write_text(block.text, encoding="utf-8")
    if block.language == "python":
        command = [sys.executable, str(script)]
    else:
        command = ["bash", "-e", "-o", "pipefail", str(script)]
    return subprocess.run(
        command,
        cwd=folder.work,
        env=folder.env,
        stdin=subprocess.DEVNULL,  # no terminal: nothing asks, as in a script
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT_S,
        check=False,
    )


# -- the tests -------------------------------------------------------------------


@pytest.fixture(scope="module")
def warm_batchedit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder whose `batchedit` runs each command in a fork of one process that
    imported batchedit once (tests/warm_cli.py): the pages call some 25 commands,
    and each start-up alone is 0.6 s of CPU."""
    with WarmCli(tmp_path_factory.mktemp("warm")) as folder:
        yield folder


@pytest.mark.timeout(PAGE_TIMEOUT_S)
@pytest.mark.parametrize("page", runnable_pages(), ids=page_id)
def test_the_runnable_blocks_of_a_page_run_as_written(
    page: Path,
    tmp_path: Path,
    threaded_simulator: Callable[..., ThreadedSimulator],
    monkeypatch: pytest.MonkeyPatch,
    warm_batchedit: Path,
) -> None:
    folder = make_folder(tmp_path, threaded_simulator(), warm_batchedit)
    run_page(page, folder, tmp_path / "blocks", monkeypatch)


def run_page(page: Path, folder: Folder, scripts: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slugs = model_slugs()
    blocks = [block for block in code_blocks(page) if block.runnable]
    if any(DEMO_RUN in mentioned_files(block, slugs) for block in blocks):
        make_demo_run(folder, monkeypatch)
    scripts.mkdir()
    for block in blocks:
        ran = run_block(block, folder, scripts)
        assert ran.returncode == 0, (
            f"{block.where}: exit {ran.returncode}\n{block.text}\n--- stdout\n"
            f"{ran.stdout[-3000:]}\n--- stderr\n{ran.stderr[-3000:]}"
        )
        missing = [name for name in mentioned_files(block, slugs) if not folder.exists(name)]
        assert not missing, (
            f"{block.where} names {', '.join(missing)}, which neither the repo nor this "
            "block nor an earlier one made"
        )


def every_block() -> Iterator[Block]:
    for page in PAGES:
        yield from code_blocks(page)


def test_every_block_names_only_files_the_repo_ships() -> None:
    slugs = model_slugs()
    missing = [
        f"{block.where}: {name}"
        for block in every_block()
        for name in mentioned_files(block, slugs)
        if name.split("/", 1)[0] in SHIPPED_FOLDERS and not (ROOT / name).exists()
    ]
    assert not missing, "blocks name files the repo does not ship:\n" + "\n".join(missing)


def test_the_pages_mark_runnable_blocks() -> None:
    """The convention is in use: the README and the pages whose commands run offline."""
    pages = {page_id(page) for page in runnable_pages()}
    assert {"README.md", "docs/cli.md", "docs/plan.md", "docs/python.md"} <= pages


def test_file_mentions_are_found_in_commands_and_python() -> None:
    page = ROOT / "README.md"
    shell = Block(
        page,
        1,
        "sh",
        "batchedit run jobs/catalog/job.yaml --prices=prices.yaml --halt-on-failure 0.5/20 \\\n"
        "    --model google/nano-banana-pro-edit --to s3://b/x > ~/out.html  # not.csv\n",
        True,
        None,
    )
    slugs = model_slugs()
    assert mentioned_files(shell, slugs) == ["jobs/catalog/job.yaml", "prices.yaml", "~/out.html"]
    python = Block(
        page, 1, "python", 'batchedit.plan("a/job.yaml", model="x/y", note="hi")\n', True, None
    )
    assert mentioned_files(python, frozenset({"x/y"})) == ["a/job.yaml"]


def test_the_completion_lines_are_plain_sh_and_write_under_home() -> None:
    """Each documented completion line parses in a POSIX sh (so in bash and zsh,
    and fish takes `&&` and `>` too), makes its folder first, and writes under
    the home folder: no `${fpath[1]}`, empty in bash, to put a file at the root."""
    (block,) = [block for block in code_blocks(ROOT / "docs" / "cli.md") if block.runnable]
    lines = [line for line in block.text.splitlines() if line.strip()]
    assert [line.split()[5:7] for line in lines] == [
        ["completion", "bash"],
        ["completion", "zsh"],
        ["completion", "fish"],
    ]
    for line in lines:
        assert line.startswith("mkdir -p ~/") and "> ~/" in line and "$" not in line, line
        folder = line.split()[2]
        assert line.split("> ", 1)[1].startswith(folder + "/"), line
        parsed = subprocess.run(["sh", "-n", "-c", line], capture_output=True, text=True)
        assert parsed.returncode == 0, parsed.stderr


def test_the_warm_batchedit_runs_a_command_as_the_console_script_would(
    tmp_path: Path, warm_batchedit: Path
) -> None:
    """Its folder, streams, environment and exit code are the caller's."""
    (tmp_path / "catalog.csv").write_text("id,prompt,image\na,on white,a.png\n", encoding="utf-8")
    env = {"PATH": f"{warm_batchedit}{os.pathsep}{os.defpath}", "HOME": str(tmp_path)}
    script = (
        "batchedit validate catalog.csv; echo exit=$?\n"
        "MODELLIX_API_KEY=k-12345678 MODELLIX_BASE_URL=http://api.example.com "
        "batchedit doctor --json > doctor.json; echo exit=$?\n"
    )
    ran = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    problem, *exits = ran.stdout.splitlines()
    assert problem.startswith("catalog.csv:2: image file 'a.png' not found") and exits == [
        "exit=2",
        "exit=2",
    ], ran
    assert ran.stderr.startswith("catalog.csv: "), ran.stderr  # the summary, on stderr
    doctor = (tmp_path / "doctor.json").read_text(encoding="utf-8")
    assert '"ok": false' in doctor and "http://api.example.com" in doctor
