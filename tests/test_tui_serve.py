"""`workbench serve`: the TUI over HTTP, bound to localhost by default."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import psutil

from workbench.cli.commands.serve import serve_command


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_binds_localhost_and_serves_the_page(tmp_path):
    port = free_port()
    env = dict(os.environ, WORKBENCH_WORKSPACE=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, page = time.time() + 30, None
        while time.time() < deadline and page is None:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
            except OSError:
                time.sleep(0.2)
        assert page is not None, proc.stderr.read() if proc.poll() is not None else "no answer"
        assert "Workbench" in page
        listening = {c.laddr.ip for c in psutil.Process(proc.pid).net_connections() if c.status == psutil.CONN_LISTEN}
        assert listening and listening <= {"127.0.0.1"}, listening
    finally:
        proc.terminate()
        proc.wait(10)


def test_each_browser_session_runs_this_workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path))
    cmd = serve_command()
    assert cmd.startswith(sys.executable) and f"--workspace {tmp_path}" in cmd and cmd.endswith(" tui")


def test_a_port_in_use_or_out_of_range_is_a_one_line_error(tmp_path):
    """Were bare tracebacks: aiohttp's OSError 'address already in use', OverflowError for --port 99999."""
    env = {**os.environ, "WORKBENCH_WORKSPACE": str(tmp_path)}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for argv, expect in ((["--port", str(port)], f"error: --port: cannot listen on 127.0.0.1:{port}: "),
                             (["--port", "99999"], "error: --port: 99999 is not a TCP port (1-65535)")):
            out = subprocess.run([sys.executable, "-m", "workbench", "serve", *argv], env=env, capture_output=True,
                                 text=True, timeout=60)
            assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
            assert out.stderr.startswith(expect), out.stderr
