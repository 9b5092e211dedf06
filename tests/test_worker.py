"""The warm worker (launcher.py, worker.py): a served command behaves as one run in a
process of its own (output, exit status, folder, environment, interrupts), and the
worker is trusted only in a private folder and only by the code it was started with."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bindu_schema import launcher

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schema" / "bindu.yaml"


def _env(folder: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "STORAGE__POSTGRES_URL")
    }
    env.pop(launcher.RUSAGE_ENV, None)
    env.update({launcher.DIR_ENV: str(folder), launcher.IDLE_ENV: "60", **extra})
    return env


def _run(env: dict[str, str], *argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bindu_schema", *argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _sockets(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.sock"))


@pytest.fixture
def folder(pg_home: Path) -> Iterator[Path]:
    """A socket folder of this test's own (so the worker in it is this test's), started
    by one command run in its own process."""
    d = Path("/tmp") / f"bwt-{uuid.uuid4().hex[:8]}"
    d.mkdir(mode=0o700)
    # Run from another folder than the worker's ("/"): what names the socket must not
    # depend on the working folder.
    first = _run(_env(d), "render", "--schema", str(SCHEMA), cwd=d)
    assert first.returncode == 0, first.stderr
    deadline = time.monotonic() + 60
    while not _sockets(d) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _sockets(d), "no worker was started after the first command"
    yield d
    shutil.rmtree(d, ignore_errors=True)  # the worker exits within 10 s of this


def _served(folder: Path, tmp_path: Path, *argv: str, cwd: Path = ROOT, **extra: str):  # type: ignore[no-untyped-def]
    """Run through the worker; the child's peak-RSS file proves a worker's child ran it."""
    mark = tmp_path / f"rusage-{uuid.uuid4().hex[:6]}"
    p = _run(_env(folder, **{launcher.RUSAGE_ENV: str(mark)}, **extra), *argv, cwd=cwd)
    assert mark.exists(), f"not run by the worker: {p.stderr}"
    return p


def test_render_through_the_worker_equals_a_process_of_its_own(
    folder: Path, tmp_path: Path
) -> None:
    alone = _run(_env(folder, BINDU_SCHEMA_WORKER="0"), "render", "--schema", str(SCHEMA))
    served = _served(folder, tmp_path, "render", "--schema", str(SCHEMA))
    assert alone.returncode == served.returncode == 0
    assert served.stdout == alone.stdout
    assert "CREATE TABLE" in served.stdout.upper()


def test_exit_status_stderr_and_working_folder_pass_through(folder: Path, tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(SCHEMA.read_text())
    ok = _served(folder, tmp_path, "render", "--schema", "mine.yaml", cwd=tmp_path)
    assert ok.returncode == 0 and ok.stdout
    bad = _served(folder, tmp_path, "render", "--schema", "missing.yaml", cwd=tmp_path)
    assert bad.returncode == 1
    assert "missing.yaml" in bad.stderr and "Traceback" not in bad.stderr


def test_environment_is_the_clients(folder: Path, tmp_path: Path, make_db) -> None:  # type: ignore[no-untyped-def]
    db = make_db()
    # No --database-url: plan takes DATABASE_URL from this command's environment, which
    # the worker's own environment never held (launcher.start_worker leaves URLs out).
    p = _served(folder, tmp_path, "plan", "--schema", str(SCHEMA), DATABASE_URL=db.sqlalchemy)
    assert p.returncode == 2, p.stderr
    assert db.database in p.stdout


def _silent_server() -> tuple[socket.socket, str]:
    """A TCP server that accepts and never answers, and a database URL for it that waits
    `connect_timeout` seconds (3) for an answer."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    silent.settimeout(60)
    return silent, f"postgresql://u@127.0.0.1:{silent.getsockname()[1]}/db"


def _inspect(url: str) -> list[str]:
    return [sys.executable, "-m", "bindu_schema", "inspect", "--database-url", url]


def _interrupted(env: dict[str, str]) -> tuple[int, str]:
    """inspect against the silent server, SIGINT once connecting."""
    silent, url = _silent_server()
    proc = subprocess.Popen(
        _inspect(f"{url}?connect_timeout=3"),
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        conn, _ = silent.accept()  # the command is connecting now
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        conn.close()
    finally:
        silent.close()
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err


def test_sigint_reaches_the_command(folder: Path, tmp_path: Path) -> None:
    """An interrupt of the client reaches the command (it runs in another process group)
    and ends it as it ends a command in a process of its own: without forwarding, the
    served command would fail on the connect timeout instead."""
    mark = tmp_path / "rusage"
    served = _interrupted(_env(folder, **{launcher.RUSAGE_ENV: str(mark)}))
    assert mark.exists(), "not run by the worker"
    alone = _interrupted(_env(folder, BINDU_SCHEMA_WORKER="0"))
    assert served == alone
    assert served[0] != 0 and "abort" in served[1]


def test_client_killed_ends_the_command(folder: Path, tmp_path: Path) -> None:
    """SIGKILL of the client (nothing forwarded): the worker sees it go and ends the
    command (SIGTERM, then SIGKILL: it is blocked in libpq's connect, which waits an hour
    here), so its connection closes."""
    silent, url = _silent_server()
    proc = subprocess.Popen(
        _inspect(f"{url}?connect_timeout=3600"),
        env=_env(folder),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    closed = False
    try:
        conn, _ = silent.accept()
        proc.kill()
        proc.wait(timeout=30)
        conn.settimeout(120)
        while not closed:  # its startup packet, then b"" once the command is gone
            closed = conn.recv(1 << 16) == b""
        conn.close()
    finally:
        silent.close()
    assert closed, "the command kept its connection after its client was killed"


def test_a_refused_request_runs_nothing_and_the_worker_stays(folder: Path, tmp_path: Path) -> None:
    (path,) = _sockets(folder)
    c = socket.socket(socket.AF_UNIX)
    c.connect(str(path))
    c.sendall(b"\x00\x00\x00\x05hello")  # no descriptors, not a request
    c.settimeout(30)
    assert c.recv(4) == b""  # closed without a child's pid
    c.close()
    p = _served(folder, tmp_path, "render", "--schema", str(SCHEMA))
    assert p.returncode == 0


def test_commands_that_change_databases_never_go_to_the_worker(
    folder: Path, tmp_path: Path
) -> None:
    mark = tmp_path / "rusage"
    for argv in (["apply", "--help"], ["tenants", "--help"], ["server", "--help"]):
        p = _run(_env(folder, **{launcher.RUSAGE_ENV: str(mark)}), *argv)
        assert p.returncode == 0, p.stderr
        assert not mark.exists(), argv
    p = _run(_env(folder, **{launcher.RUSAGE_ENV: str(mark)}), "render", "--help")
    assert p.returncode == 0 and mark.exists()


def test_a_folder_others_can_reach_is_never_used(tmp_path: Path, pg_home: Path) -> None:
    d = Path("/tmp") / f"bwo-{uuid.uuid4().hex[:8]}"
    d.mkdir()
    os.chmod(d, 0o755)
    try:
        mark = tmp_path / "rusage"
        for _ in range(2):
            p = _run(_env(d, **{launcher.RUSAGE_ENV: str(mark)}), "render", "--schema", str(SCHEMA))
            assert p.returncode == 0
        time.sleep(1)
        assert not _sockets(d) and not mark.exists()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_switched_off_runs_in_its_own_process(folder: Path, tmp_path: Path) -> None:
    mark = tmp_path / "rusage"
    env = _env(folder, BINDU_SCHEMA_WORKER="0", **{launcher.RUSAGE_ENV: str(mark)})
    p = _run(env, "render", "--schema", str(SCHEMA))
    assert p.returncode == 0 and not mark.exists()


def test_code_key_follows_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "kinds").mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "kinds" / "b.py").write_text("y = 1\n")
    monkeypatch.setattr(launcher, "PACKAGE", str(pkg))
    first = launcher.code_key()
    assert launcher.code_key() == first
    (pkg / "kinds" / "b.py").write_text("y = 22\n")  # another size
    second = launcher.code_key()
    assert second != first
    st = (pkg / "a.py").stat()
    os.utime(pkg / "a.py", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert launcher.code_key() != second
    monkeypatch.setattr(sys, "path", [*sys.path, str(tmp_path / "elsewhere")])
    assert launcher.code_key() != second
