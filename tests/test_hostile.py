"""The client against a hostile server (hostile_server.py): whatever the
service sends, a run of 5 rows ends within 60 s with `--request-timeout 5`,
its peak memory under 300 MB, a report line per row, no traceback, and the
key nowhere in what it wrote or printed.

Each run is a real `python -m batchedit run` in a subprocess under a 1.5 GB
address-space cap, its peak RSS read from the kernel's accounting of that
one child (os.wait4).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import HOSTILE_ROWS, assert_bounded, errors, run_client


@pytest.mark.timeout(120)
def test_an_endless_answer_is_cut_at_its_cap(tmp_path: Path, hostile: Any) -> None:
    server = hostile("endless")
    run = run_client(tmp_path, server.base_url)
    report = assert_bounded(run)
    assert run.code == 1
    for status, _, message in errors(report):
        assert status == "failed" and "over the 1 MiB limit" in message


@pytest.mark.timeout(120)
def test_a_gzip_bomb_is_cut_at_its_decoded_cap(tmp_path: Path, hostile: Any) -> None:
    server = hostile("gzip_bomb")
    run = run_client(tmp_path, server.base_url)
    report = assert_bounded(run)
    assert run.code == 1
    for status, _, message in errors(report):
        assert status == "failed" and "over the 1 MiB limit" in message


@pytest.mark.timeout(120)
@pytest.mark.real_time(
    "the request deadline is the client's real seconds, and the answer trickles on past it"
)
def test_a_trickling_answer_ends_at_the_request_deadline(tmp_path: Path, hostile: Any) -> None:
    server = hostile("trickle")
    run = run_client(tmp_path, server.base_url)
    report = assert_bounded(run)
    assert run.code == 1
    for status, category, message in errors(report):
        assert (status, category) == ("failed", "network")
        assert "within 5s (request_timeout_s)" in message


@pytest.mark.timeout(120)
def test_a_retry_after_beyond_max_wait_stops_the_run_saying_when(
    tmp_path: Path, hostile: Any
) -> None:
    server = hostile("retry_after")
    # One submit at a time: a submit cancelled in flight by the stop would be
    # `unknown` (it reached the service), which is right, but not this test's point.
    run = run_client(tmp_path, server.base_url, "--concurrency", "1")
    report = assert_bounded(run)
    assert run.code == 3
    assert {record["status"] for record in report} == {"pending"}
    assert "come back at" in run.stderr and "max_wait_s 600" in run.stderr
    summary = json.loads((run.run_dir / "summary.json").read_text())
    assert summary["stopped_by"] == "rate_limited"


@pytest.mark.timeout(120)
def test_the_key_echoed_by_the_service_is_stored_and_shown_nowhere(
    tmp_path: Path, hostile: Any
) -> None:
    server = hostile("echo_key")
    run = run_client(tmp_path, server.base_url, "--log-format", "text")
    report = assert_bounded(run)
    assert run.code == 1
    messages = [message for _, _, message in errors(report)]
    assert any("[redacted]" in message for message in messages)
    assert all("\r" not in message and "\n" not in message for message in messages)
    (with_url,) = [record for record in report if record["task_id"] == "t-2"]
    assert with_url["error"]["category"] == "download"
    assert "holds the API key" in with_url["error"]["message"]
    assert server.counts["download"] == 0, "a URL holding the key is never fetched"


@pytest.mark.timeout(120)
def test_odd_task_ids_never_reach_a_path(tmp_path: Path, hostile: Any) -> None:
    server = hostile("odd_ids")
    run = run_client(tmp_path, server.base_url)
    report = assert_bounded(run)
    assert run.code == 1
    assert server.counts["submit"] == HOSTILE_ROWS
    assert server.counts["poll"] == 0 and server.counts["other"] == 0, server.counts
    for status, _, message in errors(report):
        assert status == "failed" and "unsafe to use in a path" in message
    # Charged by the service though never polled: each row counts its paid submit.
    assert [record["attempts"] for record in report] == [1] * HOSTILE_ROWS
    assert "forged" not in "".join(
        line for line in run.stderr.splitlines() if line.startswith("ERROR")
    )
    summary = json.loads((run.run_dir / "summary.json").read_text())
    assert summary["paid_submissions"] == HOSTILE_ROWS


@pytest.mark.timeout(120)
def test_an_html_result_fails_at_once_without_retries(tmp_path: Path, hostile: Any) -> None:
    server = hostile("html_result")
    run = run_client(tmp_path, server.base_url)
    report = assert_bounded(run)
    assert run.code == 1
    assert server.counts["download"] == HOSTILE_ROWS, "one fetch per row: nothing retried"
    for status, category, message in errors(report):
        assert (status, category) == ("failed", "download")
        assert "not an image but markup" in message
    assert "0 B written" in run.stdout, "no bytes are claimed for a refused body"


@pytest.mark.timeout(120)
def test_a_tiff_result_is_refused_naming_its_format(tmp_path: Path, hostile: Any) -> None:
    server = hostile("tiff_result")
    run = run_client(tmp_path, server.base_url)
    report = assert_bounded(run)
    assert run.code == 1
    for status, category, message in errors(report):
        assert (status, category) == ("failed", "download")
        assert "the result is TIFF; only PNG, JPEG and WebP are accepted" in message
    assert not any((run.run_dir / "outputs").iterdir())


@pytest.mark.timeout(120)
def test_a_result_on_a_private_address_is_never_fetched(tmp_path: Path, hostile: Any) -> None:
    server = hostile("private_url")
    run = run_client(tmp_path, server.base_url)
    report = assert_bounded(run)
    assert run.code == 1
    for status, category, message in errors(report):
        assert (status, category) == ("failed", "download")
        assert "private address (169.254.169.254)" in message and "nothing fetched" in message


@pytest.mark.timeout(120)
def test_a_loopback_api_s_results_come_from_its_own_origin_only(
    tmp_path: Path, hostile: Any
) -> None:
    server = hostile("other_port")
    run = run_client(tmp_path, server.base_url)
    report = assert_bounded(run)
    assert run.code == 1
    assert server.counts["download"] == 0, "no other loopback port is ever asked"
    for status, category, message in errors(report):
        assert (status, category) == ("failed", "download")
        assert "not the API's own origin" in message and "--allow-private-downloads" in message


@pytest.mark.timeout(120)
def test_allow_private_downloads_lets_results_come_from_another_loopback_port(
    tmp_path: Path, hostile: Any
) -> None:
    server = hostile("other_port")
    run = run_client(tmp_path, server.base_url, "--allow-private-downloads")
    report = assert_bounded(run)
    assert run.code == 0, run.stderr[-2000:]
    assert {record["status"] for record in report} == {"succeeded"}
    assert server.counts["download"] == HOSTILE_ROWS


@pytest.mark.timeout(120)
def test_a_gzip_encoded_result_is_checked_on_its_decoded_bytes(
    tmp_path: Path, hostile: Any
) -> None:
    server = hostile("gzip_download")
    run = run_client(tmp_path, server.base_url)
    report = assert_bounded(run)
    assert run.code == 0, run.stderr[-2000:]
    assert {record["status"] for record in report} == {"succeeded"}
    assert server.counts["download"] == HOSTILE_ROWS


@pytest.mark.timeout(120)
def test_a_redirect_to_a_private_address_is_never_followed(tmp_path: Path, hostile: Any) -> None:
    server = hostile("redirect_private")
    run = run_client(tmp_path, server.base_url)
    report = assert_bounded(run)
    assert run.code == 1
    assert server.counts["download"] == HOSTILE_ROWS, "the redirect itself is not retried"
    for status, category, message in errors(report):
        assert (status, category) == ("failed", "download")
        assert "private address (169.254.169.254)" in message


@pytest.mark.timeout(120)
def test_redirects_are_followed_at_most_five_times(tmp_path: Path, hostile: Any) -> None:
    server = hostile("redirect_loop")
    run = run_client(tmp_path, server.base_url)
    report = assert_bounded(run)
    assert run.code == 1
    assert server.counts["download"] == HOSTILE_ROWS * 6, (
        "the first fetch and five redirects, per row"
    )
    for status, category, message in errors(report):
        assert (status, category) == ("failed", "download")
        assert "redirected more than 5 times" in message


# -- results the picture policy refuses --------------------------------------


@pytest.mark.timeout(120)
def test_a_13000x13000_result_is_refused_without_the_memory_and_fetched_once(
    tmp_path: Path, hostile: Any
) -> None:
    """A 657 KB PNG of 13000x13000 once cost 1.37 GB for one row and was stored
    as `succeeded`; now its header is read and the result refused (the peak
    RSS bound of assert_bounded is under the 507 MB its pixels would take),
    the task id kept, and neither this run nor a re-run fetches it again."""
    server = hostile("huge_result")
    run = run_client(tmp_path, server.base_url)
    report = assert_bounded(run)
    assert run.code == 1
    assert server.counts["download"] == HOSTILE_ROWS, "one fetch per row: nothing retried"
    for record, (status, category, message) in zip(report, errors(report), strict=True):
        assert (status, category) == ("failed", "download")
        assert message.startswith("the result is 13000x13000 px (169 MP), over the")
        assert "refused without decoding it" in message
        assert record["task_id"] is not None
    again = run_client(tmp_path, server.base_url)
    assert_bounded(again)
    assert server.counts["download"] == HOSTILE_ROWS, "a re-run does not fetch a refused result"
    assert server.counts["submit"] == HOSTILE_ROWS, "nor pays for it again"


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("mode", "said"),
    [
        ("xmp_flood", "carries more than 16 MiB besides its pixels"),
        ("fill_bytes", "carries more than 16 MiB of JPEG fill bytes"),
    ],
)
def test_metadata_past_its_bound_is_refused_without_reading_it(
    tmp_path: Path, hostile: Any, mode: str, said: str
) -> None:
    """60 MB of XMP in a 64x48 PNG once cost ~390 MB a download, and 64 MiB of
    JPEG fill bytes 15 s of CPU; past the 16 MiB bound (20 MB here), both are
    streamed to disk and refused from a bounded walk of their container."""
    server = hostile(mode)
    run = run_client(tmp_path, server.base_url)
    report = assert_bounded(run)
    assert run.code == 1
    assert server.counts["download"] == HOSTILE_ROWS
    for status, category, message in errors(report):
        assert (status, category) == ("failed", "download")
        assert said in message
    assert not any((run.run_dir / "outputs").iterdir()), "no download is left behind"


@pytest.mark.timeout(120)
def test_a_result_that_fails_to_decode_the_same_way_is_fetched_twice_not_seven_times(
    tmp_path: Path, hostile: Any
) -> None:
    server = hostile("broken_result")
    run = run_client(tmp_path, server.base_url)
    report = assert_bounded(run)
    assert run.code == 1
    assert server.counts["download"] == 2 * HOSTILE_ROWS
    for status, category, message in errors(report):
        assert (status, category) == ("failed", "download")
        assert "fail the same way, so it is not fetched again" in message
