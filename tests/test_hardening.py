"""Issue 14's findings, each proven: the origin and the key checked at start,
one redactor, multi-document YAML, colliding output names, the smaller edges
(a wide header, --failed-csv over the manifest, merge's lock, a huge
concurrency, a stop while planning, the simulator's scratch folder, file
modes, doctor on a 500), and exit 4 with the report written however the run
ends."""

from __future__ import annotations

import hashlib
import html
import ipaddress
import json
import os
import socket
import stat
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from hypothesis import given
from hypothesis import strategies as st
from support import TEST_KEY, ThreadedSimulator, read_report, two_image_manifest, write_csv
from yarl import URL

from batchedit.api.client import RequestCounts, check_task_id
from batchedit.api.download import DownloadPolicy, download_once
from batchedit.api.guarded_resolver import GuardedResolver
from batchedit.cli import main
from batchedit.errors import AnswerRefused, DownloadError
from batchedit.pipeline.context import Workers
from batchedit.pipeline.write.outputs import OutputStore
from batchedit.records import EditRequest, Row
from batchedit.redact import REDACTED, add_secret, redact, scrub, strip_controls
from batchedit.simulator import STORE_DIR
from batchedit.state.lock import run_lock
from batchedit.state.rundir import RunPaths

FAST = ["--poll-interval", "0.01", "--no-progress"]
Simulators = Callable[..., ThreadedSimulator]


def url_rows(folder: Path, ids: list[str]) -> Path:
    rows = [{"id": i, "prompt": "edit", "image": "https://example.com/a.png"} for i in ids]
    return write_csv(folder / "rows.csv", rows)


# -- the origin and the key, checked once at start --------------------------------


@pytest.mark.parametrize(
    "origin, reason",
    [
        ("http://user:pw@127.0.0.1:{port}", "user name or password"),
        ("http://127.0.0.1:{port}/?x=1", "query"),
        ("http://127.0.0.1:{port}/#top", "fragment"),
        ("http://127.0.0.1:99999", "out of range"),
    ],
)
def test_a_base_url_with_more_than_an_origin_is_refused_by_run_and_doctor(
    tmp_path: Path,
    threaded_simulator: Simulators,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    origin: str,
    reason: str,
) -> None:
    simulator = threaded_simulator()
    monkeypatch.setenv("MODELLIX_BASE_URL", origin.format(port=simulator.base_url.split(":")[-1]))
    manifest = url_rows(tmp_path, ["a"])
    assert main(["run", str(manifest), "--out", str(tmp_path / "run"), *FAST]) == 2
    assert reason in capsys.readouterr().err
    assert simulator.stats()["submit_requests"] == 0
    assert not (tmp_path / "run").exists(), "checked before the run directory is made"
    assert main(["doctor", "--timeout", "5"]) == 2
    assert reason in capsys.readouterr().out and "pw" not in origin.split("@")[-1]


@pytest.mark.parametrize("key", ["k", "short7!", "has space-1234", "ctrl\x07-12345678"])
def test_a_short_or_broken_key_is_refused_at_start(
    tmp_path: Path,
    threaded_simulator: Simulators,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    key: str,
) -> None:
    simulator = threaded_simulator()
    monkeypatch.setenv("MODELLIX_API_KEY", key)
    manifest = url_rows(tmp_path, ["a"])
    assert main(["run", str(manifest), "--out", str(tmp_path / "run"), *FAST]) == 2
    err = capsys.readouterr().err
    assert "MODELLIX_API_KEY" in err and "Traceback" not in err
    assert simulator.stats()["submit_requests"] == 0
    assert main(["doctor"]) == 2
    assert "FAIL  API key" in capsys.readouterr().out


# -- one redactor --------------------------------------------------------------


def test_the_redactor_finds_the_key_in_every_spelling() -> None:
    add_secret("k7Tz4Wc8")
    assert redact("Bearer k7Tz4Wc8 over quota") == f"Bearer {REDACTED} over quota"
    assert redact('{"key":"k7Tz4Wc8"}') == f'{{"key":"{REDACTED}"}}'
    # Glued to other text, as `Bearer%20KEY` and `%22KEY%22` glue it.
    assert redact("Bearer%20k7Tz4Wc8") == f"Bearer%20{REDACTED}"
    assert redact("xk7Tz4Wc8y") == f"x{REDACTED}y"
    key = 'Kq/9+x"Lr\\7&T<z>4'
    add_secret(key)
    spelled = {
        "url": "Kq%2F9%2Bx%22Lr%5C7%26T%3Cz%3E4",
        "url, lower-case hex": "Kq%2f9%2bx%22Lr%5c7%26T%3cz%3e4",
        "url twice": "Kq%252F9%252Bx%2522Lr%255C7%2526T%253Cz%253E4",
        "json": json.dumps(key)[1:-1],
        "json, every character": "".join(f"\\u{ord(c):04x}" for c in key),
        "html": html.escape(key),
        "html numeric": "".join(f"&#{ord(c)};" for c in key),
        "json inside a url": "".join(f"%5Cu{ord(c):04X}" for c in key),
        "upper case": key.upper(),
    }
    for name, text in spelled.items():
        assert redact(f"Authorization: bearer {text}.") == (f"Authorization: bearer {REDACTED}."), (
            name
        )


def test_a_cut_never_leaves_a_long_prefix_of_the_key() -> None:
    key = "mk_9fQ2xLr7Tz4Wc8Hv1Nb6Ys3Pd5Ke0J"
    add_secret(key)
    assert redact(f"invalid key {key[:17]}") == f"invalid key {REDACTED}"
    assert redact(f"invalid key {key[:9]}... (cut)") == f"invalid key {REDACTED}... (cut)"
    assert redact(f"key {key[:12]}\u2026") == f"key {REDACTED}\u2026"
    assert redack_free(f"seven {key[:7]}"), "shorter than a key: ordinary text"
    assert redack_free(f"mid-text {key[:12]} is not a cut")
    # scrub redacts first, then cuts: the key across the cut is gone whole.
    cut = scrub("x" * 283 + " " + key + " " + "y" * 300, max_chars=300)
    assert key[:8] not in cut and len(cut) == 300
    # Spelled long and followed by a megabyte: still whole within what is looked at.
    spelled = "".join(f"%25{ord(char):02X}" for char in key)
    cut = scrub("x" * 290 + spelled + "y" * 1_000_000, max_chars=300)
    assert "%256D%256B" not in cut and cut.endswith("[redacted…")


def redack_free(text: str) -> bool:
    return redact(text) == text


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 .:/=", max_size=60))
def test_a_registered_key_never_survives_as_a_token(prefix: str) -> None:
    key = "mk_9fQ2xLr7Tz4Wc8Hv1Nb6Ys3Pd5Ke0J"
    add_secret(key)
    text = f"{prefix} {key}\n{prefix}"
    cleaned = scrub(text)
    assert key not in cleaned and "\n" not in cleaned


def test_control_characters_become_spaces() -> None:
    assert strip_controls("t-1\r\nERROR forged\u2028x\u202e") == "t-1  ERROR forged x "
    assert strip_controls("plain text, é") == "plain text, é"


@given(st.text(max_size=40))
def test_only_conservative_task_ids_pass(task_id: str) -> None:
    try:
        check_task_id(task_id)
    except AnswerRefused:
        return
    assert task_id and all(c.isascii() and (c.isalnum() or c in "._-") for c in task_id)
    assert not task_id.startswith((".", "-", "_"))


# -- manifests ---------------------------------------------------------------


def test_a_second_yaml_document_is_an_error_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "rows.yaml"
    image = "https://example.com/a.png"
    manifest.write_text(
        f"- id: a\n  prompt: x\n  image: {image}\n---\n- id: b\n  prompt: y\n  image: {image}\n"
    )
    assert main(["validate", str(manifest)]) == 2
    assert f"{manifest}:4: holds a second YAML document" in capsys.readouterr().err


@pytest.mark.parametrize(
    "name, text, line",
    [
        ("rows.yaml", "rows:\n- {{id: a, prompt: x, image: {img}}}\n---\nrows: []\n", 3),
        ("job.yaml", "manifest: rows.csv\n---\nmanifest: other.csv\n", 2),
    ],
)
def test_a_second_document_in_a_mapping_manifest_or_a_job_file_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, line: int
) -> None:
    url_rows(tmp_path, ["a"])
    source = tmp_path / name
    source.write_text(text.format(img="https://example.com/a.png"))
    assert main(["validate", str(source)]) == 2
    assert f"{source}:{line}:" in capsys.readouterr().err


def test_default_output_names_that_collide_are_refused_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folded = "a_b-" + hashlib.sha256(b"a/b").hexdigest()[:10]
    manifest = url_rows(tmp_path, ["SKU1", "sku1", "a/b", folded])
    assert main(["validate", str(manifest)]) == 2
    out = capsys.readouterr().out  # one kind of problem: one line, each row's name an example
    assert "2 rows: output name also that of another row (compared ignoring case)" in out
    assert f"{manifest}:3 (outputs/sku1, as line 2), 5 (outputs/{folded}, as line 4)" in out
    assert main(["validate", str(manifest), "--json"]) == 2
    messages = [p["message"] for p in json.loads(capsys.readouterr().out)["problems"]]
    assert messages == [
        "output name 'outputs/sku1' is also that of the row on line 2 (names are compared "
        "ignoring case); give the rows ids that differ by more than case, or set output.name",
        f"output name 'outputs/{folded}' is also that of the row on line 4 (names are compared "
        "ignoring case); give the rows ids that differ by more than case, or set output.name",
    ]


def test_templated_output_names_are_compared_ignoring_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        {"id": "1", "sku": "Mug", "prompt": "edit", "image": "https://example.com/a.png"},
        {"id": "2", "sku": "mug", "prompt": "edit", "image": "https://example.com/a.png"},
    ]
    write_csv(tmp_path / "rows.csv", rows)
    job = tmp_path / "job.yaml"
    job.write_text('manifest: rows.csv\noutput:\n  name: "{sku}"\n')
    assert main(["validate", str(job)]) == 2
    assert "output name 'outputs/mug' is also that of the row on line 2" in (
        capsys.readouterr().out
    )


def test_a_row_never_overwrites_another_rows_file_at_write_time(tmp_path: Path) -> None:
    store = OutputStore(tmp_path, client=None)  # type: ignore[arg-type]
    request = EditRequest("google/nano-banana-pro-edit", "edit", ())
    first, second = Row(1, 2, "x-1", request, {}), Row(2, 3, "x", request, {})
    store.claim(first, "x-1.png")
    store.claim(first, "x-1.png")  # the same row again (a re-download): fine
    with pytest.raises(DownloadError, match="already the file of row 1"):
        store.claim(second, "X-1.png")


@pytest.mark.timeout(30)
def test_a_header_of_100000_columns_is_read_in_linear_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = ["id", "prompt", "image", *(f"c{n}" for n in range(100_000))]
    cells = ["a", "p", "https://example.com/a.png", *("x" for _ in range(100_000))]
    manifest = tmp_path / "wide.csv"
    manifest.write_text(",".join(names) + "\n" + ",".join(cells) + "\n")
    # CPU seconds, not the wall clock: other work on a busy machine does not count.
    started = time.process_time()
    assert main(["validate", str(manifest)]) == 0
    assert time.process_time() - started < 10


# -- the smaller edges ---------------------------------------------------------


def test_failed_csv_refuses_to_overwrite_the_runs_own_manifest(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    threaded_simulator(fail_rate=1.0)
    manifest = two_image_manifest(tmp_path, 2)
    before = manifest.read_bytes()
    assert main(["run", str(manifest), "--out", str(tmp_path / "run"), *FAST]) == 1
    assert main(["report", str(tmp_path / "run"), "--failed-csv", str(manifest)]) == 2
    assert "the run's own manifest" in capsys.readouterr().err
    assert manifest.read_bytes() == before


def test_report_merge_takes_the_lock_of_its_out_directory(
    tmp_path: Path, threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    threaded_simulator()
    manifest = two_image_manifest(tmp_path, 2)
    assert main(["run", str(manifest), "--out", str(tmp_path / "run"), *FAST]) == 0
    out = RunPaths(tmp_path / "merged")
    with run_lock(out):
        assert main(["report", "merge", str(tmp_path / "run"), "--out", str(out.root)]) == 2
    assert "in use by another batchedit run" in capsys.readouterr().err
    assert not out.report.exists()
    assert main(["report", "merge", str(tmp_path / "run"), "--out", str(out.root)]) == 0


def test_workers_are_capped_by_the_rows_and_a_sane_maximum() -> None:
    assert Workers.for_concurrency(1_000_000, 2).submitters == 2
    assert Workers.for_concurrency(1_000_000, 10_000_000).submitters == 1024
    assert Workers.for_concurrency(8, 100) == Workers(8, 8, 8)


@pytest.mark.timeout(30)
def test_a_huge_concurrency_on_two_rows_runs_small(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    threaded_simulator()
    manifest = two_image_manifest(tmp_path, 2)
    run_dir = tmp_path / "run"
    args = ["run", str(manifest), "--out", str(run_dir), "--concurrency", "1000000", *FAST]
    started = time.process_time()  # CPU seconds of this process (the simulator's thread too)
    assert main(args) == 0
    assert time.process_time() - started < 10


def test_a_stop_while_planning_leaves_no_lock_in_a_fresh_run_dir(
    tmp_path: Path, threaded_simulator: Simulators, monkeypatch: pytest.MonkeyPatch
) -> None:
    threaded_simulator()
    manifest = two_image_manifest(tmp_path, 2)

    def stopped(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("SIGTERM")

    monkeypatch.setattr("batchedit.pipeline.launch.survey_run", stopped)
    assert main(["run", str(manifest), "--out", str(tmp_path / "run"), *FAST]) == 130
    assert not (tmp_path / "run").exists()


def test_simulate_leaves_no_scratch_folder_even_after_a_killed_run(tmp_path: Path) -> None:
    manifest = two_image_manifest(tmp_path, 2)
    run_dir = tmp_path / "run"
    left = run_dir / ".batchedit" / "batchedit-sim-killed"
    left.mkdir(parents=True)
    (left / "result.png").write_bytes(b"\x89PNG" + bytes(1000))  # as a kill -9 leaves it
    simulate = ["--simulate", "--sim-latency", "0-0.02"]
    assert main(["run", str(manifest), "--out", str(run_dir), *simulate, *FAST]) == 0
    # The killed run's scratch is gone; what stays is the simulator's store (issue 16:
    # `--simulate` remembers its tasks for re-runs), and no scratch file in it.
    assert [p.name for p in (run_dir / ".batchedit").iterdir() if p.is_dir()] == [STORE_DIR]
    assert not left.exists() and not list(run_dir.rglob("*.part"))


def test_report_and_summary_have_the_mode_of_the_outputs(
    tmp_path: Path, threaded_simulator: Simulators
) -> None:
    threaded_simulator()
    manifest = two_image_manifest(tmp_path, 2)
    run_dir = tmp_path / "run"
    previous = os.umask(0o022)
    try:
        assert main(["run", str(manifest), "--out", str(run_dir), *FAST]) == 0
    finally:
        os.umask(previous)
    modes = {
        path.name: stat.S_IMODE(path.stat().st_mode)
        for path in [run_dir / "report.jsonl", run_dir / "summary.json"]
    }
    assert modes == {"report.jsonl": 0o644, "summary.json": 0o644}
    assert {stat.S_IMODE(p.stat().st_mode) for p in (run_dir / "outputs").iterdir()} == {0o644}


def test_doctor_says_unknown_when_the_service_answers_500(
    threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    threaded_simulator(error_rate=1.0)
    code = main(["doctor", "--timeout", "5"])
    out = capsys.readouterr().out
    assert code == 1
    assert "????  key valid   unknown: server error" in out
    assert "FAIL  key valid" not in out and TEST_KEY not in out
    assert main(["doctor", "--json", "--timeout", "5"]) == 1
    document = json.loads(capsys.readouterr().out)
    (key_valid,) = [check for check in document["checks"] if check["name"] == "key valid"]
    assert key_valid["ok"] is None and key_valid["unknown"] is True


# -- however it ends, it reports -------------------------------------------------


def test_an_internal_error_stops_the_run_with_exit_4_and_the_report_written(
    tmp_path: Path,
    threaded_simulator: Simulators,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    simulator = threaded_simulator()
    manifest = two_image_manifest(tmp_path, 4)

    async def broken(self: OutputStore, row: Row, state: object) -> tuple[()]:
        raise RuntimeError("a bug in the writer")

    working = OutputStore.store_checked
    monkeypatch.setattr(OutputStore, "store_checked", broken)
    run_dir = tmp_path / "run"
    assert main(["run", str(manifest), "--out", str(run_dir), *FAST]) == 4
    err = capsys.readouterr().err
    assert "internal error (RuntimeError: a bug in the writer)" in err
    assert "Traceback" not in err
    report = read_report(run_dir)
    assert len(report) == 4
    assert json.loads((run_dir / "summary.json").read_text())["stopped_by"] == "local_failure"
    monkeypatch.setattr(OutputStore, "store_checked", working)
    code = main(["run", str(manifest), "--out", str(run_dir), *FAST])
    statuses = [record["status"] for record in read_report(run_dir)]
    # A submit the stop caught on the wire is `unknown` (it may exist), never repaid.
    assert set(statuses) <= {"succeeded", "unknown"}
    assert code == (0 if set(statuses) == {"succeeded"} else 1)
    unknown = statuses.count("unknown")
    assert 4 - unknown <= simulator.stats()["submits"] <= 4, "nothing is paid twice"


# -- where results may come from ----------------------------------------------------

REMOTE = DownloadPolicy(max_bytes=1024, timeout_s=5)
LOOPBACK_API = DownloadPolicy(max_bytes=1024, timeout_s=5, loopback_api=("http", "127.0.0.1", 8787))
ALLOWED = DownloadPolicy(max_bytes=1024, timeout_s=5, allow_private=True)


@pytest.mark.parametrize(
    "policy, url, address, refused",
    [
        (REMOTE, "https://93.184.216.34/r.png", "93.184.216.34", None),
        (REMOTE, "http://93.184.216.34/r.png", "93.184.216.34", "is plain http"),
        (REMOTE, "https://10.0.0.7/r.png", "10.0.0.7", "private address (10.0.0.7)"),
        (REMOTE, "https://127.0.0.1/r.png", "127.0.0.1", "private address (127.0.0.1)"),
        (LOOPBACK_API, "http://127.0.0.1:8787/r.png", "127.0.0.1", None),
        (LOOPBACK_API, "http://127.0.0.1:8788/r.png", "127.0.0.1", "not the API's own origin"),
        (LOOPBACK_API, "https://127.0.0.1:8787/r.png", "127.0.0.1", "not the API's own origin"),
        (LOOPBACK_API, "http://127.0.0.2:8787/r.png", "127.0.0.2", "not the API's own origin"),
        (LOOPBACK_API, "http://[::1]:8787/r.png", "::1", "not the API's own origin"),
        (ALLOWED, "http://127.0.0.1:6379/r.png", "127.0.0.1", None),
        (LOOPBACK_API, "http://169.254.169.254/r", "169.254.169.254", "private address"),
        (LOOPBACK_API, "https://[fd00::1]/r.png", "fd00::1", "private address (fd00::1)"),
        (ALLOWED, "http://192.168.1.9/r.png", "192.168.1.9", None),
    ],
)
def test_results_come_from_public_https_unless_allowed(
    policy: DownloadPolicy, url: str, address: str, refused: str | None
) -> None:
    reason = policy.refusal(URL(url), [ipaddress.ip_address(address)])
    assert reason is None if refused is None else refused in (reason or "")


async def test_a_host_name_is_checked_by_the_addresses_it_resolves_to() -> None:
    host = socket.gethostname()
    try:
        resolved = {info[4][0] for info in socket.getaddrinfo(host, 443)}
    except OSError:
        pytest.skip(f"this machine's own name {host!r} does not resolve")
    if any(ipaddress.ip_address(str(a).split("%")[0]).is_global for a in resolved):
        pytest.skip(f"{host!r} resolves to a public address here")
    counts = RequestCounts()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(DownloadError, match="points to a private address") as caught:
            await download_once(
                session, f"https://{host}/r.png", Path("unused"), policy=REMOTE, counts=counts
            )
    assert "nothing fetched" in caught.value.message and counts.bytes_downloaded == 0


class RebindingResolver(AbstractResolver):
    """A DNS that answers every name with one address, whatever was asked before."""

    def __init__(self, address: str) -> None:
        self.address = address

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host, host=self.address, port=port, family=family, proto=0, flags=0
            )
        ]

    async def close(self) -> None:
        return None


async def test_a_name_that_resolves_to_a_private_address_at_connect_time_is_refused() -> None:
    guarded = GuardedResolver(REMOTE, "api.modellix.ai", RebindingResolver("10.1.2.3"))
    with pytest.raises(OSError, match=r"files.example.com now resolves .*\(10.1.2.3\)"):
        await guarded.resolve("files.example.com", 443)
    api = await guarded.resolve("API.modellix.ai", 443)  # the API's own origin: as it is
    assert api[0]["host"] == "10.1.2.3"
    local = GuardedResolver(LOOPBACK_API, "127.0.0.1", RebindingResolver("127.0.0.1"))
    with pytest.raises(OSError, match="not the API's own origin"):
        await local.resolve("other.localhost", 6379)
    public = GuardedResolver(REMOTE, "api.modellix.ai", RebindingResolver("93.184.216.34"))
    assert (await public.resolve("files.example.com", 443))[0]["host"] == "93.184.216.34"
