"""Opening the Configs tab and a trainer's form never imports the training stack into the TUI.

The [trainer.args] fields come from the cached field schema (built in a child process when
the cache is cold), not from importing the trainer's config class (TRL pulls in torch).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "bitsandbytes")

SCRIPT = r"""
import asyncio, json, sys, time
from workbench.tui.app import WorkbenchApp
from workbench.tui.panels.configs import ConfigsPanel, FieldRow

async def until(pilot, predicate, what):
    deadline = time.monotonic() + 300
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await pilot.pause(0.05)

async def main():
    app = WorkbenchApp(runs_poll=0.2, gpu_poll=0.2)
    shown = {}
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.registry is not None, "registry")
        app.show_tab("configs")
        panel = app.query_one(ConfigsPanel)
        await until(pilot, lambda: any(e.kind == "preset" for e in panel.entries), "preset list")
        for preset in sys.argv[2].split(","):
            panel.open_preset(preset)
            await until(pilot, lambda: panel.form is not None and panel.form.has_trainer_fields, "trainer fields")
            await until(pilot, lambda: any(r.spec.path[:2] == ("trainer", "args") for r in panel.query(FieldRow)),
                        "trainer.args rows")
            await until(pilot, lambda: panel.last_check is not None and not panel.pending, "validation")
            form = panel.form
            shown[preset] = {"check": list(panel.last_check), "class": form.trainer_class,
                             "learning_rate": form.field("trainer.args.learning_rate").kind,
                             "rows": sum(r.spec.path[:2] == ("trainer", "args") for r in panel.query(FieldRow))}
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in sys.argv[1].split(","))
    print(json.dumps({"heavy": heavy, "shown": shown}))

asyncio.run(main())
"""


def test_configs_tab_and_trainer_form_import_no_torch(tmp_path):
    """Cold schema cache (built in a child), two trainers' forms, validation: torch never enters the TUI."""
    env = dict(os.environ, WORKBENCH_WORKSPACE=str(tmp_path), WORKBENCH_CACHE=str(tmp_path / "cache"),
               WORKBENCH_CONFIG_DIR=str(tmp_path / ".user-config"), WORKBENCH_FAKE_GPUS="1")
    out = subprocess.run([sys.executable, "-c", SCRIPT, ",".join(HEAVY), "sft,dpo"], capture_output=True,
                         text=True, env=env, timeout=900, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [], f"the TUI imported {result['heavy']}"
    for preset, cls in (("sft", "trl:SFTConfig"), ("dpo", "trl:DPOConfig")):
        shown = result["shown"][preset]
        assert shown["class"] == cls and shown["learning_rate"] == "float" and shown["rows"] > 5, shown
        assert shown["check"] == [True, "ok"], shown
    schemas = sorted(p.name for p in (tmp_path / "cache" / "argschema").glob("*.json"))
    assert [s.split("-")[0] for s in schemas] == ["trl_DPOConfig", "trl_SFTConfig"], schemas
