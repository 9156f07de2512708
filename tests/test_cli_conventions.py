"""CLI conventions: global options before or after the command, --json on
validate/status/doctor/plan with one error shape, help with defaults, the
environment and the exit codes, a bare `batchedit`, one-line errors, a busy
port, shell completion, and the key from a file or the official CLI's
profile (never from argv)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from support import TEST_KEY, ThreadedSimulator, two_image_manifest

from batchedit.api.credentials import find_api_key
from batchedit.cli import main
from batchedit.errors import UsageError

Simulators = Callable[..., ThreadedSimulator]
FAST = ["--poll-interval", "0.01", "--no-progress"]


def test_bare_batchedit_prints_the_command_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    out = capsys.readouterr().out
    for command in ("run", "retry", "validate", "plan", "status", "report", "doctor", "simulate"):
        assert f"\n    {command} " in out
    assert "completion" in out


@pytest.mark.parametrize("command", ["run", "plan", "doctor", "simulate"])
def test_help_shows_defaults_environment_and_exit_codes(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "MODELLIX_API_KEY" in text and "MODELLIX_PROFILE" in text
    assert "exit codes:" in text and "130" in text
    assert "(default: " in text and "(default: None)" not in text


def options_without_help(text: str) -> list[str]:
    """The options of a --help page listed with no words after them: argparse puts
    an option's help on its own line, or on the next one, indented."""
    lines = text.splitlines()
    missing = []
    for number, line in enumerate(lines):
        option = re.match(r"^  (-\S.*?)(?:\s{2,}(\S.*))?$", line)
        if option is None or option.group(2):
            continue
        following = lines[number + 1] if number + 1 < len(lines) else ""
        if not re.match(r"^ {20,}\S", following):
            missing.append(option.group(1).strip())
    return missing


@pytest.mark.parametrize(
    "command",
    [
        ["simulate"],
        ["run"],
        ["retry"],
        ["validate"],
        ["plan"],
        ["status"],
        ["report"],
        ["report", "merge"],
        ["doctor"],
        ["models"],
        ["review"],
        ["decisions"],
        ["export"],
        ["uploads", "purge"],
    ],
)
def test_every_option_has_help_text(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    text = capsys.readouterr().out
    assert "  --" in text
    assert options_without_help(text) == [], f"{' '.join(command)} --help"


def test_the_help_check_sees_a_bare_option() -> None:
    page = (
        "options:\n  --latency S[-S]\n  --seed N              replay\n  --long-one X\n"
        + (" " * 24)
        + "its words\n"
    )
    assert options_without_help(page) == ["--latency S[-S]"]


def test_a_usage_error_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run"])
    assert exited.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert main(["status", "/nonexistent/run"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_global_options_before_or_after_the_command(
    tmp_path: Path,
    threaded_simulator: Simulators,
    capsys: pytest.CaptureFixture[str],
) -> None:
    threaded_simulator()
    manifest, run_dir = two_image_manifest(tmp_path, rows=2), tmp_path / "run"
    assert main(["run", str(manifest), "--out", str(run_dir), *FAST, "-v"]) == 0
    capsys.readouterr()
    assert main(["--json", "status", str(run_dir)]) == 0
    before = json.loads(capsys.readouterr().out)
    assert main(["status", str(run_dir), "--json"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert before == after and after["statuses"] == {"succeeded": 2} and after["ok"] is True


def test_json_errors_have_one_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["validate", str(tmp_path / "absent.csv"), "--json"],
        ["--json", "status", str(tmp_path)],
        ["plan", str(tmp_path / "absent.csv"), "--json"],
    ):
        assert main(argv) == 2
        document = json.loads(capsys.readouterr().out)
        assert document["ok"] is False
        assert document["error"]["exit_code"] == 2 and document["error"]["message"]
    assert main(["run", "x.csv", "--json"]) == 2  # run has no JSON output: said, not ignored
    assert "--json is for" in json.loads(capsys.readouterr().out)["error"]["message"]


def test_validate_with_json_logs_closes_with_a_validated_event(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "catalog.csv"
    manifest.write_text("id,prompt,image\na,,a.png\nb,on white,b.png\n", encoding="utf-8")
    assert main(["validate", str(manifest), "--log-format", "json"]) == 2
    err = capsys.readouterr().err
    events = [json.loads(line) for line in err.splitlines()]  # every stderr line parses
    (closing,) = [event for event in events if event["event"] == "validated"]
    assert (closing["rows"], closing["invalid"], closing["valid"]) == (2, 2, 0)
    assert closing["problems"] == 3 and closing["source"] == str(manifest)
    assert closing["message"].startswith(f"{manifest}: 2 rows, 2 invalid, 0 valid")


def test_json_into_a_closed_pipe_prints_no_traceback(tmp_path: Path) -> None:
    """`batchedit plan ... --json | head -c 100`: the reader goes, the command ends
    quietly with its own exit code (it printed a BrokenPipeError traceback)."""
    manifest = two_image_manifest(tmp_path, rows=2)
    script = (
        f"import sys; sys.argv = ['batchedit', 'validate', {str(manifest)!r}, '--json']; "
        "from batchedit.cli import main; sys.exit(main())"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as reader:
        assert reader.stdout is not None and reader.stderr is not None
        reader.stdout.close()  # gone before a byte is read
        err = reader.stderr.read().decode()
        assert reader.wait() == 0, err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_doctor_json(threaded_simulator: Simulators, capsys: pytest.CaptureFixture[str]) -> None:
    threaded_simulator(api_key=TEST_KEY, balance=3)
    assert main(["doctor", "--json", "--timeout", "5"]) == 0
    text = capsys.readouterr().out
    document = json.loads(text)
    assert document["ok"] is True and TEST_KEY not in text
    assert [check["name"] for check in document["checks"]] == [
        "API key",
        "API origin",
        "reachable",
        "key valid",
        "balance",
    ]


def test_simulate_on_a_busy_port_says_so_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["simulate", "--port", str(port)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert f"127.0.0.1:{port}" in line and "--port" in line


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_name_the_commands(
    shell: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    assert "batchedit" in script and "validate" in script and "--max-tasks" in script


def write_profile(home: Path, data: object) -> None:
    path = home / "modellix" / "config.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def test_the_key_comes_from_the_file_then_the_environment_then_the_profile(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config"
    write_profile(
        config,
        {
            "currentProfile": "work",
            "profiles": {"work": {"apiKey": "key-work-1"}, "me": {"apiKey": "key-me-22"}},
        },
    )
    env = {"XDG_CONFIG_HOME": str(config)}
    found = find_api_key(env)
    assert found is not None and found.key == "key-work-1" and "profile work" in found.source
    found = find_api_key({**env, "MODELLIX_PROFILE": "me"})
    assert found is not None and found.key == "key-me-22"
    found = find_api_key({**env, "MODELLIX_API_KEY": "key-env-3"})
    assert found is not None and found.key == "key-env-3"
    key_file = tmp_path / "key"
    key_file.write_text("key-file-4\n", encoding="utf-8")
    found = find_api_key({**env, "MODELLIX_API_KEY": "key-env-3"}, key_file=key_file)
    assert found is not None and found.key == "key-file-4" and "key-file-4" not in repr(found)
    with pytest.raises(UsageError, match="MODELLIX_PROFILE=nobody"):
        find_api_key({**env, "MODELLIX_PROFILE": "nobody"})
    assert find_api_key({"XDG_CONFIG_HOME": str(tmp_path / "none")}) is None


def test_the_older_single_key_profile_shape_is_read(tmp_path: Path) -> None:
    write_profile(tmp_path, {"apiKey": "key-legacy-5"})
    found = find_api_key({"XDG_CONFIG_HOME": str(tmp_path)})
    assert found is not None and found.key == "key-legacy-5"


def test_a_run_takes_its_key_from_the_official_cli_profile(
    tmp_path: Path,
    threaded_simulator: Simulators,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    simulator = threaded_simulator(api_key="key-profile-6")
    monkeypatch.delenv("MODELLIX_API_KEY")
    write_profile(
        tmp_path / "config",
        {"currentProfile": "default", "profiles": {"default": {"apiKey": "key-profile-6"}}},
    )
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    manifest = two_image_manifest(tmp_path, rows=2)
    assert main(["run", str(manifest), "--out", str(tmp_path / "run"), *FAST]) == 0
    assert simulator.stats()["submits"] == 2
    assert main(["doctor", "--timeout", "5"]) == 0
    assert "config.json (profile default)" in capsys.readouterr().out


def test_a_run_takes_its_key_from_a_file_and_a_missing_key_makes_nothing(
    tmp_path: Path, threaded_simulator: Simulators, monkeypatch: pytest.MonkeyPatch
) -> None:
    simulator = threaded_simulator(api_key="k-secret")
    monkeypatch.delenv("MODELLIX_API_KEY")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-config"))
    manifest = two_image_manifest(tmp_path, rows=2)
    assert main(["run", str(manifest), "--out", str(tmp_path / "none"), *FAST]) == 2
    assert not (tmp_path / "none").exists()
    key_file = tmp_path / "key"
    key_file.write_text("k-secret\n", encoding="utf-8")
    argv = ["run", str(manifest), "--out", str(tmp_path / "run"), *FAST]
    assert main([*argv, "--api-key-file", str(key_file)]) == 0
    assert simulator.stats()["submits"] == 2


def test_validate_counts_one_row_in_the_singular(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "catalog.csv"
    manifest.write_text("id,prompt,image\na,,a.png\n", encoding="utf-8")
    assert main(["validate", str(manifest), "--log-format", "json"]) == 2
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    (closing,) = [event for event in events if event["event"] == "validated"]
    assert closing["message"].startswith(f"{manifest}: 1 row, 1 invalid, 0 valid")
