"""Build the trainer's real config object (e.g. `trl.SFTConfig(**args)`) before launch, so its
own `__post_init__` checks fire in `validate` and `run` rather than minutes into the job.

It is built exactly as the job builds it (`workbench.training.models.build_training_args`:
the workbench-managed fields, the trainer's default args, then `[trainer.args]`), with the
environment the worker sets (no GPU: ACCELERATE_USE_CPU; the resolved mixed precision).

Importing the trainer's library costs seconds and hundreds of MB (TRL imports torch), so the
object is built in a child process, never in validate's or the TUI's own; the verdict is
cached under the argschema cache, keyed by everything it depends on (the class and the
versions of its libraries, the config sections the builder reads, this host's devices), so
`validate` then `run`, or a second `validate`, pay nothing. The same child records the
class's field schema when that is not cached yet (one import for both).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from workbench.config.argschema import cache_dir, installed_version, package_version, store_fields, write_cache_file

CHILD_TIMEOUT = 300.0
_LIBRARIES = ("torch", "transformers", "trl", "accelerate", "peft")
_DEVICE_ENV = ("CUDA_VISIBLE_DEVICES", "ACCELERATE_USE_CPU", "ACCELERATE_MIXED_PRECISION", "HIP_VISIBLE_DEVICES")
_BUILDER_FILES = ("training/models.py", "config/realargs.py")


def has_eval(config: dict) -> bool:
    data = config["data"]
    return bool(data.get("eval")) or float(data.get("eval_fraction") or 0) > 0


def request_of(config: dict, spec) -> dict:
    """What the child needs to build the object as the job would."""
    return {"config_class": spec.config_class, "default_args": dict(spec.default_args),
            "config": {k: config[k] for k in ("run", "trainer", "launch") if k in config} | (
                {"eval": config["eval"]} if "eval" in config else {}),
            "has_eval": has_eval(config)}


def verdict_key(request: dict) -> str | None:
    """Cache key of a request, or None when it cannot be cached (a class from no installed package)."""
    import workbench

    own = package_version(request["config_class"])
    if own is None:
        return None
    top = request["config_class"].split(":")[0].split(".")[0]
    here = Path(workbench.__file__).parent
    builder = hashlib.sha256(b"".join((here / f).read_bytes() for f in _BUILDER_FILES if (here / f).is_file()))
    material = {"request": request, "package": [top, own], "libraries": {n: installed_version(n) for n in _LIBRARIES},
                "workbench": workbench.__version__, "builder": builder.hexdigest(), "host": socket.gethostname(),
                "env": {k: os.environ.get(k) for k in _DEVICE_ENV}, "python": sys.version.split()[0]}
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


def probe(request: dict, want_fields: bool) -> dict:
    """Run the child: {"verdict": {...}, "fields": {...} | None}."""
    with tempfile.TemporaryDirectory(prefix="workbench-args-") as tmp:
        out = Path(tmp) / "result.json"
        (Path(tmp) / "request.json").write_text(json.dumps({**request, "want_fields": want_fields}), encoding="utf-8")
        env = dict(os.environ, PYTHONWARNINGS="ignore", TOKENIZERS_PARALLELISM="false")
        try:
            proc = subprocess.run([sys.executable, "-m", "workbench.config.realargs", tmp], capture_output=True,
                                  text=True, timeout=CHILD_TIMEOUT, env=env, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return {"verdict": {"ok": False, "crashed": True,
                                "error": f"building it took over {CHILD_TIMEOUT:.0f} s (importing its library hangs?)"}}
        try:
            return json.loads(out.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            tail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
            return {"verdict": {"ok": False, "crashed": True, "error": f"the check process failed: {tail}"}}


# Config classes of the built-in plugins are plain dataclasses (no torch): built in-process.
_LIGHT_PACKAGES = ("workbench_plugins",)


def needs_child(config_class: str) -> bool:
    """Whether building `config_class` needs a child process (its module is not known to be light)."""
    module = config_class.split(":")[0]
    return module.split(".")[0] not in _LIGHT_PACKAGES and module not in sys.modules


def check(config: dict, spec, need_fields: bool) -> tuple[dict | None, dict]:
    """(fields when they were built now, verdict) of building spec.config_class from `config`."""
    request = request_of(config, spec)
    if not needs_child(spec.config_class):
        return None, _build(request, in_process=True)
    key = verdict_key(request)
    verdict = cached_verdict(key)
    if verdict is not None and not need_fields:
        return None, verdict
    result = probe(request, want_fields=need_fields)
    fields = result.get("fields")
    if fields:
        store_fields(spec.config_class, fields)
    _store_verdict(key, result["verdict"])
    return fields, result["verdict"]


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
                    build_training_args(ctx, cls)
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


def _child(folder: str) -> int:
    request = json.loads(Path(folder, "request.json").read_text(encoding="utf-8"))
    verdict = _build(request)
    fields = None
    if request.get("want_fields") and not verdict.get("import_error"):
        from workbench.config.argschema import fields_of

        fields = fields_of(_load_class(request["config_class"]))
    Path(folder, "result.json").write_text(json.dumps({"verdict": verdict, "fields": fields}, default=str),
                                           encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1]))
