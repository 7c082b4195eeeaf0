"""The footer of every workbench screen: Textual's, but no key is ever shown cut.

Textual's footer lays its keys out in a row and docks the command-palette key over the
right end, so on a narrow terminal the last keys vanish under it or show cut mid-word
(`q Qui`). This one hides the keys that do not fit whole: the app's own (`?` keys,
`q` quit) always stay, then the screen's keys in their order until the room runs out.
`?` lists every key of the screen, shown or not.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

PALETTE_CLASS = "-command-palette"


class KeyFooter(Footer):
    """A footer that shows only whole keys: those that fit, the app's own first."""

    async def recompose(self) -> None:
        await super().recompose()
        self.fit_keys()

    def on_resize(self) -> None:
        self.fit_keys()

    def _app_actions(self) -> set[str]:
        out = set()
        for b in getattr(type(self.app), "BINDINGS", []):
            out.add(b.action if isinstance(b, Binding) else b[1])
        return out

    def _cells(self, key: FooterKey) -> int:
        """The cells a key takes in the row: its text, padding, border and margin."""
        width = key.get_content_width(self.size, self.app.size)
        return width + key.styles.gutter.width + key.styles.margin.width

    def fit_keys(self) -> None:
        """Show the keys that fit whole in the footer's width, hide the others."""
        width = self.size.width
        if width <= 0:
            return
        keys = list(self.query(FooterKey))
        palette = [k for k in keys if k.has_class(PALETTE_CLASS)]
        keys = [k for k in keys if not k.has_class(PALETTE_CLASS)]
        room = width - sum(self._cells(k) for k in palette)
        app_actions = self._app_actions()
        ours = [k for k in keys if k.action in app_actions]
        room -= sum(self._cells(k) for k in ours)
        shown = set(ours)
        for key in keys:
            if key in shown:
                continue
            cells = self._cells(key)
            if cells > room:
                break  # never a later key instead of an earlier one
            shown.add(key)
            room -= cells
        for key in keys:
            visible = key in shown
            if key.display != visible:
                key.display = visible
