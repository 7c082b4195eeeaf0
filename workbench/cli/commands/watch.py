"""workbench watch DIR: view a Hugging Face Trainer output dir (or any run dir) live."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("watch", help="view a Hugging Face Trainer output dir not launched by the workbench")
    p.add_argument("dir", help="the Trainer's output_dir (holds checkpoint-*/trainer_state.json)")
    p.add_argument("--once", action="store_true", help="print the metric rows found and exit (no UI)")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from workbench.errors import RunError

    path = Path(args.dir)
    if not path.is_dir():
        raise RunError("no such directory", where=args.dir)
    if args.once:
        import json

        from workbench.sources import source_for

        update = source_for(path).poll()
        for row in update.metrics:
            print(json.dumps(row))
        st = update.status
        print(f"{st.get('status')}: step {st.get('step')}/{st.get('max_steps')}, {len(update.metrics)} rows")
        return 0
    from workbench.tui.app import run_app

    run_app(watch=path.resolve())
    return 0
