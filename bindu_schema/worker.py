"""The warm worker: imports the planning tools once, then forks a child per command.

Started by launcher.start_worker as `python -m bindu_schema.worker KEY`. It listens on
<socket dir>/KEY.sock (a folder only this user can reach; a peer of another uid is
refused), holds <KEY>.lock so that one worker serves a key, and exits after
BINDU_SCHEMA_WORKER_IDLE seconds (900) without a command, or when its socket file is
gone or replaced. It opens no database connection and starts no thread before forking:
each child starts from imported modules only, and runs exactly what `bindu-schema`
would run in a process of its own (launcher.py sends what the child needs).
"""

from __future__ import annotations

import errno
import fcntl
import gc
import io
import json
import os
import select
import signal
import socket
import struct
import sys
import time
from typing import Any

from . import launcher

_PEERCRED = struct.Struct("3i")
_WAKE_EVERY = 10.0  # seconds between checks that the socket file is still ours
_KILL_AFTER = 10.0  # seconds from SIGTERM to SIGKILL for a command whose client is gone


def _preload() -> None:
    """What a command imports, once (each import is a module-level cost a child skips)."""
    import warnings

    from . import cli, differ, loader, plan, statements  # noqa: F401

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        differ._import_schemainspect()
    import jsonschema  # noqa: F401
    import psycopg2.extras  # noqa: F401

    loader._validator_class()


def _idle_limit() -> float:
    try:
        return max(1.0, float(os.environ.get(launcher.IDLE_ENV, "900")))
    except ValueError:
        return 900.0


def serve(key: str) -> int:
    if key != launcher.code_key(worker=True):  # started by other code than is on disk now
        return 1
    folder = launcher.private_dir(create=True)
    if folder is None:
        return 1
    path = launcher.socket_path(key)
    lock = open(path + ".lock", "a")  # noqa: SIM115 (held for the worker's life)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0  # another worker serves this key
    _preload()
    try:
        os.unlink(path)  # a socket left by a worker that died
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o077)
    try:
        listener.bind(path)
    finally:
        os.umask(old_umask)
    listener.listen(64)
    inode = os.stat(path).st_ino
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes select through the pipe
    gc.collect()
    gc.freeze()  # what the children share stays out of their collections
    waiting: dict[int, socket.socket | None] = {}  # child pid -> its client (None: gone)
    orphans: dict[int, float] = {}  # child pid -> when it got SIGTERM (its client gone)
    limit = _idle_limit()
    last = time.monotonic()
    try:
        while True:
            _reap(waiting)
            _kill_late(orphans, waiting)
            if waiting:
                last = time.monotonic()
            idle = time.monotonic() - last
            if idle >= limit and not waiting:
                return 0
            readers: list[Any] = [listener, wake_r, *filter(None, waiting.values())]
            try:
                ready, _, _ = select.select(
                    readers,
                    [],
                    [],
                    min(_WAKE_EVERY, limit - idle, _KILL_AFTER if orphans else _WAKE_EVERY),
                )
            except InterruptedError:
                continue
            _hang_up(waiting, ready, orphans)
            if wake_r in ready:
                try:
                    os.read(wake_r, 4096)
                except BlockingIOError:
                    pass
            if listener in ready:
                last = time.monotonic()
                _accept(listener, waiting, [lock.fileno(), wake_r, wake_w])
            if not _still_ours(path, inode) and not waiting:
                return 0
    finally:
        listener.close()
        if _still_ours(path, inode):
            os.unlink(path)


def _hang_up(
    waiting: dict[int, socket.socket | None], ready: list[Any], orphans: dict[int, float]
) -> None:
    """A client that went away (killed, its terminal closed) while its child runs: SIGTERM
    to the child's process group, as if the command had been run and signalled there
    (the command drops its scratch databases on SIGTERM); SIGKILL _KILL_AFTER seconds
    later if it is still there (a command blocked in C, connecting say, runs no Python
    signal handler until the call returns). Its status goes nowhere."""
    for pid, conn in list(waiting.items()):
        if conn is not None and conn in ready:
            conn.close()
            waiting[pid] = None
            orphans[pid] = time.monotonic()
            try:
                os.killpg(pid, signal.SIGTERM)
            except OSError:
                pass


def _kill_late(orphans: dict[int, float], waiting: dict[int, socket.socket | None]) -> None:
    for pid, since in list(orphans.items()):
        if pid not in waiting:  # reaped
            del orphans[pid]
        elif time.monotonic() - since >= _KILL_AFTER:
            del orphans[pid]
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass


def _still_ours(path: str, inode: int) -> bool:
    try:
        return os.stat(path).st_ino == inode
    except OSError:
        return False


def _reap(waiting: dict[int, socket.socket | None]) -> None:
    """Send each finished child's status to its client: its exit code, or 128 + the
    signal that killed it (as a shell reports it)."""
    while waiting:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid not in waiting:
            continue
        conn = waiting.pop(pid)
        if conn is None:
            continue
        code = os.waitstatus_to_exitcode(status)
        try:
            conn.sendall(launcher._STATUS.pack(128 - code if code < 0 else code))
        except OSError:
            pass
        conn.close()


def _accept(
    listener: socket.socket, waiting: dict[int, socket.socket | None], own: list[int]
) -> None:
    """`own`: the worker's descriptors, which no child keeps (a child holding the lock
    would keep the next worker from starting)."""
    try:
        conn, _ = listener.accept()
    except OSError:
        return
    try:
        uid = _PEERCRED.unpack(
            conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
        )[1]
        if uid != os.getuid():
            conn.close()
            return
        conn.settimeout(5)
        req, fds = _read_request(conn)
    except (OSError, ValueError):
        conn.close()
        return
    if req is None:
        for fd in fds:
            os.close(fd)
        conn.close()
        return
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            signal.set_wakeup_fd(-1)  # before its pipe is closed
            listener.close()
            for other in waiting.values():
                if other is not None:
                    other.close()
            for fd in own:
                os.close(fd)
            _child(conn, req, fds)
        finally:
            os._exit(70)
    try:
        os.setpgid(pid, pid)  # as the child does: whichever runs first, a forwarded
    except OSError:  # interrupt finds the group
        pass
    for fd in fds:
        os.close(fd)
    try:
        conn.settimeout(None)
        conn.sendall(launcher._STATUS.pack(pid))
    except OSError:
        pass
    waiting[pid] = conn


def _read_request(conn: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    """The request and the client's three standard descriptors; None for anything else."""
    msg, fds, _, _ = socket.recv_fds(conn, 65536, 3)
    if len(fds) != 3 or len(msg) < 4:
        return None, fds
    (n,) = launcher._HEADER.unpack(msg[:4])
    if n > launcher.MAX_REQUEST:
        return None, fds
    body = msg[4:]
    while len(body) < n:
        chunk = conn.recv(min(65536, n - len(body)))
        if not chunk:
            return None, fds
        body += chunk
    req = json.loads(body[:n])
    if not (
        isinstance(req, dict)
        and isinstance(req.get("argv"), list)
        and all(isinstance(a, str) for a in req["argv"])
        and isinstance(req.get("cwd"), str)
        and isinstance(req.get("env"), dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in req["env"].items())
        and isinstance(req.get("umask"), int)
    ):
        return None, fds
    return req, fds


def _stream(fd: int, mode: str, enc: Any, errors: Any, write_through: bool) -> io.TextIOWrapper:
    raw = io.FileIO(fd, mode, closefd=False)
    tty = raw.isatty()
    buffered: Any = io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
    return io.TextIOWrapper(
        buffered,
        encoding=enc if isinstance(enc, str) else "utf-8",
        errors=errors if isinstance(errors, str) else "strict",
        line_buffering=tty and mode == "w",
        write_through=write_through,
    )


def _child(conn: socket.socket, req: dict[str, Any], fds: list[int]) -> None:
    """Become the command: the client's streams, folder, environment and umask, default
    signal handling, its own process group (the client forwards interrupts to it)."""
    conn.close()  # the worker reports the status; the client sees EOF only if both go
    os.setpgid(0, 0)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.set_wakeup_fd(-1)
    gc.unfreeze()
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    streams = req.get("streams") or [[None, None]] * 3
    sys.stdin = _stream(0, "r", streams[0][0], streams[0][1], False)
    sys.stdout = _stream(1, "w", streams[1][0], streams[1][1], False)
    sys.stderr = _stream(2, "w", streams[2][0], streams[2][1], True)
    os.environ.clear()
    os.environ.update(req["env"])
    time.tzset()  # the client's TZ: revision file names carry the local date
    os.umask(req["umask"])
    code = 1
    try:
        os.chdir(req["cwd"])
        sys.argv = ["bindu-schema", *req["argv"]]
        from . import cli, collector

        collector.pause_for_command()
        code = cli.run(req["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except OSError as exc:
        sys.stderr.write(f"error: {exc}\n")
    except KeyboardInterrupt:
        code = 130
    finally:
        import atexit

        atexit._run_exitfuncs()
        _write_rusage()
        for s in (sys.stdout, sys.stderr):
            try:
                s.flush()
            except OSError:
                pass
        os._exit(code)


def _write_rusage() -> None:
    """For bench/: this child's peak RSS, which the client's own rusage cannot show."""
    target = os.environ.get(launcher.RUSAGE_ENV)
    if not target:
        return
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        with open(target, "w") as f:
            f.write(str(peak))
    except OSError:
        pass


def main() -> int:
    if len(sys.argv) != 2:
        sys.stderr.write("usage: python -m bindu_schema.worker KEY (started by bindu-schema)\n")
        return 1
    try:
        return serve(sys.argv[1])
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.ENAMETOOLONG):
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
