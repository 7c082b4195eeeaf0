"""The TUI's evaluation views (results table, samples side by side, Evaluate form) on fabricated run dirs."""

from __future__ import annotations


from tests.test_tui_app import SIZE, app_for, wait_until, ws  # noqa: F401 - ws is a fixture
from tests.test_tui_support import make_run
from workbench.evaluation.files import append_samples, record_checkpoint
from workbench.runs.checkpoints import seal

PROMPTS = [[{"role": "user", "content": f"What is {i} plus {i}?"}] for i in range(3)]


def scored(ws, run_id: str = "20250101-000001-sft"):
    """A finished run whose checkpoints 10 and 20 were scored (eval.json, samples.jsonl)."""
    run_dir = make_run(ws, run_id, steps=20)
    for step, gens, ppl in ((10, ["1", "", "4"], 9.0), (20, ["0", "2", "4"], 5.5)):
        name = f"checkpoint-{step}"
        (run_dir / "checkpoints" / name).mkdir()
        (run_dir / "checkpoints" / name / "trainer_state.json").write_text("{}")
        seal(run_dir / "checkpoints" / name, step)  # a complete checkpoint, as the job leaves it
        refs = [str(2 * i) for i in range(3)]
        ok = [g == r for g, r in zip(gens, refs)]
        record_checkpoint(run_dir, {"checkpoint": name, "step": step, "metrics": {
            "exact_match": {"exact_match": sum(ok) / 3, "rows": 3.0}, "perplexity": {"perplexity": ppl}}})
        append_samples(run_dir, [{"checkpoint": name, "step": step, "index": i, "prompt": PROMPTS[i],
                                  "reference": refs[i], "generation": gens[i],
                                  "scores": {"exact_match": float(ok[i]), "perplexity": ppl},
                                  "failed": [] if ok[i] else ["exact_match"],
                                  "details": {} if ok[i] else {"exact_match": f"expected {refs[i]!r}"}}
                                 for i in range(3)])
    return run_dir


def cell_texts(table) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_results_table_compares_checkpoints_and_samples_sit_side_by_side(ws):  # noqa: F811
    from textual.widgets import DataTable

    from workbench.tui.screens.eval_results import EvalResultsScreen
    from workbench.tui.screens.samples import SamplesScreen

    run_dir = scored(ws)
    app = app_for(ws, select_run=None)
    async with app.run_test(size=(120, 30)) as pilot:
        app.open_eval_results(run_dir.name)
        screen = await wait_until(pilot, lambda: isinstance(app.screen, EvalResultsScreen) and app.screen.rows
                                  and app.screen)
        table = screen.query_one(DataTable)
        rows = cell_texts(table)
        assert [r[:2] for r in rows] == [["checkpoint-10", "10"], ["checkpoint-20", "20"]]
        header = [str(c.label) for c in table.columns.values()]
        assert header == ["checkpoint", "step", "exact_match/exact_match", "perplexity/perplexity"]  # rows is hidden
        assert rows[0][2:] == ["0.3333", "9"] and rows[1][2:] == ["1", "5.5"]
        best = table.get_row_at(1)
        assert best[2].style == "bold" and best[3].style == "bold"  # highest match, lowest perplexity
        await pilot.press("a")
        assert "exact_match/rows" in [str(c.label) for c in table.columns.values()]

        await pilot.press("s")
        samples = await wait_until(pilot, lambda: isinstance(app.screen, SamplesScreen) and app.screen.prompts
                                   and app.screen)
        assert samples.labels == ["checkpoint-10", "checkpoint-20"]
        head = str(samples.query_one("#samples-head").render())
        assert "prompt 1/3" in head and "What is 0 plus 0?" in head and "reference: 0" in head
        columns = list(samples.query(".sample-column"))
        assert [c.border_title for c in columns] == ["checkpoint-10", "checkpoint-20"]
        texts = [str(c.query_one("Static").render()) for c in columns]
        assert texts[0].startswith("1") and "✗ exact_match 0  (expected '0')" in texts[0]
        assert texts[1].startswith("0") and "✓ exact_match 1" in texts[1]
        assert columns[0].has_class("-failed") and not columns[1].has_class("-failed")
        await pilot.press("f")  # failures only: prompt 0 (checkpoint-10 wrong) and 1 (checkpoint-10 empty)
        await pilot.pause()
        assert [p.index for p in samples.visible] == [0, 1]
        await pilot.press("n")
        await pilot.pause()
        head = str(samples.query_one("#samples-head").render())
        assert "prompt 2/2" in head and "failures only" in head
        empty = [str(c.query_one("Static").render()) for c in samples.query(".sample-column")][0]
        assert empty.startswith("(empty)")


async def test_evaluate_form_offers_the_runs_checkpoints_and_evaluators_and_reports_errors(ws):  # noqa: F811
    from textual.widgets import Input, SelectionList

    from workbench.tui.screens.evaluate import EvaluateScreen

    run_dir = scored(ws)
    (run_dir / "checkpoints" / "final").mkdir()
    app = app_for(ws)
    async with app.run_test(size=(120, 30)) as pilot:
        app.open_evaluate(run_dir.name)
        screen = await wait_until(pilot, lambda: isinstance(app.screen, EvaluateScreen) and app.screen.runs
                                  and app.screen)
        checkpoints = screen.query_one("#evaluate-checkpoints", SelectionList)
        assert list(checkpoints.selected) == ["base", "checkpoint-10", "checkpoint-20", "final"]
        evaluators = screen.query_one("#evaluate-evaluators", SelectionList)
        names = [evaluators.get_option_at_index(i).value for i in range(evaluators.option_count)]
        assert {"exact_match", "rouge_l", "json_schema", "perplexity"} <= set(names)
        assert list(evaluators.selected) == ["perplexity"]
        screen.query_one("#evaluate-data", Input).value = str(ws / "missing.jsonl")
        await pilot.press("ctrl+s")
        error = await wait_until(pilot, lambda: "missing.jsonl" in str(screen.query_one("#evaluate-error").render())
                                 and str(screen.query_one("#evaluate-error").render()))
        assert "file not found" in error and len(list((ws / "runs").iterdir())) == 1  # nothing created


def test_samples_group_by_prompt_across_runs(tmp_path):
    from workbench.evaluation.compare import samples_by_prompt

    a, b = tmp_path / "a", tmp_path / "b"
    for d, gen in ((a, "x"), (b, "y")):
        d.mkdir()
        append_samples(d, [{"checkpoint": "final", "index": 0, "prompt": "p0", "reference": "r", "generation": gen,
                            "scores": {}, "failed": []},
                           {"checkpoint": "final", "index": 1, "prompt": f"only-{d.name}", "reference": None,
                            "generation": gen, "scores": {}, "failed": []}])
    labels, prompts = samples_by_prompt([a, b])
    assert labels == ["a final", "b final"]
    assert [(p.prompt, sorted(p.by_label)) for p in prompts] == [
        ("p0", ["a final", "b final"]), ("only-a", ["a final"]), ("only-b", ["b final"])]


def test_results_table_and_early_stopping_agree_on_which_metrics_fall():
    """One notion of 'lower is better': the table bolded the highest nll / rejected_logp while early
    stopping minimised nll (two lists that disagreed)."""
    from workbench.evaluation.compare import ResultRow
    from workbench.evaluation.settings import early_stopping_of
    from workbench.tui.screens.eval_results import best_rows

    rows = [ResultRow("r", f"checkpoint-{i}", i, {"ppl/nll": v, "preference_accuracy/rejected_logp": -v})
            for i, v in enumerate((3.0, 1.5, 2.0))]
    assert best_rows(rows, "ppl/nll") == {1}
    assert best_rows(rows, "preference_accuracy/rejected_logp") == {0}
    for metric in ("ppl/nll", "preference_accuracy/rejected_logp"):
        assert early_stopping_of({"run": {"early_stopping": {"metric": metric}}}).mode == "min"


def test_the_run_table_keeps_the_best_eval_metric_the_same_way(tmp_path):
    """The run table's best eval value follows the same rule (it had a third list, which took
    metrics it did not know, such as eval_logps/chosen, as lower-is-better)."""
    import json
    import os

    from workbench.tui.runs_poll import BestEval

    path = tmp_path / "metrics.jsonl"
    rows = [{"step": s, "kind": "eval", "eval_loss": loss, "eval_logps/chosen": logp}
            for s, loss, logp in ((1, 2.0, -9.0), (2, 1.5, -7.0), (3, 1.8, -8.0))]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    best = BestEval()
    st = os.stat(path)
    best.scan(path, st.st_size, st.st_ino)
    assert best.best == {"eval_loss": 1.5, "eval_logps/chosen": -7.0}
