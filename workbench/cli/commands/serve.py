"""workbench serve [--host 127.0.0.1] [--port 8000]: the TUI in a web browser (textual-serve)."""

from __future__ import annotations

import shlex
import sys


def register(sub) -> None:
    p = sub.add_parser("serve", help="serve the TUI over HTTP (localhost only unless --host says otherwise)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: use ssh -L)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--public-url", help="URL the browser uses, when it differs (a proxy)")
    p.set_defaults(func=run)


def serve_command() -> str:
    """The shell command each browser session runs: this Python, this workspace."""
    from workbench.paths import workspace

    return shlex.join([sys.executable, "-m", "workbench", "--workspace", str(workspace()), "tui"])


def run(args) -> int:
    from textual_serve.server import Server

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {args.host}: anyone who can reach it can stop your runs", file=sys.stderr)
    print(f"serving the workbench on http://{args.host}:{args.port} (ctrl+c stops)", file=sys.stderr)
    Server(serve_command(), host=args.host, port=args.port, title="Workbench",
           public_url=args.public_url).serve()
    return 0
