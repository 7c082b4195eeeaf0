"""workbench watch PATH: view another tool's run live (TensorBoard logs, a trackio project, a LLaMA-Factory or
Hugging Face Trainer output folder, a plugin's kind), or any workbench run dir."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("watch", help="view a run of another tool live: TensorBoard logs, trackio, LLaMA-Factory, "
                                     "HF Trainer / Axolotl output")
    p.add_argument("dir", help="a folder (or file) of TensorBoard event files, a trackio project (.db), a "
                               "LLaMA-Factory output dir (trainer_log.jsonl) or a Trainer output_dir")
    p.add_argument("--once", action="store_true", help="print the metric rows found and exit (no UI)")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from workbench.errors import RunError

    path = Path(args.dir)
    if not path.exists():
        raise RunError("no such directory (or file)", where=args.dir)
    if args.once:
        import json

        from workbench.sources import source_for

        update = source_for(path).poll()
        for row in update.metrics:
            print(json.dumps(row))
        st = update.status
        print(f"{st.get('status')}: step {st.get('step')}/{st.get('max_steps')}, {len(update.metrics)} rows "
              f"({st.get('trainer')})")
        return 0
    from workbench.tui.app import run_app

    run_app(watch=path.resolve())
    return 0
