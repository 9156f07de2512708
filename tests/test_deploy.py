"""The deployment files in the repository are real: the Dockerfile's shape,
the systemd units as `systemd-analyze verify` reads them, the cron line and
the Kubernetes Indexed Job, each command parsed by batchedit's own parser."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from batchedit.cli.main import build_parser

ROOT = Path(__file__).resolve().parent.parent
CONTRIB = ROOT / "contrib"
SERVICE = CONTRIB / "systemd" / "batchedit-nightly.service"
TIMER = CONTRIB / "systemd" / "batchedit-nightly.timer"
CRON = CONTRIB / "cron" / "batchedit-nightly"
INDEXED_JOB = CONTRIB / "k8s" / "indexed-job.yaml"


def parses_as_batchedit(argv: list[str]) -> None:
    """The arguments after `batchedit`, as the installed console script reads them."""
    build_parser().parse_args(argv)  # SystemExit(2) on anything it does not take


def assert_unattended(argv: list[str]) -> None:
    """A night nobody watches: a deadline, and a metrics file to alert on."""
    args = build_parser().parse_args(argv[argv.index("run") :])
    assert args.deadline and args.metrics_file, "a deadline and a metrics file"
    assert args.no_progress and "json" in argv


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    pairs = [line.split(None, 1) for line in lines if line and not line.startswith("#")]
    return [(pair[0].upper(), pair[1] if len(pair) > 1 else "") for pair in pairs]


def test_the_dockerfile_is_slim_non_root_and_runs_the_console_script() -> None:
    instructions = dockerfile_instructions()
    stages = [arg for op, arg in instructions if op == "FROM"]
    assert stages and all("slim" in stage.split()[0] for stage in stages)
    final = instructions[max(i for i, (op, _) in enumerate(instructions) if op == "FROM") :]
    users = [arg for op, arg in final if op == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    entrypoint = [json.loads(arg) for op, arg in final if op == "ENTRYPOINT"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"
    ]
    assert entrypoint == [["batchedit"]] and "batchedit" in scripts  # exec form, the script
    for op, arg in instructions:
        if op == "COPY" and not arg.startswith("--from"):
            for source in arg.split()[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    assert [json.loads(arg) for op, arg in final if op == "CMD"] == [["--help"]]


def _unit_values(path: Path, key: str) -> list[str]:
    prefix = f"{key}="
    return [
        line[len(prefix) :]
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith(prefix)
    ]


def test_no_unit_value_carries_an_inline_comment() -> None:
    """systemd reads `KEY=value # note` as part of the value (a path, a command)."""
    for unit in (SERVICE, TIMER):
        for line in unit.read_text(encoding="utf-8").splitlines():
            if "=" in line and not line.lstrip().startswith(("#", ";")):
                assert " #" not in line and " ;" not in line, f"{unit.name}: {line}"


def test_the_service_runs_a_command_batchedit_accepts() -> None:
    (command,) = _unit_values(SERVICE, "ExecStart")
    argv = shlex.split(command)
    assert argv[0].endswith("/batchedit") and argv[0].startswith("/")
    assert "--api-key-file" in argv and "--max-tasks" in argv
    assert_unattended(argv)
    parses_as_batchedit(argv[1:])
    assert _unit_values(SERVICE, "Type") == ["oneshot"]
    assert _unit_values(SERVICE, "SuccessExitStatus") == ["1"]
    assert _unit_values(TIMER, "Unit") == [SERVICE.name]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd is not installed")
def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    """As shipped, with ExecStart pointed at this checkout's batchedit (verify
    checks that the program exists)."""
    program = ROOT / ".venv" / "bin" / "batchedit"
    if not program.exists():
        pytest.skip("batchedit is not installed in .venv (make test builds it)")
    service = SERVICE.read_text(encoding="utf-8").replace("/usr/local/bin/batchedit", str(program))
    (tmp_path / SERVICE.name).write_text(service, encoding="utf-8")
    shutil.copy(TIMER, tmp_path / TIMER.name)
    result = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / SERVICE.name), str(tmp_path / TIMER.name)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    ours = [line for line in (result.stdout + result.stderr).splitlines() if str(tmp_path) in line]
    assert result.returncode == 0 and ours == [], result.stdout + result.stderr


def test_the_cron_line_names_batchedit_by_its_path_and_parses() -> None:
    entries = [
        line
        for line in CRON.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#") and "=" not in line.split()[0]
    ]
    (entry,) = entries
    fields = entry.split(None, 6)
    minute, hour, dom, month, dow, user, command = fields
    assert minute.isdigit() and hour.isdigit() and (dom, month, dow) == ("*", "*", "*")
    assert user == "batchedit"
    words = shlex.split(command.split(">>")[0])
    program = next(word for word in words if word.endswith("/batchedit"))
    assert program.startswith("/"), "cron's PATH has no virtual environment"
    parses_as_batchedit(words[words.index(program) + 1 :])
    assert_unattended(words)
    assert "flock" in words


def test_the_indexed_job_shards_by_the_completion_index(monkeypatch: pytest.MonkeyPatch) -> None:
    job: dict[str, Any] = yaml.safe_load(INDEXED_JOB.read_text(encoding="utf-8"))
    assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert isinstance(spec["completions"], int) and 1 <= spec["parallelism"] <= spec["completions"]
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] in {"Never", "OnFailure"}
    (container,) = pod["containers"]
    assert "command" not in container, "the image's ENTRYPOINT (batchedit) runs"
    args: list[str] = container["args"]
    assert args[args.index("--shard") + 1] == str(spec["completions"])
    env = {item["name"]: item for item in container["env"]}
    assert "job-completion-index" in json.dumps(env["JOB_COMPLETION_INDEX"])
    assert any("$(JOB_COMPLETION_INDEX)" in arg for arg in args), "one run directory per shard"
    key_file = Path(args[args.index("--api-key-file") + 1])
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    secret_mount = next(n for n, path in mounts.items() if key_file.parent == Path(path))
    assert volumes[secret_mount]["secret"]["items"][0]["path"] == key_file.name
    assert "$(JOB_COMPLETION_INDEX)" in args[args.index("--metrics-file") + 1], "a file per shard"
    assert isinstance(spec["activeDeadlineSeconds"], int)
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "0")
    assert_unattended(args)
    parses_as_batchedit(args)


def test_every_scheduled_run_sets_a_task_deadline() -> None:
    """A nightly run never polls a stuck task for ever: each recipe names the
    deadline (the default, said where an operator will look for it)."""
    (service,) = _unit_values(SERVICE, "ExecStart")
    (cron,) = [line for line in CRON.read_text(encoding="utf-8").splitlines() if " run " in line]
    job: dict[str, Any] = yaml.safe_load(INDEXED_JOB.read_text(encoding="utf-8"))
    (container,) = job["spec"]["template"]["spec"]["containers"]
    for argv in (shlex.split(service), shlex.split(cron.split(">>")[0]), container["args"]):
        deadline = float(argv[argv.index("--task-timeout") + 1])
        assert 0 < deadline <= 3600, argv


def test_there_is_a_license_as_pyproject_says() -> None:
    license_name = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "license"
    ]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert license_name == "MIT" and text.startswith("MIT License")
