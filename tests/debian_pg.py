"""A throw-away Debian PostgreSQL server (15 by default) for the second test target.

Installed with apt when missing (CI runs as root on a fresh machine), initialised in a
temporary folder, run as the `postgres` system user when we are root (PostgreSQL refuses
to run as root), listening on a Unix socket only, stopped and removed at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

DEFAULT_VERSION = os.environ.get("BINDU_TEST_DEBIAN_PG", "15")


def _bin_dir(version: str) -> Path:
    return Path(f"/usr/lib/postgresql/{version}/bin")


def install(version: str) -> None:
    if (_bin_dir(version) / "postgres").exists():
        return
    if os.geteuid() != 0:
        raise RuntimeError(
            f"PostgreSQL {version} is not installed and we are not root: "
            f"run `sudo apt-get install -y postgresql-{version}`"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", f"postgresql-{version}"],
        check=True,
        env=env,
        capture_output=True,
    )


def _as_owner(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@dataclass
class DebianServer:
    version: str
    root: Path

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@/postgres?host={self.root}"

    def start(self) -> None:
        install(self.version)
        self.root.mkdir(mode=0o700)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        data = self.root / "data"
        b = _bin_dir(self.version)
        subprocess.run(
            _as_owner(
                [str(b / "initdb"), "-A", "trust", "-U", "postgres", "-E", "UTF8", "-D", str(data)]
            ),
            check=True,
            capture_output=True,
        )
        subprocess.run(
            _as_owner(
                [
                    str(b / "pg_ctl"),
                    "-D",
                    str(data),
                    "-w",
                    "-l",
                    str(self.root / "log"),
                    "-o",
                    f"-k {self.root} -c listen_addresses='' -c fsync=off",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        b = _bin_dir(self.version)
        subprocess.run(
            _as_owner(
                [str(b / "pg_ctl"), "-D", str(self.root / "data"), "-w", "-m", "fast", "stop"]
            ),
            capture_output=True,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def new_server(version: str = DEFAULT_VERSION) -> DebianServer:
    return DebianServer(version, Path("/tmp") / f"bindu-pg{version}-{uuid.uuid4().hex[:8]}")
