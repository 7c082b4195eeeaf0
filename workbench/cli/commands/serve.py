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


def check_address(host: str, port: int) -> None:
    """Refuse a port out of range, or an address this machine cannot listen on (one already in use),
    in one line before the server starts (its own failure is a traceback)."""
    import socket

    from workbench.errors import ConfigError

    if not 1 <= port <= 65535:
        raise ConfigError(f"--port: {port} is not a TCP port (1-65535)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConfigError(f"--host: cannot resolve {host!r}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            probe.bind(address)
        except OSError as exc:
            raise ConfigError(f"--port: cannot listen on {host}:{port}: {exc.strerror}",
                              hint="pick another with --port N") from None


def run(args) -> int:
    from textual_serve.server import Server

    check_address(args.host, args.port)

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {args.host}: anyone who can reach it can stop your runs", file=sys.stderr)
    print(f"serving the workbench on http://{args.host}:{args.port} (ctrl+c stops)", file=sys.stderr)
    Server(serve_command(), host=args.host, port=args.port, title="Workbench",
           public_url=args.public_url).serve()
    return 0
