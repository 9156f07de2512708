"""YAML mistakes said in the user's words, at their line: a tab, and a prompt
template YAML reads as structure (braces, a colon, a quote closed too early),
each answered with the fix, quoting the user's own text; in job files,
`defaults:` and YAML manifests alike."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from batchedit.cli import main
from batchedit.errors import SourceError
from batchedit.manifest.job import iter_rows, load_job
from batchedit.manifest.yaml_words import TAB_MESSAGE
from batchedit.records import InvalidRow

CDN = "https://cdn.example.com"
HEAD = f"manifest: m.csv\ndefaults:\n  image: {CDN}/a.png\n"


def job(tmp_path: Path, text: str) -> Path:
    (tmp_path / "m.csv").write_text("id,Handle\na,mug\n", encoding="utf-8")
    path = tmp_path / "job.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def refusal(path: Path) -> SourceError:
    with pytest.raises(SourceError) as info:
        list(iter_rows(load_job(path)))
    return info.value


def test_a_tab_says_tabs_are_not_allowed_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = job(tmp_path, f"{HEAD}\tprompt: on white\n")
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"batchedit: {path}:4: tabs are not allowed for indentation in YAML; use spaces"
    )
    path = job(tmp_path, f"{HEAD}  prompt: on white\n\t  resolution: 1K\n")
    error = refusal(path)
    assert (error.line, error.detail) == (5, TAB_MESSAGE)


@pytest.mark.parametrize(
    ("value", "fix"),
    [
        ("{Handle} on white", 'prompt: "{Handle} on white"'),
        ("Studio photo: {Handle}", 'prompt: "Studio photo: {Handle}"'),
        ("{Handle}: studio shot", 'prompt: "{Handle}: studio shot"'),
        ('"{Handle}" on white', "prompt: '\"{Handle}\" on white'"),
        ("Studio photo: {Handle}  # the hero shot", 'prompt: "Studio photo: {Handle}"'),
    ],
)
def test_a_template_yaml_reads_as_structure_says_put_it_in_quotes(
    tmp_path: Path, value: str, fix: str
) -> None:
    path = job(tmp_path, f"{HEAD}  prompt: {value}\n  resolution: 1K\n")
    error = refusal(path)
    assert error.line == 4, error
    assert error.detail.endswith(f"put the template in quotes: {fix}"), error.detail
    fixed = job(tmp_path, f"{HEAD}  {fix}\n  resolution: 1K\n")
    [row] = iter_rows(load_job(fixed))  # the fix it names reads as the template meant
    assert not isinstance(row, InvalidRow), row
    assert "mug" in row.request.prompt and "{" not in row.request.prompt


def test_a_template_yaml_read_as_a_mapping_says_put_it_in_quotes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = job(tmp_path, f"{HEAD}  resolution: 1K\n  prompt: {{Handle}}\n")
    assert main(["validate", str(path)]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith(f"batchedit: {path}:5: defaults: field 'prompt' is a mapping")
    assert line.endswith('put the template in quotes: prompt: "{Handle}"')


def test_a_yaml_manifest_row_says_the_same(tmp_path: Path) -> None:
    manifest = tmp_path / "rows.yaml"
    manifest.write_text(
        f"- id: a\n  image: {CDN}/a.png\n  prompt: Studio: {{Handle}}\n", encoding="utf-8"
    )
    error = refusal(manifest)
    assert error.line == 3
    assert error.detail.endswith('put the template in quotes: prompt: "Studio: {Handle}"')
    manifest.write_text(f"- id: a\n  image: {CDN}/a.png\n  prompt: {{Handle}}\n", encoding="utf-8")
    [row] = iter_rows(load_job(manifest))
    assert isinstance(row, InvalidRow)
    assert row.problems[0].message.endswith('put the template in quotes: prompt: "{Handle}"')


def test_other_yaml_mistakes_keep_pyyaml_words_at_the_marks_line(tmp_path: Path) -> None:
    path = job(tmp_path, f"{HEAD}  prompt: on white\n  sizes: [1K, 2K\n")
    error = refusal(path)
    with pytest.raises(yaml.MarkedYAMLError) as parsed:
        yaml.safe_load(path.read_text())
    mark = parsed.value.problem_mark
    assert mark is not None and error.line == mark.line + 1
    assert error.detail.startswith("is not valid YAML: ")
