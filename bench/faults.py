"""Fault injection: kill, stop, delete and corrupt real runs, N rounds, and count what survives.

    python bench/faults.py [--rounds N] [--steps S] [--only CASE,...]

Every case starts a real `workbench run` of the bundled tiny SFT job (CPU), injects one
fault into the real processes or files, recovers the way a user would (`workbench
resume`), and checks the run's files. Prints one line per case and round, then:

    faults survived: N of M; metric lines lost: X; duplicated: Y; secrets leaked: Z

Every run has HF_TOKEN set and a careless local plugin that prints the environment from
its lifecycle hooks; a secret found in any file of any run, or in any output, is a leak.
A case survives when the run ends as it should (completed after recovery, or failed
with a clear reason where nothing can be saved), with no metric line lost or repeated
among those the job wrote after the fault, and no secret in any file or output.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SFT = REPO / "sample_data" / "configs" / "sft.toml"
SECRET = "hf_FaultBenchSecret0123456789abcdefghij"
FINAL = ("completed", "failed", "stopped", "lost")


class Bench:
    def __init__(self, steps: int):
        self.steps = steps
        self.ws = Path(tempfile.mkdtemp(prefix="wb-faults-"))
        self.env = dict(os.environ, WORKBENCH_WORKSPACE=str(self.ws), OMP_NUM_THREADS="1", HF_TOKEN=SECRET)
        self.outputs: list[str] = []
        # A careless plugin: prints the whole environment (the token with it) at every run's start and end.
        plugins = self.ws / ".workbench" / "plugins"
        plugins.mkdir(parents=True)
        (plugins / "leaky_env.py").write_text(
            "import os\nfrom workbench.hookspecs import hookimpl\n\n"
            "@hookimpl\ndef run_started(run):\n    print(dict(os.environ), flush=True)\n\n"
            "@hookimpl\ndef run_finished(run):\n    print('token', os.environ.get('HF_TOKEN'), flush=True)\n")

    # --- plumbing ---------------------------------------------------------------------------
    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True,
                              env=self.env, cwd=self.ws, timeout=timeout)
        self.outputs += [done.stdout, done.stderr]
        return done

    def start(self, *sets: str) -> Path:
        args = ["run", str(SFT), "--detach", "--set", f"trainer.args.max_steps={self.steps}"]
        for item in sets:
            args += ["--set", item]
        done = self.cli(*args)
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip())
        return self.ws / "runs" / done.stdout.strip().splitlines()[-1]

    @staticmethod
    def status(run_dir: Path) -> dict:
        from workbench.runs.store import Run

        return Run(run_dir).status()

    def wait(self, predicate, timeout: float = 300) -> bool:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return True
            time.sleep(0.1)
        return False

    def rows(self, run_dir: Path) -> list[int]:
        from workbench.runs.jsonl import read_jsonl

        rows, _ = read_jsonl(run_dir / "metrics.jsonl")
        return [r["step"] for r in rows if r.get("kind", "train") == "train" and isinstance(r.get("step"), int)]

    def wait_rows(self, run_dir: Path, n: int) -> bool:
        return self.wait(lambda: len(self.rows(run_dir)) >= n)

    def wait_final(self, run_dir: Path, timeout: float = 300) -> dict:
        self.wait(lambda: self.status(run_dir)["status"] in FINAL, timeout)
        return self.status(run_dir)

    def kill_group(self, run_dir: Path) -> None:
        pgid = self.status(run_dir).get("job_pgid")
        if pgid:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def count(self, steps: list[int], first: int) -> tuple[int, int]:
        """(lost, duplicated) among the steps first..max the job wrote after the fault."""
        seen = Counter(s for s in steps if s >= first)
        lost = sum(1 for s in range(first, self.steps + 1) if s not in seen)
        return lost, sum(c - 1 for c in seen.values() if c > 1)

    def leaked(self, run_dir: Path | None = None) -> int:
        n = sum(SECRET in text for text in self.outputs)
        roots = [run_dir] if run_dir else [self.ws / "runs"]
        for root in roots:
            for p in root.rglob("*") if root.exists() else []:
                if p.is_file():
                    try:
                        n += SECRET in p.read_text(errors="replace")
                    except OSError:
                        continue
        return n

    def resume_to_end(self, run_dir: Path) -> dict:
        done = self.cli("resume", "--detach", run_dir.name)
        if done.returncode != 0:
            return {"status": "resume refused", "reason": done.stderr.strip()}
        return self.wait_final(run_dir)

    # --- the cases: each returns (survived, lost, duplicated, note) ----------------------------------------
    def case_kill_worker(self):
        run = self.start("trainer.args.save_steps=20")
        self.wait(lambda: any(c for c in (run / "checkpoints").glob("checkpoint-*")))
        for pid in self.status(run).get("job_pids", []):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"workbench.worker" in cmd:
                os.kill(pid, signal.SIGKILL)
        st = self.wait_final(run)
        ok = st["status"] == "failed" and st.get("signal") == "SIGKILL"
        st = self.resume_to_end(run)
        lost, dup = self.count(self.rows(run), 1)
        return ok and st["status"] == "completed", lost, dup, st.get("reason")

    def case_kill_supervisor(self):
        run = self.start("trainer.args.save_steps=100000")
        self.wait_rows(run, 3)
        os.kill(self.status(run)["supervisor_pid"], signal.SIGKILL)
        self.wait(lambda: self.status(run)["status"] in ("lost", "completed"), 30)
        # a short job may finish before the resume: it then shows completed, and resume refuses it
        st = self.status(run) if self.status(run)["status"] == "completed" else self.resume_to_end(run)
        lost, dup = self.count(self.rows(run), 1)
        return st["status"] == "completed", lost, dup, st.get("reason")

    def case_stop_resume(self):
        run = self.start("trainer.args.save_steps=100000")
        self.wait_rows(run, 3)
        self.cli("stop", "--wait", run.name)
        ok = self.status(run)["status"] == "stopped"
        st = self.resume_to_end(run)
        lost, dup = self.count(self.rows(run), 1)
        return ok and st["status"] == "completed", lost, dup, st.get("reason")

    def case_double_resume(self):
        run = self.start("trainer.args.save_steps=100000")
        self.wait_rows(run, 3)
        self.cli("stop", "--wait", run.name)
        cmd = [sys.executable, "-m", "workbench", "resume", "--detach", run.name]
        procs = [subprocess.Popen(cmd, env=self.env, cwd=self.ws, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
        codes = sorted(p.wait() for p in procs)
        for p in procs:
            self.outputs += [p.stdout.read(), p.stderr.read()]
        st = self.wait_final(run)
        lost, dup = self.count(self.rows(run), 1)
        return codes == [0, 2] and st["status"] == "completed", lost, dup, f"exit codes {codes}"

    def case_delete_metrics(self):
        run = self.start("trainer.args.save_steps=100000")
        self.wait_rows(run, 3)
        (run / "metrics.jsonl").unlink()
        st = self.wait_final(run)
        ok = st["status"] == "failed" and "metrics.jsonl" in (st.get("reason") or "")
        first = int(st.get("resumed_from_step") or 0)
        st = self.resume_to_end(run)
        first = int(self.status(run).get("resumed_from_step") or first) + 1
        lost, dup = self.count(self.rows(run), first)
        return ok and st["status"] == "completed", lost, dup, st.get("reason")

    def case_delete_run_dir(self):
        run = self.start("trainer.args.save_steps=20")
        self.wait_rows(run, 3)
        pgid = self.status(run)["job_pgid"]
        # As `rm -rf` typed again: a checkpoint being written while the tree is removed can leave
        # "Directory not empty" (the user's rm races the job exactly the same way).
        for _ in range(50):
            shutil.rmtree(run, ignore_errors=True)
            if not run.exists():
                break
            time.sleep(0.1)

        from workbench.supervisor import group_members

        ended = self.wait(lambda: not group_members(pgid), 120)
        return ended and not run.exists(), 0, 0, "job ended, no ghost" if ended else "job still running"

    def case_corrupt_status(self):
        run = self.start("trainer.args.save_steps=100000")
        self.wait_rows(run, 3)
        self.cli("stop", "--wait", run.name)
        (run / "status.json").write_text('{"status": "sto')
        ok = self.cli("ls").returncode == 0
        st = self.resume_to_end(run)
        lost, dup = self.count(self.rows(run), 1)
        return ok and st["status"] == "completed" and st.get("trainer") == "sft", lost, dup, st.get("reason")

    def case_corrupt_metrics_line(self):
        run = self.start("trainer.args.save_steps=100000")
        self.wait_rows(run, 3)
        with open(run / "metrics.jsonl", "ab") as f:
            f.write(b"5\n{\"step\": \xff}\n")
        ok = self.cli("ls").returncode == 0 and self.cli("show", run.name).returncode == 0
        st = self.wait_final(run)
        lost, dup = self.count(self.rows(run), 1)
        return ok and st["status"] == "completed", lost, dup, st.get("reason")

    CASES = ("kill_worker", "kill_supervisor", "stop_resume", "double_resume", "delete_metrics", "delete_run_dir",
             "corrupt_status", "corrupt_metrics_line")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--only", default="", help="comma-separated case names")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    cases = [c for c in Bench.CASES if not args.only or c in args.only.split(",")]
    survived = total = lost_total = dup_total = 0
    bench = Bench(args.steps)
    print(f"# load average at start: {os.getloadavg()[0]:.2f}; {args.rounds} round(s) of {len(cases)} cases, "
          f"{args.steps} steps each; workspace {bench.ws}")
    try:
        for rnd in range(1, args.rounds + 1):
            for name in cases:
                t0 = time.time()
                try:
                    ok, lost, dup, note = getattr(bench, f"case_{name}")()
                except Exception as exc:  # noqa: BLE001 - a crashing case is a fault not survived
                    ok, lost, dup, note = False, 0, 0, f"{type(exc).__name__}: {exc}"
                total += 1
                survived += bool(ok and lost == 0 and dup == 0)
                lost_total += lost
                dup_total += dup
                print(f"round {rnd} {name:22} {'ok  ' if ok and not lost and not dup else 'FAIL'} lost {lost} "
                      f"dup {dup}  {time.time() - t0:5.1f}s  {note or ''}", flush=True)
        leaked = bench.leaked()
    finally:
        for run in (bench.ws / "runs").glob("*"):
            bench.kill_group(run) if (run / "status.json").exists() else None
        shutil.rmtree(bench.ws, ignore_errors=True)
    print(f"# load average at end: {os.getloadavg()[0]:.2f}")
    print(f"faults survived: {survived} of {total}; metric lines lost: {lost_total}; duplicated: {dup_total}; "
          f"secrets leaked: {leaked}")
    return 0 if survived == total and not (lost_total or dup_total or leaked) else 1


if __name__ == "__main__":
    sys.exit(main())
