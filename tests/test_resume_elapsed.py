"""A resumed lost run keeps the running time of the attempt that was lost."""

from __future__ import annotations

import json

from tests.test_tui_support import make_run
from workbench.runs.store import Run


def test_the_lost_attempt_counts_until_its_last_logged_row(tmp_path):
    t0 = 1_700_000_000.0
    run_dir = make_run(tmp_path, "20250101-000000-crashed", status="running", steps=400, logged=0)
    rows = [{"step": s, "time": t0 + s, "kind": "train", "loss": 5.0} for s in range(1, 101)]  # 100 s of training
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run_dir / "events.jsonl").write_text(json.dumps({"time": t0 + 60, "event": "checkpoint", "step": 60}) + "\n")
    st = json.loads((run_dir / "status.json").read_text())
    st.update(started=t0, attempt=1, attempts=[{"started": t0, "ended": None}], supervisor_pid=None)
    (run_dir / "status.json").write_text(json.dumps(st))
    run = Run(run_dir)
    assert run.close_lost_attempt() == t0 + 100  # what a resume does before it rewrites metrics.jsonl
    assert run.close_lost_attempt() is None  # closed once
    # the resume's attempt: 50 s, then stopped; elapsed sums both attempts
    st = run.raw_status
    st.update(status="stopped", ended=t0 + 650, attempt=2,
              attempts=st["attempts"] + [{"started": t0 + 600, "ended": t0 + 650}])
    (run_dir / "status.json").write_text(json.dumps(st))
    assert run.summary()["elapsed"] == 150.0
