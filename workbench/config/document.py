"""A job config as an editable TOML document that keeps the user's comments and layout.

Edits go through tomlkit, so saving writes back the file as it was with only the
touched keys changed: a key set back to its default is removed, never written out.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import ParseError, TOMLKitError
from tomlkit.items import Table

from workbench.errors import ConfigError

KeyPath = tuple[str, ...]


def same_value(a: Any, b: Any) -> bool:
    """Equality that keeps bool apart from int (TOML `true` is not `1`) but lets 2 equal 2.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return type(a) is type(b) and a == b


def _toml_value(value: Any) -> Any:
    """Plain Python value -> tomlkit item; dicts become inline tables (`env = {A = "1"}`)."""
    if isinstance(value, dict):
        table = tomlkit.inline_table()
        for k, v in value.items():
            table[k] = _toml_value(v)
        return table
    if isinstance(value, list):
        array = tomlkit.array()
        array.extend(_toml_value(v) for v in value)
        return array
    return value


class ConfigDocument:
    """The TOML text of a job config, edited key by key."""

    def __init__(self, text: str = "", path: Path | str | None = None):
        self.path = Path(path) if path else None
        self._doc = self._parse(text)
        self._created: set[KeyPath] = set()

    @classmethod
    def load(cls, path: Path | str) -> "ConfigDocument":
        """Read a config file (ConfigError when it cannot be read or parsed)."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror or exc}", where=str(p)) from None
        return cls(text, p)

    def _parse(self, text: str) -> tomlkit.TOMLDocument:
        try:
            return tomlkit.parse(text)
        except ParseError as exc:
            where = f"{self.path or '<config>'}:{exc.line}"
            message = re.sub(r"\s+at line \d+ col \d+$", "", str(exc))
            raise ConfigError(f"invalid TOML: {message}", where=where) from None
        except TOMLKitError as exc:  # e.g. a key defined twice
            raise ConfigError(f"invalid TOML: {exc}", where=str(self.path or "<config>")) from None

    @property
    def text(self) -> str:
        return tomlkit.dumps(self._doc)

    def replace_text(self, text: str) -> None:
        """Take new raw text (from the TOML view); the document is unchanged when it does not parse."""
        self._doc = self._parse(text)
        self._created.clear()

    def to_dict(self) -> dict[str, Any]:
        return self._doc.unwrap()

    # -- reading -------------------------------------------------------------
    def _node(self, path: KeyPath) -> Any:
        node: Any = self._doc
        for part in path:
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def has(self, path: KeyPath) -> bool:
        parent = self._node(path[:-1]) if len(path) > 1 else self._doc
        return isinstance(parent, dict) and path[-1] in parent

    def get(self, path: KeyPath, default: Any = None) -> Any:
        """The plain value at `path`, or `default` when the key is absent."""
        if not self.has(path):
            return default
        node = self._node(path)
        return node.unwrap() if hasattr(node, "unwrap") else node

    # -- writing -------------------------------------------------------------
    def _table(self, path: KeyPath) -> Any:
        """The table at `path`, created (and remembered as created) when missing."""
        node: Any = self._doc
        for i, part in enumerate(path):
            if part not in node:
                node[part] = tomlkit.table(is_super_table=False)
                self._created.add(path[: i + 1])
            node = node[part]
            if not isinstance(node, dict):
                raise ConfigError(f"{'.'.join(path[: i + 1])}: is a value, not a table", where=str(self.path or ""))
        return node

    def set(self, path: KeyPath, value: Any, default: Any = None) -> bool:
        """Set a key; None or a value equal to `default` removes it. Returns whether the text changed."""
        if value is None or (default is not None and same_value(value, default)):
            return self.remove(path)
        if self.has(path) and same_value(self.get(path), value):
            return False
        table = self._table(path[:-1])
        table[path[-1]] = _toml_value(value)
        return True

    def remove(self, path: KeyPath) -> bool:
        """Delete a key; tables this session created and left empty go too."""
        if not self.has(path):
            return False
        parent = self._node(path[:-1]) if len(path) > 1 else self._doc
        del parent[path[-1]]
        for i in range(len(path) - 1, 0, -1):
            prefix = path[:i]
            node = self._node(prefix)
            if prefix in self._created and isinstance(node, dict) and not node:
                del (self._node(prefix[:-1]) if len(prefix) > 1 else self._doc)[prefix[-1]]
                self._created.discard(prefix)
        return True

    def section_present(self, section: str) -> bool:
        return isinstance(self._doc.get(section), (Table, dict))

    def set_section_present(self, section: str, present: bool) -> bool:
        """Add an empty [section] (for optional ones like [peft], presence switches them on) or drop it."""
        if present == self.section_present(section):
            return False
        if present:
            self._doc[section] = tomlkit.table()
        else:
            del self._doc[section]
            self._created = {p for p in self._created if p[0] != section}
        return True

    def save(self, path: Path | str | None = None) -> Path:
        """Write the text to `path` (default: where it came from) and make that its path."""
        target = Path(path) if path else self.path
        if target is None:
            raise ConfigError("no file name to save to")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.text, encoding="utf-8")
        self.path = target
        return target
