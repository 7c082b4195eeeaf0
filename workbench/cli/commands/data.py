"""workbench data check FILE | workbench data stats FILE --model PATH|--config CONFIG"""

from __future__ import annotations

import json
import sys

from contextlib import contextmanager

from workbench.errors import ConfigError, DataError, PluginError


def register(sub) -> None:
    p = sub.add_parser("data", help="check training data row by row, or measure its tokens")
    dsub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")

    c = dsub.add_parser("check", help="every invalid row with its line, field and reason (exit 1 if any)")
    _common(c)
    c.add_argument("--limit", type=int, default=50, help="invalid rows to print (all with --json; 0 = all)")
    c.set_defaults(func=run_check)

    s = dsub.add_parser("stats", help="token lengths, trained tokens and packing efficiency with the run's tokenizer")
    _common(s)
    s.add_argument("--model", help="model folder or Hub id whose tokenizer and chat template to use")
    s.add_argument("--config", help="job config: its model, tokenizer, chat template, data options and max_length")
    s.add_argument("--max-length", type=int, help="sequence budget (default: trainer.args.max_length or 1024)")
    s.add_argument("--max-rows", type=int, help="measure at most this many rows")
    s.set_defaults(func=run_stats)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _common(p) -> None:
    p.add_argument("file", help=".jsonl/.json/.csv/.parquet, a save_to_disk folder, or hub:NAME")
    p.add_argument("--format", default="auto", help="a data format's name (default: detect)")
    p.add_argument("--columns", nargs="+", action="extend", default=[], metavar="FIELD=COLUMN",
                   help="map a format's field to the file's column, e.g. messages=conversation")
    p.add_argument("--split", default="train", help="split of a Hub dataset or DatasetDict folder")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def parse_columns(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        field, sep, column = item.partition("=")
        if not sep or not field or not column:
            raise ConfigError(f"--columns: expected FIELD=COLUMN, got {item!r}")
        out[field.strip()] = column.strip()
    return out


def _data_cfg(args) -> dict:
    return {"format": args.format, "columns": parse_columns(args.columns), "split": args.split}


def check_count(flag: str, value: int | None, low: int) -> None:
    """A count flag below `low` is a one-line error (argparse takes any int, -3 included)."""
    if value is not None and value < low:
        raise ConfigError(f"{flag}: must be at least {low}{' (0 = all)' if low == 0 else ''}, got {value}")


@contextmanager
def _flag_names():
    """A column-mapping error names the --columns flag (the config's key is data.columns)."""
    try:
        yield
    except DataError as exc:
        if exc.where == "data.columns":
            raise DataError(exc.message, where="--columns", hint=exc.hint) from None
        raise


def run_check(args) -> int:
    from workbench.data.validate import check_source
    from workbench.plugin_manager import get_registry

    check_count("--limit", args.limit, 0)
    registry = get_registry()
    formats = registry.data_formats
    if args.format != "auto" and args.format not in formats:
        try:  # why it is missing: a name two plugins claim, a typo, a broken plugin that might have it
            registry.data_format(args.format)
        except PluginError as exc:
            raise DataError(exc.message, where="--format", hint=exc.hint) from None
    show = sys.stderr.isatty() and not args.json
    progress = (lambda f: print(f"\rchecking {f:4.0%}", end="", file=sys.stderr)) if show else None
    with _flag_names():
        report = check_source(args.file, formats, _data_cfg(args), args.split, progress=progress)
    if show:
        print("\r" + " " * 20 + "\r", end="", file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
        return 1 if report.bad else 0
    limit = args.limit or len(report.bad)
    for bad in report.bad[:limit]:
        print(bad.line())
    if len(report.bad) > limit:
        print(f"... and {len(report.bad) - limit} more (--limit 0 or --json for all)")
    verdict = "ok" if report.ok else f"{len(report.bad)} invalid"
    print(f"{args.file}: format {report.format} ({report.kind}, confidence {report.confidence:.0%}), "
          f"{report.total} rows, {verdict}")
    for reason, count in report.reasons().most_common():
        print(f"  {count:>8}  {reason}")
    return 1 if report.bad else 0


def run_stats(args) -> int:
    from workbench.data.stats import compute_stats, settings_for

    check_count("--max-length", args.max_length, 1)
    check_count("--max-rows", args.max_rows, 1)
    if not args.model and not args.config:
        raise ConfigError("data stats needs --model PATH or --config CONFIG (for the tokenizer and chat template)")
    settings = settings_for(args.file, config=args.config, model=args.model, max_length=args.max_length,
                            format=args.format, columns=parse_columns(args.columns), split=args.split,
                            max_rows=args.max_rows)
    show = sys.stderr.isatty() and not args.json
    progress = (lambda n, f: print(f"\rtokenizing {n:,} rows" + (f" ({f:.0%})" if f is not None else ""), end="",
                                   file=sys.stderr)) if show else None
    with _flag_names():
        report = compute_stats(settings, progress=progress)
    if show:
        print("\r" + " " * 40 + "\r", end="", file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_json()))
        return 0
    print(render_stats(args.file, report.format, report.kind, report.stats))
    print(settings.describe() + (" (from the cache: nothing tokenized)" if report.cached else ""))
    return 0


def render_stats(source: str, fmt: str, kind: str, stats, width: int = 40) -> str:
    """The human-readable stats report (shared with the TUI)."""
    d = stats.to_json()
    ln = d["length"]
    lines = [f"{source}: format {fmt} ({kind}), {stats.rows} rows, {stats.sequences} sequences",
             f"tokens: {stats.total_tokens:,} total (after truncation), {stats.trained_tokens:,} trained on "
             f"({stats.trained_fraction:.1%})",
             f"length: min {ln['min']}  p50 {ln['p50']}  p90 {ln['p90']}  p99 {ln['p99']}  max {ln['max']}  "
             f"mean {ln['mean']}",
             f"over max_length {stats.max_length}: {stats.over_max} sequences "
             f"({stats.truncated_tokens:,} tokens cut)"]
    if stats.packing_efficiency is not None:
        lines.append(f"packing (BFD into {stats.max_length}): {stats.packed_bins} sequences, "
                     f"{stats.packing_efficiency:.1%} of the budget filled")
    if stats.errors:
        lines.append(f"skipped {stats.errors} invalid rows (see `workbench data check`)")
    hist = stats.histogram()
    top = max((c for _, _, c in hist), default=0)
    if hist:
        lines.append("length histogram:")
    for lo, hi, count in hist:
        bar = "█" * (round(width * count / top) if top else 0)
        lines.append(f"  {lo:>6}-{hi - 1:<6} {bar} {count}")
    return "\n".join(lines)
