"""Every setting declared once (manifest/settings.py): the job file, the
command line, the Python API and docs/job-files.md all read one table, so a
setting given any of the three ways is the same setting, checked alike."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest
from support import write_csv, write_image

from batchedit.cli.main import build_parser
from batchedit.cli.options import setting_overrides
from batchedit.errors import SourceError, UsageError
from batchedit.library.settings import job_from
from batchedit.manifest.job import JOB_KEYS, apply_overrides, load_job
from batchedit.manifest.settings import PLAN, RETRY, RUN, SETTINGS, JobSettings, settings_table

DOCS = Path(__file__).resolve().parent.parent / "docs" / "job-files.md"
BEGIN, END = (
    "<!-- settings table: generated from batchedit/manifest/settings.py -->\n",
    ("<!-- end of settings table -->"),
)
NOT_SETTINGS = {"source", "defaults", "prompt_suffixes", "default_lines"}


def test_the_docs_table_is_the_declared_table() -> None:
    text = DOCS.read_text(encoding="utf-8")
    documented = text[text.index(BEGIN) + len(BEGIN) : text.index(END)]
    assert documented == settings_table(), (
        "docs/job-files.md's settings table differs from batchedit/manifest/settings.py; "
        "paste settings_table()'s output between its markers"
    )


def test_every_field_of_the_job_but_a_few_is_a_declared_setting_and_a_job_file_key() -> None:
    fields = {each.name for each in dataclasses.fields(JobSettings)}
    assert fields - NOT_SETTINGS == set(SETTINGS)
    assert set(SETTINGS) <= set(JOB_KEYS)


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
        if isinstance(action, argparse._SubParsersAction):
            chosen: argparse.ArgumentParser = action.choices[name]
            return chosen
    raise AssertionError(name)


@pytest.mark.parametrize("command", [RUN, RETRY, PLAN])
def test_each_flag_of_a_command_lands_under_its_settings_name(command: str) -> None:
    parser = _subparser(command)
    dests = {action.dest: action for action in parser._actions}
    for name, spec in SETTINGS.items():
        if spec.flag is not None and command in spec.commands:
            assert name in dests, f"{command} lacks {spec.flag}"
            assert spec.flag in dests[name].option_strings


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    write_image(tmp_path / "a.png")
    return write_csv(tmp_path / "c.csv", [{"id": "r1", "prompt": "p", "image": "a.png"}])


def _job_file(folder: Path, manifest: Path, body: str) -> Path:
    path = folder / "job.yaml"
    path.write_text(f"manifest: {manifest.name}\n{body}", encoding="utf-8")
    return path


def test_a_setting_is_the_same_from_the_job_file_the_flags_and_python(
    tmp_path: Path, catalog: Path
) -> None:
    from_file = load_job(
        _job_file(
            tmp_path,
            catalog,
            "concurrency: 3\ndeadline: 90m\nnotify: [json://127.0.0.1:9/x]\n"
            "max_unknown: 4%\nallow_private_downloads: true\n",
        )
    )
    args = _subparser(RUN).parse_args(
        [
            str(catalog),
            "--concurrency",
            "3",
            "--deadline",
            "90m",
            "--notify",
            "json://127.0.0.1:9/x",
            "--max-unknown",
            "4%",
            "--allow-private-downloads",
        ]
    )
    from_flags = apply_overrides(load_job(catalog), **setting_overrides(args))
    from_python = job_from(
        catalog,
        settings={
            "concurrency": 3,
            "deadline": "90m",
            "notify": ["json://127.0.0.1:9/x"],
            "max_unknown": "4%",
            "allow_private_downloads": True,
        },
    )
    for name in ("concurrency", "deadline", "notify", "max_unknown", "allow_private_downloads"):
        assert getattr(from_file, name) == getattr(from_flags, name) == getattr(from_python, name)


def test_a_bad_value_is_refused_alike_naming_the_setting(tmp_path: Path, catalog: Path) -> None:
    with pytest.raises(SourceError, match="job.yaml:2: concurrency must be"):
        load_job(_job_file(tmp_path, catalog, "concurrency: 0\n"))
    args = _subparser(RUN).parse_args([str(catalog), "--concurrency", "0"])
    with pytest.raises(UsageError, match="concurrency must be"):
        apply_overrides(load_job(catalog), **setting_overrides(args))
    with pytest.raises(UsageError, match="concurrency must be"):
        job_from(catalog, settings={"concurrency": 0})
    with pytest.raises(UsageError, match="unknown setting 'concurency'"):
        job_from(catalog, settings={"concurency": 3})
