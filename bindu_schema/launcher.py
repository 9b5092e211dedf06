"""The `bindu-schema` command: run by a warm worker when one is up, else in this process.

Most of a small `plan` is Python importing SQLAlchemy, pglast, jsonschema, schemainspect
and migra (0.3-0.4 s of ~0.8 s on Bindu's schema). A worker (worker.py) imports them once
and forks a child per command; this module, which imports nothing heavy, hands the child
its argv, working directory, environment, umask and standard streams (the descriptors
themselves, over a Unix socket) and exits with its status. When no worker answers, the
command runs here as always and a worker is started after it, for the next command.
BINDU_SCHEMA_WORKER=0 turns all of this off.

The socket's name is a digest of everything the worker's imports depend on (this
package's files, the interpreter, sys.path and the folders on it), so a worker never runs
code older than the files on disk: a changed file means another name, and the old worker
exits when idle.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import struct
import sys

WORKER_ENV = "BINDU_SCHEMA_WORKER"
DIR_ENV = "BINDU_SCHEMA_WORKER_DIR"  # where the sockets live (short: 107 bytes at most)
IDLE_ENV = "BINDU_SCHEMA_WORKER_IDLE"  # seconds a worker waits for a command; 900
RUSAGE_ENV = "BINDU_SCHEMA_WORKER_RUSAGE"  # bench: the child writes its peak RSS (KiB) here
OFF = ("0", "false", "no", "off")
# The edit loop's commands: they change no database but scratch ones. apply, adopt,
# tenants and server always run in a process of their own, the one CI and operators
# signal and kill.
COMMANDS = frozenset({"plan", "render", "revision", "check", "diagram", "inspect"})
_HEADER = struct.Struct("!I")
_STATUS = struct.Struct("!i")
MAX_REQUEST = 1 << 20  # argv + environment; a larger request is refused
PACKAGE = os.path.dirname(os.path.abspath(__file__))


def enabled() -> bool:
    return os.environ.get(WORKER_ENV, "1").strip().lower() not in OFF


def socket_dir() -> str:
    return os.environ.get(DIR_ENV) or f"/tmp/bindu-schema-worker-{os.getuid()}"


def code_key(worker: bool = False) -> str:
    """Digest of what the worker's imports depend on: stat() of this package's files and
    of every folder on sys.path (pip installing or removing a package changes its
    folder), the interpreter and sys.path itself. ~1 ms: no file is read.

    Left out: a client's sys.path[0] (the script's folder, or the working folder under
    -m; the worker runs with -P, without one). The folders are a set with the folder
    holding this package in it (the worker has it first on its PYTHONPATH; a client may
    have it from a .pth file, from -m in a checkout, or as site-packages)."""
    h = hashlib.sha256()
    h.update(f"{sys.executable}\0{sys.version}\0{os.getuid()}\0{PACKAGE}\0".encode())
    folders = {os.path.normpath(e) for e in (sys.path if worker else sys.path[1:]) if e}
    for entry in sorted(folders | {os.path.dirname(PACKAGE)}):
        try:  # a relative entry (an import hook's name) would depend on the folder
            st = os.stat(entry) if os.path.isabs(entry) else None
            h.update(f"{entry}\0{st.st_mtime_ns if st else '-'}\0".encode())
        except OSError:
            h.update(f"{entry}\0-\0".encode())
    stack = [PACKAGE]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as it:
            for e in sorted(it, key=lambda e: e.name):
                if e.is_dir(follow_symlinks=False) and e.name != "__pycache__":
                    stack.append(e.path)
                elif e.name.endswith((".py", ".json")):
                    st = e.stat()
                    h.update(f"{e.path}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.hexdigest()[:24]


def socket_path(key: str) -> str:
    return os.path.join(socket_dir(), f"{key}.sock")


def private_dir(create: bool) -> str | None:
    """The socket folder when it is ours alone (owner us, no access for group or others);
    None otherwise: a worker is never trusted, or started, in a folder others can reach."""
    folder = socket_dir()
    if create:
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
        except OSError:
            return None
    try:
        st = os.lstat(folder)
    except OSError:
        return None
    import stat

    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return folder


def _streams() -> list[list[str | None]]:
    """The encoding and error handler of stdin, stdout and stderr as this interpreter
    chose them (PYTHONIOENCODING, the locale), for the child to open its streams alike."""
    out = []
    for s in (sys.stdin, sys.stdout, sys.stderr):
        out.append([getattr(s, "encoding", None), getattr(s, "errors", None)])
    return out


def request(argv: list[str]) -> bytes:
    umask = os.umask(0)
    os.umask(umask)
    body = json.dumps(
        {
            "argv": argv,
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "umask": umask,
            "streams": _streams(),
        }
    ).encode()
    return _HEADER.pack(len(body)) + body


def _recv_exact(conn: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def run_remote(argv: list[str]) -> int | None:
    """The command's exit status as the worker's child ran it; None when no worker
    answered (nothing was run: the caller runs the command itself)."""
    if private_dir(create=False) is None:
        return None
    path = socket_path(code_key())
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
        body = request(argv)
        if len(body) > MAX_REQUEST:
            conn.close()
            return None
        sent = socket.send_fds(conn, [body], [0, 1, 2])
        conn.sendall(body[sent:])  # a stream socket may take less in one message
        head = _recv_exact(conn, 4)
    except OSError:
        conn.close()
        return None
    if head is None:  # the worker refused or went away before forking: run here
        conn.close()
        return None
    child = int(_STATUS.unpack(head)[0])
    return _wait(conn, child)


def _wait(conn: socket.socket, child: int) -> int:
    """Forward interrupts to the child's process group (it runs outside this terminal's
    foreground group) until its status arrives."""

    def forward(signum: int, frame: object) -> None:
        try:
            os.killpg(child, signum)
        except OSError:
            pass

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, forward)
    while True:
        try:
            tail = _recv_exact(conn, 4)
            break
        except InterruptedError:
            continue
    conn.close()
    if tail is None:
        sys.stderr.write(
            "error: the bindu-schema worker went away before the command finished; run it "
            f"again (or with {WORKER_ENV}=0)\n"
        )
        return 1
    return int(_STATUS.unpack(tail)[0])


def start_worker() -> None:
    """Start a worker for this code in the background (after a command ran here). The
    worker's environment leaves out database URLs and passwords: each command brings its
    own environment."""
    import subprocess

    if private_dir(create=True) is None:
        return
    env = {
        k: v
        for k, v in os.environ.items()
        if not any(s in k.upper() for s in ("URL", "PASSWORD", "SECRET", "TOKEN"))
    }
    # This very package first (a checkout run with -m, too); -P: no working folder on
    # sys.path.
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(PACKAGE), *filter(None, [env.get("PYTHONPATH")])]
    )
    try:
        subprocess.Popen(
            [sys.executable, "-P", "-m", "bindu_schema.worker", code_key()],
            env=env,
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
    except OSError:
        pass  # no worker: the next command runs in its own process, as this one did


def main() -> None:
    argv = sys.argv[1:]
    served = enabled() and bool(argv) and argv[0] in COMMANDS
    if served:
        code = run_remote(argv)
        if code is not None:
            sys.exit(code)
    from . import cli

    if served:
        import atexit

        atexit.register(start_worker)  # after the command: its time is not shared with it
    cli.main()
