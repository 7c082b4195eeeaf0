"""Every key of the app, by screen: the help screen and docs/tui.md show this table."""

from __future__ import annotations

KEYS: dict[str, list[tuple[str, str]]] = {
    "Everywhere": [
        ("?", "this help"),
        ("ctrl+p", "command palette (open a run, switch tab, theme, plugin commands)"),
        ("escape", "back / close"),
        ("q", "quit (from the main screen)"),
    ],
    "Main tabs": [
        ("1 2 3 4 5", "Runs, GPUs, Datasets, Configs, Plugins"),
        ("tab / shift+tab", "move focus"),
    ],
    "Runs": [
        ("up / down", "move the cursor"),
        ("enter", "open the run's detail"),
        ("space", "mark / unmark the run for comparison"),
        ("c", "compare the marked runs (or the run under the cursor and the marked one)"),
        ("x", "stop the run gracefully (checkpoint, then exit; asks first)"),
        ("X", "stop the run now (terminate; asks first)"),
        ("r", "resume a stopped/failed run from its last checkpoint"),
        ("d", "duplicate the run's config into configs/"),
        ("o", "open the run's full console log"),
    ],
    "Run detail": [
        ("m / M", "next / previous metric (loss shows with eval_loss)"),
        ("a", "x axis: step, epoch, time, tokens"),
        ("s", "smoothing on / off (EMA)"),
        ("[ / ]", "less / more smoothing"),
        ("l", "logarithmic y axis on / off"),
        ("t e g", "bottom panel: console tail, events, GPU use"),
        ("x / X", "stop gracefully / stop now (asks first)"),
        ("r", "resume"),
        ("d", "duplicate config"),
        ("o", "full console log"),
    ],
    "Compare": [
        ("m / M", "next / previous metric"),
        ("a", "align by step, epoch, time or tokens"),
        ("s  [ ]  l", "smoothing, strength, log y"),
    ],
    "Log": [
        ("f", "follow the end on / off"),
        ("home / end", "top / bottom"),
    ],
}


def help_text() -> str:
    """The key table as plain text columns."""
    out = []
    for section, keys in KEYS.items():
        out.append(section)
        out.extend(f"  {k:<16} {what}" for k, what in keys)
        out.append("")
    return "\n".join(out).rstrip()
