"""Virtual environments for the packaging and Bindu tests: the wheel built from this
checkout, a fresh venv outside the repository, and a cached Python 3.12 venv with Bindu
from PyPI (keyed by the Python and Bindu versions, under ~/.cache/bindu-schema)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The Bindu release the integration test drives (BINDU_TEST_VERSION overrides).
BINDU_VERSION = os.environ.get("BINDU_TEST_VERSION", "2026.36.7")
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bindu-schema"


def run(argv: list[str | Path], cwd: Path | None = None, timeout: float = 1200) -> str:
    """Run a command; a failure fails the test with the command and its output."""
    p = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    if p.returncode != 0:
        tail = "\n".join((p.stdout + p.stderr).strip().splitlines()[-30:])
        pytest.fail(f"{' '.join(map(str, argv))} exited {p.returncode}:\n{tail}", pytrace=False)
    return p.stdout


def build_wheel(out: Path) -> Path:
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", out, ROOT])
    wheels = sorted(out.glob("bindu_schema-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def python312() -> Path:
    """Bindu needs Python 3.12: BINDU_TEST_PYTHON312, python3.12 on PATH, or pyenv's."""
    explicit = os.environ.get("BINDU_TEST_PYTHON312")
    found = [explicit] if explicit else []
    # pyenv's own interpreters before PATH: a pyenv shim on PATH may refuse to run
    found += sorted(glob.glob(str(Path.home() / ".pyenv/versions/3.12*/bin/python3.12")))
    found += sorted(glob.glob("/root/.pyenv/versions/3.12*/bin/python3.12"))
    found += [p for p in (shutil.which("python3.12"),) if p]
    for candidate in found:
        if candidate and subprocess.run([candidate, "-c", ""], capture_output=True).returncode == 0:
            return Path(candidate)
    pytest.fail(
        "Bindu needs Python 3.12 and none was found (set BINDU_TEST_PYTHON312, put "
        "python3.12 on PATH, or `pyenv install 3.12`)",
        pytrace=False,
    )


def new_venv(where: Path, python: Path | str = sys.executable) -> Path:
    run([python, "-m", "venv", where])
    return where / "bin" / "python"


def pip(py: Path, *args: str | Path) -> str:
    return run([py, "-m", "pip", "--disable-pip-version-check", *args])


def version_of(py: Path, dist: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({dist!r}))"
    return run([py, "-c", code]).strip()


def bindu_venv() -> Path:
    """The cached venv with Bindu installed; created once per (Python, Bindu) version.
    Bindu that cannot be installed fails the test with pip's reason."""
    py312 = python312()
    version = run([py312, "-c", "import platform; print(platform.python_version())"]).strip()
    where = CACHE / f"bindu-{BINDU_VERSION}-py{version}"
    py = where / "bin" / "python"
    if not (where / ".complete").is_file():
        shutil.rmtree(where, ignore_errors=True)
        where.parent.mkdir(parents=True, exist_ok=True)
        new_venv(where, py312)
        pip(py, "install", "--quiet", "--upgrade", "pip")
        p = subprocess.run(
            [py, "-m", "pip", "install", "--quiet", f"bindu=={BINDU_VERSION}"],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if p.returncode != 0:
            tail = "\n".join(p.stderr.strip().splitlines()[-20:])
            pytest.fail(f"cannot install bindu=={BINDU_VERSION} from PyPI:\n{tail}", pytrace=False)
        (where / ".complete").write_text(BINDU_VERSION + "\n")
    return py
