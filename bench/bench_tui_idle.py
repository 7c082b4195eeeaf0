"""What the TUI costs while you watch: bytes written to the terminal and CPU, in tmux, vs a bare app.

Each case runs in a real terminal (a detached tmux session, 80x24): after a warm-up,
`tmux pipe-pane` counts every byte the app writes to the pane for `--seconds`, and
psutil measures the app process's CPU time over the same window. Cases run
interleaved (A B C ... A B C ...) so machine load hits all alike; each prints
min/median/max over `--rounds` and its ratio to the bare Textual app.

    python bench/bench_tui_idle.py [--seconds 30] [--rounds 2] [--cases bare,detail,runs50,runs1000,live,sources]

Goals (issue 10): 0 B/s and < 0.5% of a core while nothing changes (detail of a
finished run, Runs tab with 50 and with 1,000 finished runs); a live run's detail
< 2 KB/s per logged step and < 2% of a core (a writer logs one step a second).
`sources`: the 50 runs plus three other tools' runs added to the workspace (a
TensorBoard log, a LLaMA-Factory log, a Trainer output dir), idle (issue 14 item 5).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BARE = r"""
from textual.app import App
from textual.widgets import Footer, Static

class Bare(App):
    def compose(self):
        yield Static("Hello, world")
        yield Footer()

Bare().run()
"""

WRITER = r"""
import json, sys, time
run_dir = sys.argv[1]
step = 0
while True:
    step += 1
    with open(run_dir + "/metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": step, "time": time.time(), "kind": "train", "loss": 2 + 1 / step,
                            "learning_rate": 1e-4, "grad_norm": 1.0, "tokens_per_second": 2000.0 + step}) + "\n")
    with open(run_dir + "/console.log", "a") as f:
        f.write(f"{{'loss': {2 + 1 / step:.4f}, 'step': {step}}}\n")
    time.sleep(1.0)
"""


def make_workspace(root: Path, finished: int, live: bool) -> Path:
    from tests.test_tui_support import make_run

    ws = root / f"ws-{finished}-{int(live)}"
    for i in range(finished):
        make_run(ws, f"20250101-{i:06d}-run{i}", steps=200, created=1000.0 + i)
    if live:
        run_dir = make_run(ws, "20250102-000000-live", status="running", steps=100000, logged=10,
                           created=time.time())
        st = json.loads((run_dir / "status.json").read_text())
        st["supervisor_pid"] = None  # filled in by the case
        (run_dir / "status.json").write_text(json.dumps(st))
    (ws / "runs").mkdir(parents=True, exist_ok=True)
    return ws


def add_sources(ws: Path) -> Path:
    """Three other tools' finished runs, added to the workspace's Runs tab."""
    from tests.test_tui_sources import write_llamafactory, write_tfevents
    from tests.test_watch import hist, write_state
    from workbench.sources.added import add_path

    write_tfevents(ws / "other" / "tb", 500, evals=range(50, 501, 50))
    write_llamafactory(ws / "other" / "lf", total=3000, every=10)
    write_state(ws / "other" / "hf", 30, hist(1, 30) + [{"step": 30, "train_runtime": 12.0, "train_loss": 2.1}],
                name="")
    for name in ("tb", "lf", "hf"):
        add_path(ws, ws / "other" / name)
    return ws


class Case:
    def __init__(self, name: str, command: str, env: dict[str, str], writer_dir: Path | None = None):
        self.name, self.command, self.env, self.writer_dir = name, command, env, writer_dir
        self.bytes: list[float] = []
        self.cpu: list[float] = []
        self.steps: list[float] = []


def pane_pid(tmux: list[str], session: str) -> int:
    out = subprocess.run([*tmux, "display", "-p", "-t", session, "#{pane_pid}"], capture_output=True, text=True)
    return int(out.stdout.strip())


def app_process(root_pid: int) -> psutil.Process:
    root = psutil.Process(root_pid)
    procs = [root, *root.children(recursive=True)]
    pythons = [p for p in procs if "python" in p.name().lower()]
    return pythons[-1] if pythons else root


def measure(case: Case, seconds: float, warmup: float, sock: str) -> None:
    tmux = ["tmux", "-L", sock]
    session = f"b{len(case.bytes)}{case.name}"
    env_prefix = " ".join(f"{k}={v}" for k, v in case.env.items())
    writer = None
    if case.writer_dir is not None:
        # a stand-in supervisor: alive, so the run reads as running
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(case.writer_dir)])
        st = json.loads((case.writer_dir / "status.json").read_text())
        from workbench.runs.store import process_start_time

        st.update(supervisor_pid=writer.pid, supervisor_start=process_start_time(writer.pid))
        (case.writer_dir / "status.json").write_text(json.dumps(st))
    subprocess.run([*tmux, "new-session", "-d", "-s", session, "-x", "80", "-y", "24",
                    f"env {env_prefix} {case.command}"], check=True)
    out = Path(tempfile.mktemp(prefix="pane-"))
    try:
        time.sleep(warmup)
        proc = app_process(pane_pid(tmux, session))
        subprocess.run([*tmux, "pipe-pane", "-o", "-t", session, f"cat > {out}"], check=True)
        steps0 = _steps(case.writer_dir)
        c0 = proc.cpu_times()
        t0 = time.monotonic()
        time.sleep(seconds)
        c1 = proc.cpu_times()
        dt = time.monotonic() - t0
        subprocess.run([*tmux, "pipe-pane", "-t", session], check=True)
        time.sleep(0.2)
        case.bytes.append(out.stat().st_size / dt if out.exists() else 0.0)
        case.cpu.append(100 * ((c1.user - c0.user) + (c1.system - c0.system)) / dt)
        case.steps.append((_steps(case.writer_dir) - steps0) / dt)
    finally:
        subprocess.run([*tmux, "kill-session", "-t", session], capture_output=True)
        if writer is not None:
            writer.kill()
            writer.wait()
        out.unlink(missing_ok=True)


def _steps(run_dir: Path | None) -> int:
    if run_dir is None:
        return 0
    try:
        return sum(1 for _ in open(run_dir / "metrics.jsonl"))
    except OSError:
        return 0


def stats(values: list[float]) -> str:
    return f"min {min(values):8.1f}  median {statistics.median(values):8.1f}  max {max(values):8.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--cases", default="bare,detail,runs50,runs1000,live,sources")
    args = ap.parse_args()
    if shutil.which("tmux") is None:
        print("needs tmux")
        return 1
    root = Path(tempfile.mkdtemp(prefix="wb-idle-"))
    py = sys.executable
    (root / "bare.py").write_text(BARE)
    ws50, ws1000, wslive = make_workspace(root, 50, False), make_workspace(root, 1000, False), make_workspace(root, 3, True)
    wssrc = add_sources(make_workspace(root / "src", 50, False))
    base_env = {"OMP_NUM_THREADS": "1", "TERM": "xterm-256color"}
    tui = f"{py} -m workbench tui"
    cases = {
        "bare": Case("bare", f"{py} {root / 'bare.py'}", base_env),
        "detail": Case("detail", f"{tui} 20250101-000049-run49", {**base_env, "WORKBENCH_WORKSPACE": str(ws50)}),
        "runs50": Case("runs50", tui, {**base_env, "WORKBENCH_WORKSPACE": str(ws50)}),
        "runs1000": Case("runs1000", tui, {**base_env, "WORKBENCH_WORKSPACE": str(ws1000)}),
        "sources": Case("sources", tui, {**base_env, "WORKBENCH_WORKSPACE": str(wssrc),
                                         "WORKBENCH_CONFIG_DIR": str(root / "user-config")}),
        "live": Case("live", f"{tui} 20250102-000000-live", {**base_env, "WORKBENCH_WORKSPACE": str(wslive)},
                     writer_dir=wslive / "runs" / "20250102-000000-live"),
    }
    chosen = [cases[c] for c in args.cases.split(",")]
    sock = f"wbidle-{os.getpid()}"
    # a session that outlives the cases keeps the tmux server up between them
    subprocess.run(["tmux", "-L", sock, "new-session", "-d", "-s", "keep", "sleep 100000"], check=True)
    try:
        for _ in range(args.rounds):
            for case in chosen:
                measure(case, args.seconds, args.warmup, sock)
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
    bare = cases["bare"] if cases["bare"].bytes else None
    print(f"{args.rounds} rounds x {args.seconds:g} s per case, tmux 80x24, interleaved")
    for case in chosen:
        line = f"{case.name:9} bytes/s {stats(case.bytes)}   CPU % {stats(case.cpu)}"
        if case.writer_dir is not None and statistics.median(case.steps) > 0:
            per_step = statistics.median(case.bytes) / statistics.median(case.steps)
            line += f"   {per_step / 1024:.2f} KB per logged step ({statistics.median(case.steps):.2f} steps/s)"
        if bare is not None and case is not bare:
            line += f"   CPU vs bare {statistics.median(case.cpu) / max(statistics.median(bare.cpu), 0.01):.1f}x"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
