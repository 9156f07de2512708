"""Row validation: turn a raw manifest row into a Row ready to send, or an InvalidRow.

Everything here is offline and cheap (no network, no hashing), so `validate`
and `run` see exactly the same verdicts, and every problem of a row is found
in one pass rather than one per attempt. Rules: CONTRACT.md, "Manifest rows".

Every name and value is NFC-normalised first (`_nfc`): a manifest re-saved
with decomposed Unicode (NFD, as some editors and macOS file names write it)
gives the same ids, prompts, file names and fingerprints, so it pays nothing
again. A local path is looked up as written in NFC, then in NFD.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import unicodedata
from collections.abc import Callable, Mapping
from pathlib import Path

from batchedit.catalogue import Catalogue, ModelSpec, current_catalogue
from batchedit.fsutil import RUN_OUTPUTS_DIR, RUN_STATE_DIR, safe_name
from batchedit.manifest.columns import ColumnMap
from batchedit.manifest.decoding import VERDICTS
from batchedit.manifest.naming import OutputSpec
from batchedit.manifest.params import row_params
from batchedit.manifest.preflight import local_file_problem, problem_kind, url_problem
from batchedit.manifest.reader import RawRow, RawValue
from batchedit.manifest.row_fields import IMAGE_COLUMNS as IMAGE_COLUMNS  # failed_rows reads it
from batchedit.manifest.row_fields import (
    Checked,
    check_count,
    check_image_rules,
    check_prompt,
    check_prompt_length,
    check_single_values,
    image_list,
    render_id,
    row_fields,
    text_of,
)
from batchedit.manifest.seen_ids import SeenIds
from batchedit.manifest.sources import is_empty
from batchedit.manifest.template import TemplateError
from batchedit.records import EditRequest, FieldValue, ImageRef, InvalidRow, Row

log = logging.getLogger(__name__)
#: At most this many distinct notes per pass; past it they are not said.
MAX_NOTES = 100


class RowValidator:
    """Checks rows one at a time; remembers only each id's first line, for duplicates."""

    def __init__(
        self,
        file: str,
        base_dir: Path,
        defaults: Mapping[str, RawValue],
        default_model: str,
        *,
        columns: ColumnMap | None = None,
        allowed_models: frozenset[str] = frozenset(),
        output: OutputSpec | None = None,
        catalogue: Catalogue | None = None,
        decode: bool = True,
        run_dir: Path | None = None,
        prepare: bool = True,
        notes: bool = True,
    ) -> None:
        self.file = file
        # Values taken in the catalogue's spelling (`1k` as `1K`), each said once.
        self._notes: set[str] | None = set() if notes else None
        # The run directory's folders a run writes into: an input found there
        # would be overwritten by a result, or be one (paid for again each run).
        self._written_by_runs = () if run_dir is None else _written_folders(run_dir)
        # Decode each local image in full (decoding.py); off for a pass that only
        # gathers the files to decode them in parallel first.
        self.decode = decode
        self.prepare = prepare  # inputs prepared before upload: more formats, no byte cap
        self.base_dir = base_dir
        self.defaults = dict(defaults)
        self.default_model = default_model
        self.columns = columns or ColumnMap()
        self.allowed_models = allowed_models
        self.output = output or OutputSpec()
        # Read once: the packaged data, or a newer schema `models refresh` cached.
        self.catalogue = catalogue or current_catalogue()
        # Each output name's first line, case-folded, in a few bytes per name.
        self._first_stem = SeenIds()
        # One verdict per distinct local file: ten thousand rows may share two photos.
        self._file_problems: dict[Path, tuple[Path, str | None]] = {}  # as written: as found
        self._seen = SeenIds()  # a few bytes per id, however long the manifest

    def check(self, raw: RawRow) -> Row | InvalidRow:
        checked = Checked(self.file, raw.line)
        for message in raw.problems:
            checked.add(message)
        if raw.problems and not raw.values:  # unreadable row: more messages would be noise
            return InvalidRow(raw.index, raw.line, "", tuple(checked.problems))
        values = _nfc(self._merge(self.columns.apply(raw.values)))
        render_id(self.columns, values, checked)
        check_single_values(values, checked)
        row_id = self._check_id(values, checked)
        unique_id = not checked.problems or checked.problems[-1].field != "id"
        model = text_of(values.get("model")) or self.default_model
        spec = self._check_model(model, checked)
        prompt = check_prompt(values, checked)
        given = image_list(values, checked)
        images = tuple(self._check_image(image, checked) for image in given)
        params = row_params(values, spec, checked.add, self._note_for(checked.line))
        fields = row_fields(values, checked)
        if spec is not None:
            check_count(len(given), spec, checked)
            check_prompt_length(prompt, spec, checked)
            # A local file prepared before upload is made to fit the model's bytes.
            check_image_rules(given, () if self.prepare else images, spec, checked)
        request = EditRequest(
            model,
            prompt or "",
            tuple(i for i in images if i),
            params.aspect_ratio,
            params.image_size,
            params.body,
        )
        stem = self._check_output_name(row_id, fields, request, checked) if unique_id else ""
        if checked.problems:
            return InvalidRow(
                raw.index,
                raw.line,
                row_id,
                tuple(checked.problems),
                model=model,
                prompt=prompt if prompt is not None else text_of(values.get("prompt")),
                images=given,
                params=request.params(),
                fields=fields,
            )
        return Row(raw.index, raw.line, row_id, request, fields, output_stem=stem)

    def _note_for(self, line: int) -> Callable[[str, str], None]:
        def note(message: str, field_name: str) -> None:
            said = self._notes
            if said is None or message in said or len(said) >= MAX_NOTES:
                return
            said.add(message)
            log.warning("%s:%d: %s", self.file, line, message)

        return note

    def _merge(self, row: Mapping[str, RawValue]) -> dict[str, RawValue]:
        """Defaults, then the row's own non-empty values; an empty cell falls back."""
        values = dict(self.defaults)
        for name, value in row.items():
            if not is_empty(value) or name not in values:
                values[name] = value
        return values

    def _check_id(self, values: Mapping[str, RawValue], checked: Checked) -> str:
        row_id = text_of(values.get("id"))
        if not row_id:
            checked.add("missing id: every row needs a non-empty, unique id", "id")
            return ""
        first = self._seen.first_line(row_id, checked.line)
        if first is not None:
            checked.add(
                f"duplicate id '{row_id}' (first on line {first})",
                "id",
                kind="duplicate id",
                detail=f"{row_id}, first on line {first}",
            )
        return row_id

    def _check_model(self, model: str, checked: Checked) -> ModelSpec | None:
        spec = self.catalogue.spec_for(model, self.allowed_models)
        if spec is None:
            checked.add(self.catalogue.unknown_model_message(model), "model")
        return spec

    def _check_output_name(
        self,
        row_id: str,
        fields: Mapping[str, FieldValue],
        request: EditRequest,
        checked: Checked,
    ) -> str:
        """Where the row's results will go under outputs/; two rows may not share
        it, by a template or by default (`SKU1` and `sku1`, or `a/b` and the
        `a_b-<hash>` it folds to), compared ignoring case: on macOS and Windows
        two such names are one file. Returns the stem ("" for the default)."""
        if not row_id:
            return ""
        if self.output.name is None:
            stem, given = safe_name(row_id), ""
            advice = "give the rows ids that differ by more than case, or set output.name"
        else:
            values = {
                **fields,
                "model": request.model,
                "aspect_ratio": request.aspect_ratio or "",
                "resolution": request.image_size or "",
            }
            try:
                stem = given = self.output.stem(row_id, values)
            except TemplateError as exc:
                checked.add(str(exc), "output")
                return ""
            advice = "make output.name tell the rows apart (add {id})"
        first = self._first_stem.first_line(stem.casefold(), checked.line)
        if first is not None and first != checked.line:
            checked.add(
                f"output name 'outputs/{stem}' is also that of the row on line {first} "
                f"(names are compared ignoring case); {advice}",
                "output",
                kind=f"output name also that of another row (compared ignoring case); {advice}",
                detail=f"outputs/{stem}, as line {first}",
            )
        return given

    def _check_image(self, given: str, checked: Checked) -> ImageRef | None:
        problem = url_problem(given)
        if problem == "":
            return ImageRef(given=given)
        if problem is not None:
            shown = given if not given.lower().startswith("data:") else f"{given[:40]}..."
            checked.add(
                f"image '{shown}' {problem}", "image", kind=f"image {problem}", detail=shown
            )
            return None
        written = Path(os.path.abspath(self.base_dir / Path(given).expanduser()))
        if written not in self._file_problems:
            found = _existing_form(written)
            problem = local_file_problem(found, prepare=self.prepare)
            problem = problem or self._written_by_a_run(found)
            if problem is None and self.decode:
                problem = VERDICTS.problem(found, prepare=self.prepare)  # once per content
            self._file_problems[written] = (found, problem)
        path, problem = self._file_problems[written]
        if problem is None:
            return ImageRef(given=given, path=path)
        checked.add(
            f"image file '{given}' {problem}",
            "image",
            kind=f"image file {problem_kind(problem)}",
            detail=given,
        )
        return None

    def _written_by_a_run(self, path: Path) -> str | None:
        """Why an input may not be read from where it is: inside the run
        directory's outputs/ or state folder (symbolic links followed)."""
        real = Path(os.path.realpath(path))
        for folder, what in self._written_by_runs:
            if real.is_relative_to(folder):
                return (
                    f"is inside the run directory's {what} ({folder}), where runs write: "
                    "move it out of the run directory"
                )
        return None


def _written_folders(run_dir: Path) -> tuple[tuple[Path, str], ...]:
    root = Path(os.path.realpath(run_dir))
    return ((root / RUN_OUTPUTS_DIR, "outputs/"), (root / RUN_STATE_DIR, "state folder"))


def _nfc(values: Mapping[str, RawValue]) -> dict[str, RawValue]:
    """Names and text values in Unicode NFC; numbers and the like as they are."""
    return {unicodedata.normalize("NFC", name): _nfc_value(value) for name, value in values.items()}


def _nfc_value(value: RawValue) -> RawValue:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, tuple):
        return tuple(unicodedata.normalize("NFC", item) for item in value)
    return value


def _existing_form(path: Path) -> Path:
    """`path` (NFC), or its NFD spelling when only that exists on disk: a file
    system that keeps names as bytes holds either, and both name one file here."""
    if path.exists():
        return path
    decomposed = Path(unicodedata.normalize("NFD", str(path)))
    return decomposed if decomposed != path and decomposed.exists() else path


def with_prompt_suffix(row: Row | InvalidRow, suffix: str | None) -> Row | InvalidRow:
    """The row with `suffix` (review notes, `retry --prompt-suffix`) ending its
    prompt, after a full stop unless the prompt ends a sentence already."""
    if not suffix or not isinstance(row, Row):
        return row
    prompt = row.request.prompt.rstrip()
    joiner = " " if not prompt or prompt[-1] in ".!?;:" else ". "
    request = dataclasses.replace(row.request, prompt=f"{prompt}{joiner}{suffix.strip()}".strip())
    return dataclasses.replace(row, request=request)
