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
        await asyncio.sleep(0.05)  # not pilot.pause: on a loaded machine the screen may never be idle for it

async def main():
    app = WorkbenchApp(runs_poll=1.0, gpu_poll=1.0)
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
        await until(pilot, lambda: all(w.is_finished for w in app.workers), "workers")  # a quiet shutdown
        await pilot.pause()
        heavy = sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[1].split(",")))
        print(json.dumps({"heavy": heavy, "shown": shown}), flush=True)

asyncio.run(main())
"""


def test_configs_tab_and_trainer_form_import_no_torch(tmp_path):
    """Cold schema cache (built in a child or the warm checker), then a cached one; the form and its
    validation: torch never enters the TUI process. One trainer's form per TUI process (opening a second
    right away races the panel's rebuilds, a separate matter)."""
    env = dict(os.environ, WORKBENCH_WORKSPACE=str(tmp_path), WORKBENCH_CACHE=str(tmp_path / "cache"),
               WORKBENCH_CONFIG_DIR=str(tmp_path / ".user-config"), WORKBENCH_FAKE_GPUS="1")
    for preset, cls in (("sft", "trl:SFTConfig"), ("dpo", "trl:DPOConfig"), ("sft", "trl:SFTConfig")):
        out = subprocess.run([sys.executable, "-c", SCRIPT, ",".join(HEAVY), preset], capture_output=True,
                             text=True, env=env, timeout=900, cwd=tmp_path)
        assert out.returncode == 0, out.stderr[:3000]
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result["heavy"] == [], f"the TUI imported {result['heavy']} with the {preset} form"
        shown = result["shown"][preset]
        assert shown["class"] == cls and shown["learning_rate"] == "float" and shown["rows"] > 5, shown
        assert shown["check"] == [True, "ok"], shown
    schemas = sorted(p.name for p in (tmp_path / "cache" / "argschema").glob("*.json"))
    assert [s.split("-")[0] for s in schemas] == ["trl_DPOConfig", "trl_SFTConfig"], schemas
