"""A tenant rollout over one or many databases: stages, a failure budget, a worker pool per
database, and the drift check by catalog fingerprint. docs/tenants.md ("Fleets").

The controller (this process) reads every tenant's state in a few queries per database
(tenants.states). Tenants already at head cost nothing more. The others go to a pool of
worker processes per database (`jobs` of them, its concurrency limit; tenant_worker.py),
each migrating many tenants through one connection. Staged: the first `canary` tenants
that have something to run go first, drift check included, and if one fails nothing else
starts; after `max_failures` failures (over all databases) no new tenant starts. Tenants
not started are SKIPPED, still at their revision: running again resumes.

Drift check, after the upgrades (nothing of ours runs DDL while a catalog is read): every
tenant's fingerprint (fingerprint.py, a few queries per database) is compared with head's,
read once from a scratch schema that the revisions build on the dev server and cached.
Equal means catalog-equal to head, and head was compared with the YAML when the reference
was built, so the tenant has no drift; only a tenant whose fingerprint differs gets the
full comparison (a migra plan and catalog fidelity, tenants.drift) in a worker.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path

from alembic import command

from . import cache, fingerprint, retry, server, tenant_worker, tenants
from .revision import alembic_config, alembic_errors, script_directory, single_head
from .settings import DatabaseURL
from .tenant_worker import Job, Outcome
from .tenants import CURRENT, FAILED, SKIPPED, TenantResult, TenantState

# The scratch schema head's fingerprint is read from (any name: the fingerprint ignores it).
HEAD_SCHEMA = "bindu_head_reference"
# How a tenant's drift was checked (the report's drift_check field).
BY_FINGERPRINT, BY_FULL_COMPARISON = "fingerprint", "full"


@dataclass(frozen=True)
class Target:
    """One database of a fleet and how its tenants are found."""

    name: str  # a label for messages and the report
    url: DatabaseURL
    patterns: tuple[str, ...] = tenants.DEFAULT_PATTERNS
    schemas: tuple[str, ...] = ()  # exactly these (instead of patterns)
    jobs: int = 4  # tenants of this database migrated at once
    where: str = ""  # file:line:col of its entry in a targets file

    def select(self, order: str = "name") -> list[str]:
        if self.schemas:
            names = list(dict.fromkeys(tenants.check_name(n) for n in self.schemas))
            return names if order == "list" else sorted(names)
        return tenants.find(self.url, self.patterns)


@dataclass(frozen=True)
class HeadReference:
    fingerprint: str
    drift: tuple[str, ...]  # head's own difference from the YAML (normally none)
    server_version: int


@dataclass
class Settings:
    schema_path: str
    dev: DatabaseURL
    ini: str
    timeouts: dict[str, str] = field(default_factory=dict)
    lock_tries: int = retry.DEFAULT_TRIES
    check_drift: bool = True
    canary: int = 0
    max_failures: int | None = None


def head_reference(schema_path: str | Path, dev: DatabaseURL, ini: str | Path) -> HeadReference:
    """Head's fingerprint and its drift from the YAML, cached by what they depend on: the
    revisions, env.py, the YAML and the dev server's version."""
    script = script_directory(alembic_config(ini))
    conn = server.connect(dev)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_setting('server_version_num')::int")
            row = cur.fetchone()
            assert row is not None
            version = int(row[0])
    finally:
        conn.close()
    h = hashlib.sha256()
    where = Path(script.dir)
    for path in sorted([where / "env.py", *where.glob("versions/*.py")]):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    key = cache.key("head-reference", h.hexdigest(), Path(schema_path).read_bytes(), str(version))
    found = cache.get("tenant-head", key) if cache.enabled() else None
    if isinstance(found, HeadReference):
        return found
    with server.scratch(dev) as scratch:
        cfg = alembic_config(ini, scratch, schema_path, settings={"tenant_schema": HEAD_SCHEMA})
        with alembic_errors(scratch):
            command.upgrade(cfg, "head")
        fp = fingerprint.of_schemas(scratch, [HEAD_SCHEMA])[HEAD_SCHEMA]
        drift = tenants.drift(schema_path, scratch, dev, HEAD_SCHEMA)
    ref = HeadReference(fp, drift, version)
    if cache.enabled():
        cache.put("tenant-head", key, ref)
    return ref


class _Pools:
    """A worker pool per database, made when its first tenant needs one."""

    def __init__(self, targets: Sequence[Target]) -> None:
        self.targets = targets
        self.pools: dict[int, ProcessPoolExecutor] = {}

    def submit(self, t: int, fn: Callable[[Job], object], job: Job) -> Future[object]:
        pool = self.pools.get(t)
        if pool is None:
            pool = self.pools[t] = self._new(t)
        try:
            return pool.submit(fn, job)
        except BrokenProcessPool:  # a worker died (killed, out of memory): a fresh pool
            pool.shutdown(wait=False, cancel_futures=True)
            self.pools[t] = self._new(t)
            return self.pools[t].submit(fn, job)

    def _new(self, t: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.targets[t].jobs,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=tenant_worker.start,
            initargs=(os.getpid(),),
        )

    def close(self) -> None:
        for pool in self.pools.values():
            pool.shutdown(wait=True, cancel_futures=True)

    def kill(self) -> None:
        """Interrupted (SIGTERM, Ctrl-C): end the workers now rather than wait for tenants
        that may be blocked on a lock; PostgreSQL rolls back what they had not committed."""
        for pool in self.pools.values():
            for proc in list(pool._processes.values()):
                proc.terminate()
            pool.shutdown(wait=False, cancel_futures=True)


Item = tuple[int, str]  # (index of the target, schema)


class Rollout:
    def __init__(
        self,
        targets: Sequence[Target],
        cfg: Settings,
        on_result: Callable[[TenantResult], None] | None = None,
    ) -> None:
        self.targets = targets
        self.cfg = cfg
        self.on_result = on_result
        self.failures = 0
        self.full_checks = 0  # tenants whose fingerprint differed from head's
        self.pools = _Pools(targets)
        self._reference: HeadReference | None = None

    def job(self, item: Item) -> Job:
        t, name = item
        c = self.cfg
        return Job(
            self.targets[t].url.sqlalchemy,
            c.dev.sqlalchemy,
            tenant_worker.resolved(c.schema_path),
            tenant_worker.resolved(c.ini),
            name,
            dict(c.timeouts),
            c.lock_tries,
        )

    def result(self, item: Item, o: Outcome) -> TenantResult:
        return TenantResult(
            o.name, o.status, o.before, o.after, o.message, seconds=o.seconds,
            database=self.targets[item[0]].url.safe,
        )  # fmt: skip

    def budget_left(self) -> bool:
        return self.cfg.max_failures is None or self.failures < self.cfg.max_failures

    # --- the rollout ------------------------------------------------------------------------

    def run(
        self,
        names: Sequence[Sequence[str]],
        states: Sequence[Mapping[str, TenantState]] | None = None,
    ) -> list[TenantResult]:
        """names[i]: the tenants of targets[i], in order (states[i]: their states, when the
        caller has just read them). Results in the same order."""
        head = single_head(script_directory(alembic_config(self.cfg.ini)))
        at_head = (head,) if head else ()
        order: list[Item] = [(t, n) for t, ns in enumerate(names) for n in ns]
        found: dict[Item, TenantState] = {}
        for t, ns in enumerate(names):
            read = states[t] if states is not None else tenants.states(self.targets[t].url, ns)
            for n in ns:
                found[(t, n)] = read[n]
        todo = [i for i in order if not (found[i].versioned and found[i].heads == at_head)]
        waiting = set(todo)
        current = [i for i in order if i not in waiting]
        done: dict[Item, TenantResult] = {}
        try:
            stages = [todo[: self.cfg.canary], todo[self.cfg.canary :]]
            if not self.cfg.canary or len(todo) <= self.cfg.canary:
                stages = [todo]
            for k, stage in enumerate(stages):
                last = k == len(stages) - 1
                # at-head tenants are checked with the last stage (their check is a query)
                extra = current if last else []
                stage_done = self.upgrade(stage, found)
                stage_done.update(
                    {i: TenantResult(i[1], CURRENT, found[i].heads, found[i].heads,
                                     database=self.targets[i[0]].url.safe) for i in extra}
                )  # fmt: skip
                checked = self.check(stage_done)  # the canary's drift check included
                done.update(checked)
                if not last and any(r.status == FAILED for r in checked.values()):
                    break
        except BaseException:
            self.pools.kill()
            raise
        self.pools.close()
        why = (
            "not started: the canary failed"
            if self.cfg.canary
            and any(i in done and done[i].status == FAILED for i in todo[: self.cfg.canary])
            else f"not started: {self.failures} tenant(s) failed "
            f"(--max-failures {self.cfg.max_failures})"
        )
        for i in order:
            if i not in done:
                st = found[i]
                done[i] = TenantResult(
                    i[1], SKIPPED, st.heads, st.heads, why, database=self.targets[i[0]].url.safe
                )
                self.emit(done[i])
        return [done[i] for i in order]

    def emit(self, r: TenantResult) -> None:
        if self.on_result is not None:
            self.on_result(r)

    def upgrade(
        self, items: Sequence[Item], found: dict[Item, TenantState]
    ) -> dict[Item, TenantResult]:
        """Each tenant to head, at most `jobs` at a time per database; stops starting new
        ones once the failure budget is spent."""
        pending: dict[int, list[Item]] = {}
        for i in items:
            pending.setdefault(i[0], []).append(i)
        for queue in pending.values():
            queue.reverse()  # pop() from the end: the given order
        running: dict[Future[object], Item] = {}
        per_target: dict[int, int] = {}
        out: dict[Item, TenantResult] = {}

        def fill() -> None:
            for t, queue in pending.items():
                while queue and per_target.get(t, 0) < self.targets[t].jobs and self.budget_left():
                    item = queue.pop()
                    running[self.pools.submit(t, tenant_worker.migrate, self.job(item))] = item
                    per_target[t] = per_target.get(t, 0) + 1

        fill()
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                item = running.pop(fut)
                per_target[item[0]] -= 1
                try:
                    o = fut.result()
                    assert isinstance(o, Outcome)
                    r = self.result(item, o)
                except Exception as exc:  # a worker died (killed, out of memory)
                    r = TenantResult(item[1], FAILED, found[item].heads,
                                     message=f"worker failed: {exc}",
                                     database=self.targets[item[0]].url.safe)  # fmt: skip
                out[item] = r
                if r.status == FAILED:
                    self.failures += 1
                    self.emit(r)  # final: a failed tenant gets no drift check
            fill()
        return out

    def reference(self) -> HeadReference:
        if self._reference is None:
            c = self.cfg
            self._reference = head_reference(c.schema_path, c.dev, c.ini)
        return self._reference

    def check(self, results: dict[Item, TenantResult]) -> dict[Item, TenantResult]:
        """The drift check of every tenant that did not fail (see the module docstring)."""
        out = dict(results)
        ok = [i for i, r in results.items() if r.status != FAILED]
        if not self.cfg.check_drift or not ok:
            for i in ok:
                self.emit(out[i])
            return out
        ref = self.reference()
        fps: dict[Item, str] = {}
        by_target: dict[int, list[str]] = {}
        for t, n in ok:
            by_target.setdefault(t, []).append(n)
        for t, ns in by_target.items():
            for n, fp in fingerprint.of_schemas(self.targets[t].url, ns).items():
                fps[(t, n)] = fp
        full: dict[Future[object], Item] = {}
        for i in ok:
            if not ref.drift and fps.get(i) == ref.fingerprint:
                out[i] = replace(out[i], drift_check=BY_FINGERPRINT)
                self.emit(out[i])
            else:
                self.full_checks += 1
                full[self.pools.submit(i[0], tenant_worker.full_drift, self.job(i))] = i
        for fut in list(full):
            i = full[fut]
            r = replace(out[i], drift_check=BY_FULL_COMPARISON)
            try:
                found = fut.result()
                assert isinstance(found, tuple)
                drift, error = found
            except Exception as exc:
                drift, error = (), f"worker failed: {exc}"
            if error:
                r = replace(r, status=FAILED, message=f"drift check failed: {error}")
            elif drift:
                r = replace(r, status=FAILED, drift=drift,
                            message="after apply it still differs from the YAML")  # fmt: skip
            if r.status == FAILED:
                self.failures += 1
            out[i] = r
            self.emit(r)
        return out
