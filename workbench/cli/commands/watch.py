"""workbench watch PATH: view another tool's run live (TensorBoard logs, a trackio project, a LLaMA-Factory or
Hugging Face Trainer output folder, a plugin's kind), or any workbench run dir; `--add` lists it in the
workspace's Runs tab for good, `--remove` takes it out again, `--list` shows what is added."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("watch", help="view a run of another tool live: TensorBoard logs, trackio, LLaMA-Factory, "
                                     "HF Trainer / Axolotl output (--add: in the Runs tab for good)")
    p.add_argument("dir", nargs="?", help="a folder (or file) of TensorBoard event files, a trackio project (.db), a "
                                          "LLaMA-Factory output dir (trainer_log.jsonl) or a Trainer output_dir")
    p.add_argument("--once", action="store_true", help="print the metric rows found and exit (no UI)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--add", action="store_true",
                      help="add it to the workspace's Runs tab (read-only row, live; .workbench/settings.toml "
                           "[sources] paths) and exit")
    what.add_argument("--remove", action="store_true", help="remove an added folder from the Runs tab (files untouched)")
    what.add_argument("--list", action="store_true", help="list the folders added to this workspace and exit")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from workbench.errors import RunError
    from workbench.paths import workspace

    if args.list:
        return _list(workspace())
    if not args.dir:
        raise RunError("which folder? workbench watch PATH [--add | --remove]  (or --list)", where="watch")
    if args.remove:
        from workbench.settings import workspace_settings_path
        from workbench.sources.added import remove_path

        gone = remove_path(workspace(), args.dir)
        print(f"removed {gone.written} from the Runs tab of {workspace()} ({workspace_settings_path(workspace())}); "
              "its files are untouched")
        return 0
    path = Path(args.dir)
    if not path.exists():
        raise RunError("no such directory (or file)", where=args.dir)
    if args.add:
        from workbench.settings import workspace_settings_path
        from workbench.sources.added import add_path

        added = add_path(workspace(), path)
        print(f"added {added.written} ({added.kind}) to the Runs tab of {workspace()} "
              f"({workspace_settings_path(workspace())} [sources] paths): a read-only row, live")
        return 0
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


def _list(ws) -> int:
    from workbench.sources.added import added_paths, kind_of
    from workbench.settings import load_settings

    written = load_settings(ws).sources
    if not written:
        print(f"no folders added to {ws} (workbench watch PATH --add)")
        return 0
    for text, path in zip(written, added_paths(ws)):
        kind = kind_of(path) if path.exists() else None
        print(f"{text}\t{kind or ('missing' if not path.exists() else 'not recognised')}")
    return 0
