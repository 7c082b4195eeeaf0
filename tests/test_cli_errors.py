"""Bad configs and bad references: one-line errors, non-zero exit, nothing half-made on disk."""

from __future__ import annotations

import pytest

from tests.conftest import CONFIGS, DATA, MODEL, cli


def sft_config(tmp_path, body_edit=lambda s: s):
    text = (CONFIGS / "sft.toml").read_text().replace("../models/tiny-llama", str(MODEL)).replace("../data", str(DATA))
    path = tmp_path / "job.toml"
    path.write_text(body_edit(text))
    return path


@pytest.mark.parametrize("edit,expect", [
    (lambda s: s.replace("learning_rate", "learnig_rate"), ["trainer.args.learnig_rate", "learning_rate", "job.toml:"]),
    (lambda s: s.replace("[model]", "[model]\ndtyp = \"bfloat16\""), ["model.dtyp", "did you mean 'dtype'"]),
    (lambda s: s.replace("max_steps = 40", "max_steps = \"forty\""), ["trainer.args.max_steps", "job.toml:"]),
    (lambda s: s.replace("sft-messages.jsonl", "preference.jsonl"), ["data.train", "preference", "sft"]),
    (lambda s: s.replace("sft-messages.jsonl", "nope.jsonl"), ["data.train", "nope.jsonl", "not found"]),
    (lambda s: s + "\n[launch]\nenv = { HF_TOKEN = \"abc\" }\n", ["launch.env.HF_TOKEN", "secret"]),
])
def test_config_errors_are_one_line_and_leave_no_run_dir(workspace, tmp_path, edit, expect):
    config = sft_config(tmp_path, edit)
    result = cli("run", str(config))
    assert result.returncode != 0
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, result.stderr
    for fragment in expect:
        assert fragment in lines[0], (fragment, lines[0])
    assert "Traceback" not in result.stderr
    runs = workspace / "runs"
    assert not runs.exists() or not any(runs.iterdir())


def test_set_override_is_applied_and_validated(workspace, tmp_path):
    config = sft_config(tmp_path)
    ok = cli("validate", str(config), "--set", "launch.num_processes=2")
    assert ok.returncode == 0 and "2 process(es)" in ok.stdout
    bad = cli("validate", str(config), "--set", "launch.mixed_precision=fp8")
    assert bad.returncode != 0 and "launch.mixed_precision" in bad.stderr


def test_unknown_run_reference(workspace):
    result = cli("show", "does-not-exist")
    assert result.returncode != 0 and "no run 'does-not-exist'" in result.stderr


def test_show_prints_the_elapsed_and_wall_time_the_readme_promises(workspace, capsys):
    """README: ELAPSED (`ls`, `show`, the TUI) is the running time summed over attempts, `wall` the time
    since the first start. `show` printed neither (only --json had them)."""
    import json

    from workbench.cli.main import main
    from workbench.testing import fake_run

    run_dir = fake_run(workspace, "20250101-000000-twice", status="stopped", metrics=[{"step": 5, "loss": 1.0}])
    status = json.loads((run_dir / "status.json").read_text())
    t0 = 1_700_000_000.0
    status.update(started=t0, ended=t0 + 4000, attempt=2,
                  attempts=[{"started": t0, "ended": t0 + 90}, {"started": t0 + 3700, "ended": t0 + 4000}])
    (run_dir / "status.json").write_text(json.dumps(status))
    assert main(["show", "twice"]) == 0
    lines = [ln.split() for ln in capsys.readouterr().out.splitlines()]
    assert ["time", "elapsed", "6m30s", "wall", "1h06m", "attempt", "2"] in lines, lines


def test_the_follower_prints_every_nth_step_on_the_nth_step(workspace):
    """`workbench demo --headless` (every=20) printed steps 19, 39, 59, ... instead of 20, 40, 60."""
    import io

    from workbench.cli.follow import follow
    from workbench.runs.store import Run
    from workbench.testing import fake_run

    run_dir = fake_run(workspace, metrics=[{"step": s, "loss": 1.0} for s in range(1, 51)])
    out = io.StringIO()
    assert follow(Run(run_dir), out=out, every=20) == 0
    steps = [line.split()[1] for line in out.getvalue().splitlines() if line.startswith("step ")]
    assert steps == ["20/50", "40/50", "50/50"]


def test_logs_with_a_negative_line_count_is_a_one_line_error(workspace, capsys):
    """`workbench logs RUN -n -5` was a bare ValueError traceback (deque maxlen)."""
    from workbench.cli.main import main
    from workbench.testing import fake_run

    fake_run(workspace, console="one\ntwo\nthree\n")
    assert main(["logs", "last", "-n", "-5"]) == 2
    assert capsys.readouterr().err.strip() == "error: -n/--lines: must be at least 0 (0 = all), got -5"
    assert main(["logs", "last", "-n", "2"]) == 0
    assert capsys.readouterr().out.splitlines() == ["two", "three"]


def test_ls_of_a_workspace_that_does_not_exist_says_so(workspace, capsys):
    """`workbench -w /typo ls` printed "no runs yet" and exited 0, as for an empty workspace."""
    from workbench.cli.main import main

    missing = workspace / "typo"
    assert main(["-w", str(missing), "ls"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == f"error: {missing}: workspace folder not found"
    assert main(["-w", str(workspace), "ls"]) == 0
    assert "no runs yet" in capsys.readouterr().out
