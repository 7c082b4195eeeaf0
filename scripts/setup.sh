#!/usr/bin/env bash
# Creates .venv with workbench and its test tools. Reuses a torch the system Python
# already has (no multi-GB download); otherwise installs torch 2.13.0 (the CPU build on
# CPU-only machines here; PyPI's default build elsewhere) before anything else.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  if "$PY" -c 'import torch, sys; v = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2]); sys.exit(0 if (2, 4) <= v < (3, 0) else 1)' 2>/dev/null; then
    echo "setup: reusing the system's torch" >&2
    "$PY" -m venv --system-site-packages .venv
  else
    "$PY" -m venv .venv
  fi
fi
.venv/bin/python -m pip install -q --upgrade pip
if ! .venv/bin/python -c 'import torch' 2>/dev/null; then
  echo "setup: installing torch 2.13.0" >&2
  .venv/bin/python -m pip install -q "torch==2.13.0"
fi
.venv/bin/python -m pip install -q -e ".[dev]"
# DeepSpeed (the [deepspeed] extra) compiles against the torch already installed: without build
# isolation, so no other torch is fetched. The DeepSpeed config tests run with it; without it they
# say why they skip.
if ! .venv/bin/python -c 'import deepspeed' 2>/dev/null; then
  .venv/bin/python -m pip install -q --no-build-isolation "deepspeed>=0.19,<0.20" \
    || echo "setup: deepspeed could not be installed; its tests will skip" >&2
fi
.venv/bin/python -c 'import workbench, workbench_plugins, trl, textual' >/dev/null
echo "setup: ok (.venv)" >&2
