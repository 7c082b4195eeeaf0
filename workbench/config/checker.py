"""The warm checker: a small resident process that keeps heavy libraries imported (torch,
transformers, TRL) and runs a workbench function on request, like dmypy for type checks.

`workbench validate` uses it to build the trainer's real config object
(workbench.config.realargs.answer) without paying the import of TRL on every edit. It is
never needed for correctness: anything that goes wrong (no private runtime dir, a start
that fails, a crash, a timeout) returns None and the caller falls back to a child process.

- Where: a UNIX socket `checker-KEY.sock` in a private per-user runtime dir (mode 0700;
  platformdirs' user_runtime_dir, else `~/.cache/workbench/run`), connections from other users refused.
- Which: KEY hashes the Python executable and version, the versions of the libraries it
  keeps imported, the source of the workbench and its built-in plugins, and the environment
  read at import time (PYTHONPATH, device visibility, HF_/TRANSFORMERS_/TORCH... variables),
  so an upgrade or an edited workbench never reaches an old checker: it gets a new one.
- How: the first client binds the socket (under a lock, so one checker per KEY) and hands it
  to a new detached process, then sends its request at once; the request waits in the
  socket's backlog while the checker imports. The checker forks once per request: the fork
  takes the request's environment and working directory wholesale (the environment the
  builder reads travels with each request), runs the function, replies and exits, so no
  state (environment, Accelerate's singletons, a CUDA context) survives a request and
  devices are probed fresh each time; the resident process itself never initializes CUDA.
- When it ends: after WORKBENCH_CHECKER_IDLE seconds without a request (default 900), or on
  `python -m workbench.config.checker stop`. WORKBENCH_CHECKER=0 turns it off.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import select
import socket
import stat
import struct
import subprocess
import sys
import time
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

IDLE_S = 900.0
REQUEST_TIMEOUT = 300.0
_MAX_MESSAGE = 64 << 20
_SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes on Linux
# Variables read while the kept libraries are imported (not per request): a different value gets its own checker.
_IMPORT_ENV_PREFIXES = ("PYTHON", "LD_", "CUDA_", "HIP_", "ROCR_", "NVIDIA_", "PYTORCH_", "TORCH", "TRANSFORMERS_",
                        "HF_", "HUGGINGFACE_", "TRL_", "PEFT_", "ACCELERATE_", "BITSANDBYTES_", "USE_", "XLA_")
# The trainer libraries a checker keeps imported (their versions are part of its key).
LIBRARIES = ("torch", "transformers", "trl", "accelerate", "peft")
# Top-level packages the checker may import into its resident process (fork-safe: no CUDA at import).
WARMABLE = ("torch", "transformers", "trl", "peft", "accelerate", "workbench")
_SERVE = "import sys; from workbench.config.checker import main; sys.exit(main(sys.argv[1:]))"


def check_env() -> dict[str, str]:
    """The environment a check runs in (a child process's, or a checker fork's): this one, quieter."""
    return dict(os.environ, PYTHONWARNINGS="ignore", TOKENIZERS_PARALLELISM="false")


def enabled() -> bool:
    return os.environ.get("WORKBENCH_CHECKER", "1").strip().lower() not in ("0", "off", "no", "false") and \
        sys.platform.startswith("linux") and hasattr(os, "fork")


# --------------------------------------------------------------------------- where and which


def _private_dir(path: Path, parents: bool = False) -> bool:
    """Create `path` (0700) or accept it when it is a real directory of ours that nobody else can enter."""
    try:
        path.mkdir(mode=0o700, parents=parents, exist_ok=True)
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            return False
        if info.st_mode & 0o077:
            os.chmod(path, 0o700)
        return True
    except OSError:
        return False


def runtime_dir() -> Path | None:
    """The private per-user folder of the checker's socket, or None when none can be had."""
    from workbench.paths import user_cache_dir

    candidates = []
    try:
        import platformdirs

        with warnings.catch_warnings():  # without XDG_RUNTIME_DIR it falls back to /tmp/runtime-UID: checked below
            warnings.simplefilter("ignore")
            candidates.append(Path(platformdirs.user_runtime_dir("workbench", ensure_exists=False)))
    except Exception:  # noqa: BLE001 - platformdirs missing or broken: the cache dir will do
        pass
    for path in candidates:  # platformdirs checked its parent; only the leaf is made here
        if _private_dir(path):
            return path
    fallback = user_cache_dir() / "run"
    return fallback if _private_dir(fallback, parents=True) else None


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def source_roots() -> list[Path]:
    """The workbench's own source folders (the package and the built-in plugins)."""
    import importlib.util

    import workbench

    roots = [Path(workbench.__file__).parent]
    spec = importlib.util.find_spec("workbench_plugins")
    roots += [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    return roots


def source_hash(roots: list[Path]) -> str:
    """A hash of every .py file under `roots` (relative name and content)."""
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            try:
                data = path.read_bytes()
            except OSError:
                continue
            digest.update(str(path.relative_to(root)).encode() + b"\0" + data + b"\0")
    return digest.hexdigest()


def key_material(libraries: tuple[str, ...] = LIBRARIES) -> dict[str, Any]:
    """What a checker's answers depend on beyond each request (see the module docstring)."""
    return {"python": os.path.realpath(sys.executable), "python_version": sys.version,
            "libraries": {name: _version(name) for name in libraries},
            "workbench": source_hash(source_roots()),
            "env": {k: v for k, v in sorted(os.environ.items()) if k.startswith(_IMPORT_ENV_PREFIXES)}}


def checker_key(libraries: tuple[str, ...] = LIBRARIES) -> str:
    return hashlib.sha256(json.dumps(key_material(libraries), sort_keys=True).encode()).hexdigest()[:20]


# --------------------------------------------------------------------------- the client


class Pending:
    """A request sent to a checker; `result()` waits for its answer (None when there is none)."""

    def __init__(self, sock: socket.socket, timeout: float):
        self.sock, self.deadline = sock, time.monotonic() + timeout

    def result(self) -> Any | None:
        try:
            reply = _read_line(self.sock, self.deadline)
            message = json.loads(reply) if reply else None
        except (OSError, ValueError):
            message = None
        finally:
            self.close()
        return message.get("result") if isinstance(message, dict) and "result" in message else None

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _read_line(sock: socket.socket, deadline: float) -> bytes | None:
    chunks, size = [], 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        chunk = sock.recv(1 << 16)
        if not chunk:
            return None
        chunks.append(chunk)
        size += len(chunk)
        if b"\n" in chunk:
            return b"".join(chunks).split(b"\n", 1)[0]
        if size > _MAX_MESSAGE:
            return None


def _connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
        return sock
    except OSError:
        sock.close()
        return None


def socket_path(folder: Path, key: str) -> Path:
    return folder / f"checker-{key}.sock"


def _start(folder: Path, key: str, warm: list[str], env: dict[str, str]) -> socket.socket | None:
    """Bind the checker's socket here (one starter at a time), hand it to a new checker process, connect."""
    path = socket_path(folder, key)
    with open(folder / "checker.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sock = _connect(path)  # another client started it meanwhile
        if sock is not None:
            return sock
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            path.unlink(missing_ok=True)  # a dead checker's socket
            listener.bind(str(path))
            os.chmod(path, 0o600)  # (the folder is the user's alone already; no umask change: threads)
            listener.listen(64)
            log = os.open(folder / f"checker-{key}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:  # through a shell that leaves it running and exits: the checker is no child of ours to reap
                subprocess.run(["/bin/sh", "-c", '"$0" "$@" &', sys.executable, "-c", _SERVE, "serve",
                                str(listener.fileno()), key, *warm], pass_fds=(listener.fileno(),),
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, cwd=folder, env=env,
                               start_new_session=True, timeout=30, check=True)
            finally:
                os.close(log)
        except (OSError, subprocess.SubprocessError):
            return None
        finally:
            listener.close()
        return _connect(path)


def ensure(warm: list[str], env: dict[str, str] | None = None, libraries: tuple[str, ...] = LIBRARIES) -> bool:
    """Make sure a checker runs for this environment (start one, importing `warm`, without waiting for it);
    False when the checker is off or cannot be had."""
    if not enabled():
        return False
    folder = runtime_dir()
    if folder is None:
        return False
    path = socket_path(folder, checker_key(libraries))
    if len(os.fsencode(str(path))) > _SOCKET_PATH_MAX:
        return False
    sock = _connect(path) or _start(folder, checker_key(libraries), warm, check_env() if env is None else env)
    if sock is None:
        return False
    sock.close()  # a connection that says nothing: the checker goes on waiting for the next
    return True


def submit(call: str, args: dict, *, warm: list[str], env: dict[str, str] | None = None,
           libraries: tuple[str, ...] = LIBRARIES, timeout: float = REQUEST_TIMEOUT) -> Pending | None:
    """Send `call(**args)` (a "workbench.module:function") to the warm checker, starting one when none runs.

    It runs in a fork of the checker with `env` (default: check_env()) as its whole environment
    and this process's working directory. None when the checker is off or cannot be reached
    (use a child process then).
    """
    if not enabled():
        return None
    env = check_env() if env is None else env
    folder = runtime_dir()
    if folder is None:
        return None
    key = checker_key(libraries)
    path = socket_path(folder, key)
    if len(os.fsencode(str(path))) > _SOCKET_PATH_MAX:
        return None
    sock = _connect(path) or _start(folder, key, warm, env)
    if sock is None:
        return None
    message = {"op": "call", "call": call, "args": args, "env": env, "cwd": os.getcwd(), "warm": warm}
    try:
        sock.settimeout(timeout)
        sock.sendall(json.dumps(message, default=str).encode() + b"\n")
    except OSError:
        sock.close()
        return None
    return Pending(sock, timeout)


def control(op: str, libraries: tuple[str, ...] = LIBRARIES, timeout: float = 10.0,
            path: Path | None = None) -> dict | None:
    """"ping" ({pid, key, served, since}) or "stop" the checker of this environment (or the one at `path`);
    None when none answers."""
    folder = runtime_dir()
    if path is None and folder is not None:
        path = socket_path(folder, checker_key(libraries))
    sock = _connect(path) if path else None
    if sock is None:
        return None
    try:
        sock.sendall(json.dumps({"op": op}).encode() + b"\n")
        reply = _read_line(sock, time.monotonic() + timeout)
        return json.loads(reply) if reply else None
    except (OSError, ValueError):
        return None
    finally:
        sock.close()


# --------------------------------------------------------------------------- the checker process


def _log(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} checker {os.getpid()}: {text}", file=sys.stderr, flush=True)


# Hidden while the resident process imports: CUDA initialized before a fork is unusable in the fork,
# and some imports probe devices (bitsandbytes asks for each GPU's compute capability).
_HIDE_DEVICES = {"CUDA_VISIBLE_DEVICES": "", "HIP_VISIBLE_DEVICES": "", "PYTORCH_NVML_BASED_CUDA_CHECK": "1"}
# Modules whose cached answers may depend on devices or the environment: cleared in each fork.
_CACHED_PROBES = ("transformers.utils.import_utils", "accelerate.utils.imports", "trl.import_utils",
                  "peft.import_utils")
_warmed: set[str] = set()


def _warm(names: list[str]) -> None:
    """Import what requests will need (modules of WARMABLE packages only), with the devices hidden."""
    import importlib

    from workbench.specs import load_object

    saved = {k: os.environ.get(k) for k in _HIDE_DEVICES}
    os.environ.update(_HIDE_DEVICES)
    try:
        for name in names:
            if name.split(":")[0].split(".")[0] not in WARMABLE or name in _warmed:
                continue
            _warmed.add(name)
            try:
                load_object(name) if ":" in name else importlib.import_module(name)
            except Exception as exc:  # noqa: BLE001 - the fork imports it again and reports the error
                _log(f"warming {name}: {type(exc).__name__}: {exc}")
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        raise RuntimeError("CUDA was initialized while importing; forks could not use it")


def _clear_cached_probes() -> None:
    for name in _CACHED_PROBES:
        module = sys.modules.get(name)
        for value in vars(module).values() if module else ():
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()


def _forks_see_devices(timeout: float = 120.0) -> bool:
    """Whether a fork of this process can use this host's GPUs (an import may have initialized CUDA here)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return True
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            if torch.cuda.device_count():
                torch.cuda.get_device_capability(0)
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) == 0
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return False


def _peer_uid(conn: socket.socket) -> int | None:
    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        return struct.unpack("3i", creds)[1]
    except OSError:
        return None


def _receive(conn: socket.socket) -> dict | None:
    """The request on a new connection: one JSON line from a process of this user, else None."""
    if _peer_uid(conn) != os.getuid():
        return None
    try:
        line = _read_line(conn, time.monotonic() + 10)
        message = json.loads(line) if line else None
    except (OSError, ValueError):
        return None
    return message if isinstance(message, dict) else None


def _in_fork(conn: socket.socket, message: dict) -> None:
    """The forked child: the request's environment and folder, the call, the reply; never returns."""
    code = 0
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)  # what the call prints (it may show config values) goes nowhere
        os.environ.clear()
        os.environ.update(message["env"])
        cwd = message.get("cwd")
        if cwd and os.path.isdir(cwd):
            os.chdir(cwd)
            sys.path[0] = cwd  # as `python -m` gives a child process started there
        _clear_cached_probes()
        call = message["call"]
        if not call.startswith("workbench."):
            raise ValueError(f"not a workbench function: {call}")
        from workbench.specs import load_object

        reply = {"result": load_object(call)(**message["args"])}
    except BaseException as exc:  # noqa: BLE001 - reported; the client falls back to a child process
        reply, code = {"error": f"{type(exc).__name__}: {exc}"}, 1
    try:
        conn.settimeout(30)
        conn.sendall(json.dumps(reply, default=str).encode() + b"\n")
    except OSError:
        code = 1
    os._exit(code)


def serve(fd: int, key: str, warm: list[str], idle: float) -> int:
    """The checker's loop: answer requests on the listening socket `fd` until idle for `idle` seconds."""
    import signal

    listener = socket.socket(fileno=fd)
    path = listener.getsockname()
    path = path.decode() if isinstance(path, bytes) else path
    inode = os.stat(path).st_ino
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    started, served, children = time.time(), 0, {}
    try:
        _warm(warm)
        if not _forks_see_devices():
            raise RuntimeError("a fork of the checker cannot use this host's GPUs")
    except Exception as exc:  # noqa: BLE001 - clients fall back to child processes
        _log(f"cannot serve: {exc}")
        _release(listener, path, inode)
        return 1
    _log(f"ready ({time.time() - started:.1f} s to import)")
    last, stopping = time.monotonic(), False
    while True:
        for pid, deadline in list(children.items()):
            try:
                done = os.waitpid(pid, os.WNOHANG)[0] != 0
            except ChildProcessError:
                done = True
            if done:
                del children[pid]
            elif time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
        idle_left = last + idle - time.monotonic()
        if stopping or (idle_left <= 0 and not children) or not _still_ours(path, inode):
            break
        wait = min(idle_left, 0.5) if children else idle_left
        if not select.select([listener], [], [], max(wait, 0.01))[0]:
            continue
        try:
            conn, _ = listener.accept()
        except OSError:
            continue
        last = time.monotonic()
        with conn:
            message = _receive(conn)
            op = message.get("op") if message else None
            if op in ("ping", "stop"):
                stopping = op == "stop"
                reply = {"pid": os.getpid(), "key": key, "served": served, "since": started, "stopping": stopping}
                try:
                    conn.sendall(json.dumps(reply).encode() + b"\n")
                except OSError:
                    pass
            if op != "call":
                continue
            served += 1
            _log(f"request {served}: {message.get('call')}")
            pid = os.fork()
            if pid == 0:
                signal.signal(signal.SIGHUP, signal.SIG_DFL)
                listener.close()
                _in_fork(conn, message)
            children[pid] = time.monotonic() + REQUEST_TIMEOUT
        try:
            _warm(list(message.get("warm") or []))  # a new class: the next request finds it imported
        except Exception as exc:  # noqa: BLE001
            _log(f"cannot serve: {exc}")
            break
    _release(listener, path, inode)
    _log(f"exiting after {served} request(s)")
    return 0


def _still_ours(path: str, inode: int) -> bool:
    try:
        return os.stat(path).st_ino == inode
    except OSError:
        return False


def _release(listener: socket.socket, path: str, inode: int) -> None:
    """Remove the socket's name first (new clients start a new checker), then close it."""
    if _still_ours(path, inode):
        try:
            os.unlink(path)
        except OSError:
            pass
    listener.close()


def stop_all() -> list[int]:
    """Stop every checker of this user (any environment); their pids."""
    folder = runtime_dir()
    replies = [control("stop", path=p) for p in sorted(folder.glob("checker-*.sock"))] if folder else []
    return [r["pid"] for r in replies if r]


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"] and len(argv) >= 3:
        idle = float(os.environ.get("WORKBENCH_CHECKER_IDLE") or IDLE_S)
        return serve(int(argv[1]), argv[2], argv[3:], idle)
    if argv[:1] == ["stop"]:
        pids = stop_all()
        print(f"stopping warm checker(s): pid {', '.join(map(str, pids))}" if pids else "no warm checker runs")
        return 0
    if argv[:1] == ["status"]:
        reply = control("ping")
        print(f"warm checker running: pid {reply['pid']}, {reply['served']} request(s) served" if reply
              else "no warm checker runs for this environment")
        return 0
    print("usage: python -m workbench.config.checker status|stop", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
