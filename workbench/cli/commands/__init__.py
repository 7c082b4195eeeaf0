"""One module per CLI command; each exposes `register(subparsers)`.

`register` adds its sub-parser and sets `func=run` where `run(args) -> int` is the
exit code. Modules are discovered automatically, so a command is one new file.
Keep module-level imports cheap: heavy imports go inside `run`.
"""


def builtin_command_names() -> set[str]:
    """Names of the built-in commands (one module each in this package), without importing them."""
    import pkgutil

    return {m.name for m in pkgutil.iter_modules(__path__)}
