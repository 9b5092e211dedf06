"""Two `revision` commands at once (issue 14, item 4): the second waits for the first
(flock on generated/) and then sees its revision, so no two files share an id."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from alembic_project import make_project, project_args, versions
from conftest import ROOT

YAML = """\
version: 1
tables:
  lock_probe:
    columns:
      id: {type: integer, nullable: false}
    primary_key: {name: lock_probe_pkey, columns: [id]}
"""


def test_two_revisions_at_once_never_share_an_id(tmp_path, dev_server):
    proj = make_project(tmp_path, YAML)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    env["PYTHONPATH"] = str(ROOT)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bindu_schema",
                "revision",
                "-m",
                f"racer {i}",
                *project_args(proj, None, dev_server),
            ],
            cwd=proj,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    results = [(p.wait(timeout=600), p.stdout.read(), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    for code, out, err in results:
        assert code == 0, out + err
        assert "Traceback" not in out + err
    files = versions(proj)
    ids = [re.search(r'^revision: str = "([^"]+)"', f.read_text(), re.M).group(1) for f in files]  # type: ignore[union-attr]
    assert len(ids) == len(set(ids)), ids
    assert len(files) == 1, [f.name for f in files]  # the second found nothing left to do
    assert any("no changes" in out.lower() or "nothing" in out.lower() for _, out, _ in results), (
        results
    )
