"""A warm `batchedit` for a test that runs many documented commands.

Each `batchedit` process spends about 0.6 s of CPU importing the package
before it does anything, most of a doc block's cost. Here one server process
imports `batchedit.cli` once and forks a child per command; the `batchedit`
put first on PATH is a small client (Python without site-packages, 20 ms)
that hands the child its standard streams, argv, working folder and
environment, and exits with the child's exit code. The child runs the same
`batchedit.cli.main(argv)` the console script runs, in a fresh process: its
own streams, folder, environment, logging set-up and signal handlers.

    with WarmCli(tmp_path) as bin_folder:
        env["PATH"] = f"{bin_folder}:{env['PATH']}"
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

HEADER_BYTES = 8  # the payload's length, with the three descriptors beside it

CLIENT = """#!{python} -S
import json, os, socket, sys
connection = socket.socket(socket.AF_UNIX)
connection.connect({socket_path!r})
payload = json.dumps(
    {{"argv": sys.argv[1:], "cwd": os.getcwd(), "env": dict(os.environ)}}
).encode()
socket.send_fds(connection, [len(payload).to_bytes({header}, "big")], [0, 1, 2])
connection.sendall(payload)
code = connection.recv(4)
sys.exit(int.from_bytes(code, "big", signed=True) if len(code) == 4 else 70)
"""


class WarmCli:
    """The server, and a folder holding the `batchedit` client for PATH."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.socket_path = folder / "batchedit.sock"
        self.bin = folder / "bin"
        self.server: subprocess.Popen[str] | None = None

    def __enter__(self) -> Path:
        self.bin.mkdir(parents=True)
        client = self.bin / "batchedit"
        client.write_text(
            CLIENT.format(
                python=sys.executable, socket_path=str(self.socket_path), header=HEADER_BYTES
            ),
            encoding="utf-8",
        )
        client.chmod(0o755)
        self.server = subprocess.Popen(
            [sys.executable, __file__, str(self.socket_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        )
        assert self.server.stdout is not None
        ready = self.server.stdout.readline()  # blocks until the import is done
        assert ready == "ready\n", f"the warm batchedit did not start: {ready!r}"
        return self.bin

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.server is not None:
            self.server.terminate()
            self.server.communicate()


def serve(socket_path: str) -> None:
    """Import once, then fork a child per connection; children are reaped as
    they end (so their CPU time is counted, as a process's children's is), and
    killed with the server, so a command a test gave up on ends with it."""
    from batchedit.cli import main  # the start-up every command would pay

    children: set[int] = set()

    def reap(signum: int, frame: object) -> None:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            children.discard(pid)

    def stop(signum: int, frame: object) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        os._exit(0)

    signal.signal(signal.SIGCHLD, reap)
    signal.signal(signal.SIGTERM, stop)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(socket_path)
    listener.listen(16)
    print("ready", flush=True)
    while True:
        connection, _ = listener.accept()
        # Held until the child is in the set, so a quick child is not reaped first.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
        pid = os.fork()
        if pid == 0:
            listener.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
            os._exit(_run_one(connection, main))
        children.add(pid)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        connection.close()


def _run_one(connection: socket.socket, main: Callable[[list[str]], int]) -> int:
    """In the child: take the client's streams, folder and environment, run
    `main(argv)` as the console script would, answer the exit code."""
    header, fds, _, _ = socket.recv_fds(connection, HEADER_BYTES, 3)
    size = int.from_bytes(header, "big")
    payload = b""
    while len(payload) < size:
        chunk = connection.recv(size - len(payload))
        if not chunk:
            return 70
        payload += chunk
    request = json.loads(payload)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["batchedit", *request["argv"]]
    try:
        code: object = main(request["argv"])
    except SystemExit as exit_:
        code = exit_.code
        if isinstance(code, str):
            print(code, file=sys.stderr)
            code = 1
    except BaseException:  # noqa: BLE001 (what the interpreter would print, then exit 1)
        traceback.print_exc()
        code = 1
    code = 0 if code is None else int(code)  # type: ignore[call-overload]
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a reader gone: as at exit
            stream.flush()
    connection.sendall(code.to_bytes(4, "big", signed=True))
    return code


if __name__ == "__main__":
    serve(sys.argv[1])
