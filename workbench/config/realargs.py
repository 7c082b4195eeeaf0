"""Build the trainer's real config object (e.g. `trl.SFTConfig(**args)`) before launch, so its
own `__post_init__` checks fire in `validate` and `run` rather than minutes into the job.

It is built exactly as the job builds it (`workbench.training.models.build_training_args`:
the workbench-managed fields, the trainer's default args, then `[trainer.args]`), with the
environment the worker sets (no GPU: ACCELERATE_USE_CPU; the resolved mixed precision).

Importing the trainer's library costs seconds and hundreds of MB (TRL imports torch), so the
object is never built in validate's or the TUI's own process: the warm checker
(workbench.config.checker, a resident process that keeps TRL imported) builds it in a fork,
else a child process does; both run `answer`, the one verdict function. The verdict is cached
under the argschema cache, keyed by everything it depends on (the class and the versions of
its libraries, the config sections the builder reads, this host's devices and the environment
the builder reads), so `validate` then `run`, or a second `validate`, pay nothing. The same
call records the class's field schema when that is not cached yet (one import for both).
`Check` starts the work at once and waits for it in `result()`, so `validate` can overlap the
import with its own cheap checks and data scanning.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import weakref
from pathlib import Path
from typing import Any

from workbench.config.argschema import (cache_dir, cached_fields, installed_version, package_version, store_fields,
                                        write_cache_file)

CHILD_TIMEOUT = 300.0
# The environment that building the object reads (device visibility, Accelerate's and torch.distributed's
# variables): part of a verdict's cache key, and sent whole with each request to the warm checker.
_BUILD_ENV_PREFIXES = ("ACCELERATE_", "CUDA_", "HIP_", "ROCR_", "TORCHELASTIC_", "OMPI_", "PMI_", "MV2_", "FSDP_")
_BUILD_ENV_NAMES = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "NODE_RANK", "GROUP_RANK",
                    "MASTER_ADDR", "MASTER_PORT")
_BUILDER_FILES = ("training/models.py", "config/realargs.py")
# What the warm checker keeps imported for these requests (besides the config class itself).
_WARM = ["torch", "workbench.config.realargs", "workbench.config.argschema", "workbench.training.models",
         "workbench.worker"]


def build_env() -> dict[str, str]:
    """The variables of this environment that building the config object reads."""
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith(_BUILD_ENV_PREFIXES) or k in _BUILD_ENV_NAMES}


def has_eval(config: dict) -> bool:
    data = config["data"]
    return bool(data.get("eval")) or float(data.get("eval_fraction") or 0) > 0


_TOKENIZER_MODEL_KEYS = ("path", "tokenizer", "revision", "trust_remote_code", "chat_template")
# A folder's files the tokenizer is read from (never the weights): their sizes and times key a verdict.
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                    "tokenizer.model", "vocab.json", "vocab.txt", "merges.txt", "config.json", "chat_template.jinja")


def _tokenizer_files(model: dict) -> list | None:
    """(name, size, mtime_ns) of a local tokenizer folder's files; None for a Hub id (the job downloads it)."""
    source = model.get("tokenizer") or model.get("path")
    folder = Path(source) if isinstance(source, str) else None
    if folder is None or not folder.is_dir():
        return None
    found = []
    for name in _TOKENIZER_FILES:
        try:
            st = (folder / name).stat()
        except OSError:
            continue
        found.append([name, st.st_size, st.st_mtime_ns])
    return found


def request_of(config: dict, spec) -> dict:
    """What the child needs to build the object as the job would."""
    model = {k: config["model"][k] for k in _TOKENIZER_MODEL_KEYS if config.get("model", {}).get(k) is not None}
    return copy.deepcopy({"config_class": spec.config_class, "default_args": dict(spec.default_args),
                          "config": {k: config[k] for k in ("run", "trainer", "launch", "eval") if k in config},
                          "has_eval": has_eval(config), "model": model, "tokenizer_files": _tokenizer_files(model)})


def verdict_key(request: dict) -> str | None:
    """Cache key of a request, or None when it cannot be cached (a class from no installed package)."""
    import workbench

    own = package_version(request["config_class"])
    if own is None:
        return None
    top = request["config_class"].split(":")[0].split(".")[0]
    here = Path(workbench.__file__).parent
    builder = hashlib.sha256(b"".join((here / f).read_bytes() for f in _BUILDER_FILES if (here / f).is_file()))
    from workbench.config.checker import LIBRARIES

    material = {"request": request, "package": [top, own], "libraries": {n: installed_version(n) for n in LIBRARIES},
                "workbench": workbench.__version__, "builder": builder.hexdigest(), "host": socket.gethostname(),
                "env": build_env(), "python": sys.version.split()[0]}
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _verdict_path(key: str) -> Path:
    return cache_dir() / "verdicts" / f"{key}.json"


def cached_verdict(key: str | None) -> dict | None:
    if key is None:
        return None
    try:
        verdict = json.loads(_verdict_path(key).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return verdict if isinstance(verdict, dict) and "ok" in verdict else None


def _store_verdict(key: str | None, verdict: dict) -> None:
    if key is not None and not verdict.get("crashed"):
        write_cache_file(_verdict_path(key), verdict)


ANSWER = "workbench.config.realargs:answer"
FIELDS = "workbench.config.argschema:fields_for"


class _ChildSession:
    """A child process that imports the trainer's library at once, then runs the calls sent on its stdin
    (one JSON line each, {"call": "workbench.module:function", "args": {...}}) and answers each with one
    line on its stdout, until its stdin closes. What the calls print goes to its stderr (a file)."""

    def __init__(self, warm: list[str], env: dict[str, str]):
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, "-m", "workbench.config.realargs", "--serve", *warm],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, env=env)
        self.failure = ""
        self._finalizer = weakref.finalize(self, _end_child, self.proc, self.err)

    def ask(self, call: str, args: dict) -> Any | None:
        """The call's result; None when the child failed, timed out or the call raised (`failure` says which)."""
        import select

        try:
            self.proc.stdin.write(json.dumps({"call": call, "args": args}, default=str).encode() + b"\n")
            self.proc.stdin.flush()
            ready = select.select([self.proc.stdout], [], [], CHILD_TIMEOUT)[0]
            line = self.proc.stdout.readline() if ready else None
        except (OSError, ValueError):
            line = b""
        if line is None:
            self.failure = f"building it took over {CHILD_TIMEOUT:.0f} s (importing its library hangs?)"
            self.close()
            return None
        try:
            reply = json.loads(line) if line else None
        except ValueError:
            reply = None
        if isinstance(reply, dict) and "result" in reply:
            return reply["result"]
        if isinstance(reply, dict):
            self.failure = f"the check process failed: {reply.get('error')}"
        else:
            self.close()
            self.err.seek(0)
            lines = self.err.read().decode(errors="replace").strip().splitlines()
            self.failure = f"the check process failed: {lines[-1] if lines else f'exit code {self.proc.returncode}'}"
        return None

    def close(self) -> None:
        self._finalizer()


def _end_child(proc: subprocess.Popen, err) -> None:
    """Done or abandoned (a validate that failed first): it need not finish an import nobody waits for."""
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for stream in (proc.stdin, proc.stdout, err):
        try:
            stream.close()
        except OSError:
            pass


def probe(request: dict, want_fields: bool) -> dict:
    """`answer` in a child process: {"verdict": {...}, "fields": {...} | None}."""
    from workbench.config.checker import check_env

    session = _ChildSession([*_WARM, request["config_class"]], check_env())
    try:
        result = session.ask(ANSWER, {"request": request, "want_fields": want_fields})
    finally:
        session.close()
    return result if isinstance(result, dict) else {"verdict": {"ok": False, "crashed": True,
                                                                "error": session.failure}}


# Config classes of the built-in plugins are plain dataclasses (no torch): built in-process.
_LIGHT_PACKAGES = ("workbench_plugins",)


def needs_child(config_class: str) -> bool:
    """Whether building `config_class` needs a child process (its module is not known to be light)."""
    module = config_class.split(":")[0]
    return module.split(".")[0] not in _LIGHT_PACKAGES and module not in sys.modules


class Check:
    """Building spec.config_class for one validate: the process that builds it starts when this is made
    (so its import overlaps the caller's other checks), the object is built from the config as it is
    when `result(config)` asks.

    That process is the warm checker (started when none runs), else a child process started now;
    a class from no installed package (a local plugin, edited as it is used) always gets the child:
    a resident checker would keep its old code. Each object is built once, in a fresh process or
    fork. need_fields: the class's field schema is wanted too (default: when it is not cached).
    """

    def __init__(self, config: dict, spec, need_fields: bool | None = None):
        from workbench.config.argschema import cacheable

        self.spec = spec
        self.in_process = not needs_child(spec.config_class)
        self.need_fields = not self.in_process and cacheable(spec.config_class) and (
            cached_fields(spec.config_class) is None if need_fields is None else need_fields)
        self._warm = [*_WARM, spec.config_class]
        self._checker = False
        self._session: _ChildSession | None = None
        self._done: tuple[dict | None, dict] | None = None
        self._fields: dict | None = None
        if self.in_process:
            return
        if not self.need_fields and cached_verdict(verdict_key(request_of(config, spec))) is not None:
            return  # most likely cached at the end too: nothing to start
        from workbench.config import checker

        self._checker = cacheable(spec.config_class) and checker.ensure(self._warm)
        if not self._checker:
            self._session = _ChildSession(self._warm, checker.check_env())

    def _ask(self, call: str, args: dict) -> Any | None:
        from workbench.config import checker

        if self._checker:
            pending = checker.submit(call, args, warm=self._warm, timeout=CHILD_TIMEOUT)
            result = pending.result() if pending is not None else None
            if result is not None:
                return result
            self._checker = False  # it could not answer: a child process from now on
        if self._session is None:
            self._session = _ChildSession(self._warm, checker.check_env())
        return self._session.ask(call, args)

    def fields(self) -> dict | None:
        """The class's field records, stored in the schema cache; None when they could not be read."""
        if self.in_process:
            return None
        if self._fields is None:
            fields = self._ask(FIELDS, {"class_path": self.spec.config_class})
            if isinstance(fields, dict):
                store_fields(self.spec.config_class, fields)
                self._fields = fields
        return self._fields

    def result(self, config: dict) -> tuple[dict | None, dict]:
        """(the fields when need_fields, the verdict) of building the object from `config` as it is now."""
        if self._done is None:
            fields = self.fields() if self.need_fields else None
            self._done = fields, self._verdict(request_of(config, self.spec))
            self.close()
        return self._done

    def _verdict(self, request: dict) -> dict:
        if self.in_process:
            return _build(request, in_process=True)
        key = verdict_key(request)
        verdict = cached_verdict(key)
        if verdict is not None:
            return verdict
        reply = self._ask(ANSWER, {"request": request, "want_fields": False})
        if isinstance(reply, dict) and isinstance(reply.get("verdict"), dict):
            verdict = reply["verdict"]
        else:
            verdict = {"ok": False, "crashed": True, "error": self._session.failure if self._session else
                       "the check process gave no answer"}
        _store_verdict(key, verdict)
        return verdict

    def close(self) -> None:
        """End the child process (a validate that is done, or failed before it needed the verdict)."""
        if self._session is not None:
            self._session.close()


def check(config: dict, spec, need_fields: bool) -> tuple[dict | None, dict]:
    """(fields when need_fields, verdict) of building spec.config_class from `config`."""
    return Check(config, spec, need_fields).result(config)


# --------------------------------------------------------------------------- the child


def _load_class(class_path: str) -> Any:
    """The class; a local plugin's module is importable once the registry has loaded the plugins (as in the worker)."""
    from workbench.specs import load_object

    try:
        return load_object(class_path)
    except ImportError:
        from workbench.plugin_manager import get_registry

        get_registry()
        return load_object(class_path)


def _is_training_arguments(cls: type) -> bool:
    return any(c.__name__ == "TrainingArguments" for c in getattr(cls, "__mro__", ()))


def _trainer_refusal(args: Any, has_eval: bool) -> dict | None:
    """What the trainer refuses when it is built from `args` (not the config class itself): transformers'
    Trainer an eval_strategy other than "no" without an eval_dataset (the job passes one only when the
    config has evaluation rows), TRL's SFTTrainer padding_free without packing."""
    strategy = str(getattr(getattr(args, "eval_strategy", None), "value", getattr(args, "eval_strategy", None)))
    if not has_eval and strategy not in ("None", "no"):
        return {"where": "trainer.args.eval_strategy", "refused_by": "the Trainer",
                "error": f"eval_strategy = '{strategy}' needs an eval_dataset, and the config has no evaluation rows: "
                         "set data.eval or data.eval_fraction, or eval_strategy = \"no\""}
    sft = any(c.__name__ == "SFTConfig" for c in type(args).__mro__)
    if sft and getattr(args, "padding_free", False) and not args.packing and args.max_length is not None:
        return {"where": "trainer.args.padding_free", "refused_by": "SFTTrainer",
                "error": "padding_free = true without packing would not enforce max_length: set packing = true "
                         "as well, or padding_free = false"}
    return None


def _pad_token_refusal(args: Any, request: dict) -> dict | None:
    """SFTTrainer and RewardTrainer pad with `pad_token`, else the tokenizer's pad or eos token, and refuse
    one that is not in its vocabulary: a tokenizer folder without tokenizer_config.json may have neither.
    The tokenizer is loaded as the job loads it; a Hub id is left to the job (nothing to read here)."""
    names = {c.__name__ for c in type(args).__mro__}
    trainer = "SFTTrainer" if "SFTConfig" in names else "RewardTrainer" if "RewardConfig" in names else None
    model = request.get("model") or {}
    if trainer is None or request.get("tokenizer_files") is None:
        return None
    from workbench.training.models import load_tokenizer

    try:
        tokenizer = load_tokenizer({"model": model})
    except Exception:  # noqa: BLE001 - unreadable files are the model checks' concern, not this one's
        return None
    pad = getattr(args, "pad_token", None) or tokenizer.pad_token or tokenizer.eos_token
    if pad is not None and pad in tokenizer.get_vocab():
        return None
    special = sorted({t for t in tokenizer.all_special_tokens if t} |
                     {t.content for t in getattr(tokenizer, "added_tokens_decoder", {}).values() if t.special})
    source = model.get("tokenizer") or model.get("path")
    why = (f"the tokenizer of {source} has neither a pad_token nor an eos_token" if pad is None
           else f"'{pad}' is not in the vocabulary of the tokenizer of {source}")
    offer = f" ({', '.join(special[:8])})" if special else ""
    return {"where": "trainer.args.pad_token", "refused_by": trainer,
            "error": f"{why}: set trainer.args.pad_token to one of its special tokens{offer}, or add "
                     "pad_token / eos_token to its tokenizer_config.json"}


def _build(request: dict, in_process: bool = False) -> dict:
    """Build the object as the worker would; the verdict as JSON-able data.

    in_process: a light class built in the caller's process: no device probing (that imports
    torch) and no change to this process's environment.
    """
    import warnings
    from types import SimpleNamespace

    from workbench.errors import WorkbenchError

    config = json.loads(json.dumps(request["config"]))
    args = config["trainer"].get("args", {})
    # TrainingArguments probes the process group of a ddp_backend; outside the job there is none
    # (the backend itself is checked with [launch], workbench.launching.options).
    (config.get("launch", {}).get("ddp") or {}).pop("backend", None)
    args.pop("ddp_backend", None)
    try:
        cls = _load_class(request["config_class"])
    except Exception as exc:  # noqa: BLE001 - reported as the trainer plugin's problem
        return {"ok": False, "import_error": True, "error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
    from workbench.training.models import build_training_args

    if not in_process:
        import torch

        from workbench.worker import resolve_mixed_precision

        if not torch.cuda.is_available():  # as the worker does
            os.environ["ACCELERATE_USE_CPU"] = "true"
        config["launch"]["mixed_precision"] = resolve_mixed_precision(config["launch"].get("mixed_precision", "auto"))
        os.environ["ACCELERATE_MIXED_PRECISION"] = config["launch"]["mixed_precision"]
    with tempfile.TemporaryDirectory(prefix="workbench-args-out-") as out:
        ctx = SimpleNamespace(config=config, output_dir=Path(out) / "checkpoints", run_dir=Path(out),
                              eval_dataset=object() if request["has_eval"] else None,
                              trainer_args={**request["default_args"], **args})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                if _is_training_arguments(cls):  # built by the factories through ctx.training_args(cls)
                    built = build_training_args(ctx, cls)
                    refusal = _trainer_refusal(built, request["has_eval"])
                    if refusal is None:  # in process too: transformers is imported there already
                        refusal = _pad_token_refusal(built, request)
                    if refusal:
                        return {"ok": False, **refusal}
                else:  # a plain dataclass (PPO, evaluate): built from the args, as their factories do
                    names = {f.name for f in dataclasses.fields(cls)}
                    extra = {"output_dir": str(ctx.output_dir)} if "output_dir" in names else {}
                    cls(**{**ctx.trainer_args, **extra})
            except WorkbenchError as exc:
                return {"ok": False, "error": exc.message, "where": exc.where}
            except Exception as exc:  # noqa: BLE001 - the class's own check, reported in one line
                text = " ".join(str(exc).split()) or type(exc).__name__
                return {"ok": False, "error": f"{type(exc).__name__}: {text}"}
    # Warnings about keys the user set (deprecations, ignored values); not the ones every default raises.
    mentioned = sorted({" ".join(str(w.message).split()) for w in caught
                        if any(f"`{k}`" in str(w.message) or f"--{k}" in str(w.message) or f" {k} " in str(w.message)
                               for k in args)})
    return {"ok": True, "warnings": mentioned[:5]}


def answer(request: dict, want_fields: bool = False) -> dict:
    """The verdict of building the object, and the class's field schema when asked: the one
    function both the child process and the warm checker's fork run."""
    verdict = _build(request)
    fields = None
    if want_fields and not verdict.get("import_error"):
        from workbench.config.argschema import fields_of

        fields = fields_of(_load_class(request["config_class"]))
    return {"verdict": verdict, "fields": fields}


def _serve_stdin(warm: list[str]) -> int:
    """The child process of _ChildSession: import `warm` now, then answer calls until stdin closes."""
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # what the calls print goes to stderr, not into the replies
    for name in warm:
        try:
            _load_class(name) if ":" in name else __import__(name)
        except Exception:  # noqa: BLE001 - the call reports it (an import error of the trainer's class)
            pass
    from workbench.specs import load_object

    for line in sys.stdin.buffer:
        try:
            message = json.loads(line)
            if not message["call"].startswith("workbench."):
                raise ValueError(f"not a workbench function: {message['call']}")
            reply = {"result": load_object(message["call"])(**message["args"])}
        except Exception as exc:  # noqa: BLE001 - reported to the caller in one line
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        replies.write(json.dumps(reply, default=str).encode() + b"\n")
        replies.flush()
    return 0


if __name__ == "__main__":  # python -m workbench.config.realargs --serve MODULE|CLASS ...
    sys.exit(_serve_stdin(sys.argv[2:]))
