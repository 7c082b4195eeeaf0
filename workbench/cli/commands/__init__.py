"""One module per CLI command; each exposes `register(subparsers)`.

`register` adds its sub-parser and sets `func=run` where `run(args) -> int` is the
exit code. Modules are discovered automatically, so a command is one new file.
Keep module-level imports cheap: heavy imports go inside `run`.
"""
