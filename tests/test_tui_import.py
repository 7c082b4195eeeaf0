"""The TUI's start-up path never imports the training stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.test_tui_support import make_run

HEAVY = ("torch", "transformers", "datasets", "trl", "peft", "accelerate", "bitsandbytes")

SCRIPT = r"""
import asyncio, json, sys
from workbench.cli.main import build_parser
build_parser()  # every CLI command module, as `workbench` alone loads them
from workbench.tui.app import WorkbenchApp

async def main():
    app = WorkbenchApp(runs_poll=0.1, gpu_poll=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(100):
            await pilot.pause(0.05)
            if app.runs and app.registry is not None:
                break
        await pilot.press("enter")          # run detail: chart, events, console
        await pilot.pause(0.5)
        await pilot.press("m", "a", "escape", "2", "3", "4", "5")
        await pilot.pause(0.5)
        shown = type(app.screen).__name__
        await pilot.press("1")
        visited = []
        for open_screen, keys in ((app.open_evaluate, ()), (app.open_eval_results, ("s",))):
            open_screen("r1")               # the evaluation screens (form, results, samples)
            await pilot.pause(0.5)
            visited.append(type(app.screen).__name__)
            for key in keys:
                await pilot.press(key)
                await pilot.pause(0.5)
                visited.append(type(app.screen).__name__)
            while len(app.screen_stack) > 1:
                app.pop_screen()
                await pilot.pause(0.1)
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in sys.argv[1].split(","))
    print(json.dumps({"heavy": heavy, "runs": len(app.runs), "registry": app.registry is not None, "screen": shown,
                      "visited": visited}))

asyncio.run(main())
"""


def test_app_start_and_use_imports_no_training_stack(tmp_path):
    make_run(tmp_path, "r1")
    env = dict(os.environ, WORKBENCH_WORKSPACE=str(tmp_path), WORKBENCH_FAKE_GPUS="2")
    out = subprocess.run([sys.executable, "-c", SCRIPT, ",".join(HEAVY)], capture_output=True, text=True,
                         env=env, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["runs"] == 1 and result["registry"], result
    assert result["visited"] == ["EvaluateScreen", "EvalResultsScreen", "SamplesScreen"], result
    assert result["heavy"] == [], f"the TUI imported {result['heavy']}"


def test_app_module_import_is_light():
    code = ("import sys, workbench.tui.app; "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY + ('numpy',)!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"  # numpy too: the chart is imported with the first detail screen
