"""`make bench-tenants`: tenant fleets (issue 19) against the plain Alembic way, whole-process.

Rows (one run, same machine, so the ratios compare like with like):
- N tenant schemas already at head: `bindu-schema apply --all-tenants` (state read, the
  fingerprint drift check of every tenant) vs one `alembic current` process (target <= 10x);
- M tenants from the previous head to head: `apply --all-tenants` vs a sequential shell
  loop of `alembic -x tenant_schema=NAME upgrade head` (target <= 0.2x); the loop is timed
  on a sample of S tenants and extrapolated linearly to M (said in the table);
- the controller's peak RSS at N tenants (target < 300 MB), read from /proc while it runs
  (VmHWM of the controller process only; its workers are separate processes).

Tenants are made by cloning one tenant's pg_dump under each name (the benchmark's setup,
not what it measures). Private BINDU_SCHEMA_HOME and embedded server; dropped at the end.

    .venv/bin/python bench/tenants.py                     # full run, writes the results
    .venv/bin/python bench/tenants.py --at-head 200 --migrate 50 --sample 5 --out -
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from bindu_schema import pgtools, server  # noqa: E402
from bindu_schema.settings import DatabaseURL  # noqa: E402

BIN = Path(sys.executable).parent
BINDU = str(BIN / "bindu-schema")
ALEMBIC = str(BIN / "alembic")
INI = str(ROOT / "alembic.ini")
SCHEMA = str(ROOT / "schema" / "bindu.yaml")
SECTION = "## Tenant fleets (bench/tenants.py)"
CHUNK = 25  # tenants created per statement batch (bounded lock table use)


def sql(url: DatabaseURL, text: str) -> list[tuple[object, ...]]:
    conn = server.connect(url, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(text)
            return list(cur.fetchall()) if cur.description else []
    finally:
        conn.close()


def revisions() -> tuple[str, str]:
    names = sorted(p.name[:13] for p in (ROOT / "generated" / "versions").glob("*.py"))
    return names[-1], names[-2]


def fresh_database(dev: DatabaseURL, name: str) -> DatabaseURL:
    sql(dev, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    sql(dev, f'CREATE DATABASE "{name}"')
    return dev.with_database(name)


def clone_tenants(db: DatabaseURL, revision: str, names: list[str]) -> None:
    """names[0] migrated by Alembic to `revision`, the others copies of its pg_dump."""
    first = names[0]
    proc = subprocess.run(
        [ALEMBIC, "-c", INI, "-x", f"url={db.sqlalchemy}", "-x", f"tenant_schema={first}",
         "upgrade", revision],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"bench: alembic upgrade failed: {proc.stderr[-800:]}")
    dump = pgtools.dump_identity(pgtools.dump_schema(db, first))
    ddl = "\n".join(line for line in dump.splitlines() if not line.startswith("\\"))
    for i in range(1, len(names), CHUNK):
        batch = names[i : i + CHUNK]
        sql(
            db,
            "\n".join(
                ddl.replace(first, n) + f"\nINSERT INTO {n}.alembic_version VALUES ('{revision}');"
                for n in batch
            ),
        )


def timed(
    argv: list[str], env: dict[str, str], watch_rss: bool = False
) -> tuple[float, float, str]:
    """(wall seconds, peak RSS of the process itself in MB, stdout); exits on failure."""
    started = time.monotonic()
    p = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)  # fmt: skip
    peak = [0.0]

    def sample() -> None:
        status = Path(f"/proc/{p.pid}/status")
        while p.poll() is None:
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak[0] = max(peak[0], int(line.split()[1]) / 1024)
            except (OSError, ValueError):
                pass
            time.sleep(0.02)

    watcher = threading.Thread(target=sample, daemon=True)
    if watch_rss:
        watcher.start()
    out, err = p.communicate()
    wall = time.monotonic() - started
    if watch_rss:
        watcher.join()
    if p.returncode not in (0,):
        raise SystemExit(f"bench: {' '.join(argv[:4])} ... exit {p.returncode}: {err[-1500:]}")
    return wall, peak[0], out


def rollout(jobs: int, db: DatabaseURL, dev_arg: list[str]) -> list[str]:
    return [BINDU, "apply", "--all-tenants", "--jobs", str(jobs), "--format", "json",
            "--schema", SCHEMA, "-c", INI, "--database-url", db.sqlalchemy, *dev_arg]  # fmt: skip


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--at-head", type=int, default=2000, help="tenants at head")
    ap.add_argument("--migrate", type=int, default=500, help="tenants to migrate")
    ap.add_argument("--sample", type=int, default=50, help="tenants in the timed shell loop")
    ap.add_argument("--runs", type=int, default=3, help="timed runs of the at-head rows")
    ap.add_argument("--jobs", type=int, default=2, help="apply --jobs (2 cores here)")
    ap.add_argument("--out", default="bench/RESULTS.md", help="results file, or - for stdout")
    args = ap.parse_args()

    started = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix="bindu-bench-tenants-", dir="/tmp"))
    os.environ["BINDU_SCHEMA_HOME"] = str(home)
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "STORAGE__POSTGRES_URL")
    }
    head, previous = revisions()
    rows: list[tuple[str, str, str, str, str]] = []
    try:
        dev = server.embedded_server_url()
        version = str(sql(dev, "SHOW server_version")[0][0])
        dev_arg = ["--dev-url", dev.sqlalchemy]

        # 1. N tenants at head
        at_head = fresh_database(dev, "bindu_bench_at_head")
        names = [f"did_bench_{n:05d}" for n in range(args.at_head)]
        t0 = time.monotonic()
        clone_tenants(at_head, head, names)
        setup = time.monotonic() - t0
        apply = rollout(args.jobs, at_head, dev_arg)
        current = [ALEMBIC, "-c", INI, "-x", f"url={at_head.sqlalchemy}", "current"]
        timed(apply, env)  # warm-up: builds and caches head's reference fingerprint
        timed(current, env)
        ours, peaks, fulls = [], [], []
        for _ in range(args.runs):
            wall, peak, out = timed(apply, env, watch_rss=True)
            doc = json.loads(out)
            assert doc["counts"]["CURRENT"] == args.at_head, doc["counts"]
            ours.append(wall)
            peaks.append(peak)
            fulls.append(doc["drift_checks"]["full"])
        base = [timed(current, env)[0] for _ in range(args.runs)]
        rows.append((
            f"{args.at_head:,} tenants at head: `apply --all-tenants` vs one `alembic current`",
            f"{median(ours):.2f}", f"{median(base):.2f}",
            f"{median(ours) / median(base):.1f} x", "<= 10 x",
        ))  # fmt: skip
        rows.append((
            f"controller peak RSS at {args.at_head:,} tenants (MB)",
            f"{max(peaks):.0f}", "", "", "< 300 MB",
        ))  # fmt: skip
        sql(dev, 'DROP DATABASE "bindu_bench_at_head" WITH (FORCE)')

        # 2. M tenants from the previous head to head
        migrate = fresh_database(dev, "bindu_bench_migrate")
        names = [f"did_move_{n:05d}" for n in range(args.migrate)]
        clone_tenants(migrate, previous, names)
        loop_db = fresh_database(dev, "bindu_bench_loop")
        sample = [f"did_loop_{n:05d}" for n in range(args.sample)]
        clone_tenants(loop_db, previous, sample)
        apply = rollout(args.jobs, migrate, dev_arg)
        wall, peak_m, out = timed(apply, env, watch_rss=True)
        doc = json.loads(out)
        assert doc["counts"]["MIGRATED"] == args.migrate, doc["counts"]
        left = sql(migrate, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'did\\_move\\_%'")
        assert int(str(left[0][0])) == args.migrate
        loop = (
            f'for n in {" ".join(sample)}; do "{ALEMBIC}" -c "{INI}" -x "url={loop_db.sqlalchemy}"'
            " -x tenant_schema=$n upgrade head || exit 1; done"
        )
        loop_wall = timed(["sh", "-c", loop], env)[0]
        per_tenant = loop_wall / args.sample
        extrapolated = per_tenant * args.migrate
        rows.append((
            f"{args.migrate:,} tenants previous head -> head: `apply --all-tenants` vs a shell "
            f"loop of `alembic -x tenant_schema=NAME upgrade head` (loop timed on {args.sample}"
            f" tenants: {loop_wall:.1f} s, {per_tenant:.2f} s each, x {args.migrate} linearly)",
            f"{wall:.2f}", f"{extrapolated:.1f}", f"{wall / extrapolated:.3f} x", "<= 0.2 x",
        ))  # fmt: skip
        rows.append((
            f"controller peak RSS migrating {args.migrate:,} tenants (MB)",
            f"{peak_m:.0f}", "", "", "< 300 MB",
        ))  # fmt: skip
        full_checks = max(fulls)
    finally:
        try:
            for name in ("bindu_bench_at_head", "bindu_bench_migrate", "bindu_bench_loop"):
                sql(server.embedded_server_url(), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            server.stop_embedded()
            shutil.rmtree(home, ignore_errors=True)

    took = (time.monotonic() - started) / 60
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=ROOT).stdout.strip()  # fmt: skip
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        SECTION,
        "",
        f"Written by `make bench-tenants` (bench/tenants.py) on {when}; commit {commit}.",
        "",
        f"- machine: {os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}; PostgreSQL {version} (embedded wheel), Unix socket",
        f"- whole-process wall time; at-head rows: median of {args.runs} runs after one warm-up "
        "(the warm-up builds head's reference fingerprint, cached from then on); the migration "
        "row: one run",
        f"- `apply --all-tenants --jobs {args.jobs} --format json`; in the at-head runs "
        f"{full_checks} tenant(s) needed the full drift comparison (fingerprints equal head's)",
        f"- tenants cloned from one tenant's pg_dump (setup of {args.at_head:,}: {setup:.0f} s, "
        f"not timed); took {took:.1f} minutes; other processes may have shared the 2 cores",
        "",
        "| row | ours (s) | baseline (s) | ours / baseline | target |",
        "|---|---|---|---|---|",
        *(f"| {' | '.join(r)} |" for r in rows),
        "",
    ]
    text = "\n".join(lines)
    if args.out == "-":
        print(text)
        return 0
    path = ROOT / args.out
    old = path.read_text() if path.exists() else ""
    if SECTION in old:  # replace only our section (up to the next "## " heading)
        before, rest = old.split(SECTION, 1)
        after = rest.split("\n## ", 1)
        old = before.rstrip("\n") + ("\n\n## " + after[1] if len(after) > 1 else "")
    path.write_text(old.rstrip("\n") + "\n\n" + text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
