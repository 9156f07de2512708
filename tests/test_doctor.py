"""`batchedit doctor` against the simulator: a right key, a wrong key, no key,
an origin that does not answer; the key never appears in what it prints."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support import TEST_KEY, ThreadedSimulator

from batchedit.api.doctor import balance_text
from batchedit.cli import main

Simulators = Callable[..., ThreadedSimulator]


def doctor(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["doctor", "--timeout", "5"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_doctor_passes_with_the_right_key_and_never_prints_it(
    threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = threaded_simulator(api_key=TEST_KEY, balance=25)
    code, output = doctor(capsys)
    assert code == 0, output
    assert TEST_KEY not in output and TEST_KEY[-6:] not in output
    assert "ok    API key     found in the environment variable MODELLIX_API_KEY" in output
    assert f"ok    API origin  {simulator.base_url} (from MODELLIX_BASE_URL)" in output
    assert "ok    key valid" in output
    assert "ok    balance     25" in output
    assert simulator.stats()["submits"] == 0, "doctor pays for nothing"


def test_doctor_fails_with_a_wrong_key_and_never_prints_it(
    threaded_simulator: Simulators,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threaded_simulator(api_key=TEST_KEY)
    wrong = "sk-wrong-0d9e8f7a6b5c"
    monkeypatch.setenv("MODELLIX_API_KEY", wrong)
    code, output = doctor(capsys)
    assert code == 1, output
    assert wrong not in output and TEST_KEY not in output and "0d9e8f" not in output
    assert "ok    reachable" in output
    assert "FAIL  key valid   the service refused the key (401)" in output
    assert "skip" not in output.split("key valid")[0]


def test_doctor_without_a_key_says_what_to_set(
    threaded_simulator: Simulators,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threaded_simulator()
    monkeypatch.delenv("MODELLIX_API_KEY")
    code, output = doctor(capsys)
    assert code == 1
    assert "FAIL  API key     not found: set MODELLIX_API_KEY" in output
    assert "skip  key valid" in output and "skip  balance" in output


def test_doctor_reports_an_exhausted_balance(
    threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    threaded_simulator(balance=0)
    code, output = doctor(capsys)
    assert code == 1
    assert "FAIL  balance     0: paid edits will be refused (402)" in output


def test_doctor_prints_a_large_balance_as_money_not_in_exponent_form(
    threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]
) -> None:
    threaded_simulator()  # no --balance: the simulator answers 1,000,000,000
    code, output = doctor(capsys)
    assert code == 0, output
    assert "ok    balance     1,000,000,000\n" in output and "e+" not in output


@pytest.mark.parametrize(
    ("balance", "shown"),
    [(25.0, "25"), (1250.0, "1,250"), (1234.5, "1,234.5"), (0.07, "0.07"), (1e-7, "0.0000001")],
)
def test_a_balance_keeps_its_digits(balance: float, shown: str) -> None:
    assert balance_text(balance) == shown


def test_doctor_says_when_the_origin_does_not_answer(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELLIX_API_KEY", TEST_KEY)
    monkeypatch.setenv("MODELLIX_BASE_URL", "http://127.0.0.1:9")  # discard: nothing listens
    code, output = doctor(capsys)
    assert code == 1 and TEST_KEY not in output
    assert "FAIL  reachable   http://127.0.0.1:9: cannot connect to the API" in output
    assert "skip  key valid" in output


def test_doctor_refuses_plain_http_to_a_remote_origin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELLIX_API_KEY", TEST_KEY)
    monkeypatch.setenv("MODELLIX_BASE_URL", "http://api.example.com")
    code, output = doctor(capsys)
    assert code == 2 and "FAIL  API origin" in output and "use https" in output
