"""The Configs panel: list the workspace's job configs and presets, edit one as a form or
as raw TOML with live validation and a VRAM estimate, save, duplicate, and launch it.

Heavy work (importing the trainer's config class, i.e. TRL; validating; estimating;
starting a run) runs in worker threads, so the panel never blocks and the TUI's
start-up path imports no torch/transformers/TRL. After a launch the panel posts
`ConfigsPanel.RunLaunched(run_id, run_dir)`; the app switches to its Runs tab.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Input, Label, OptionList, Select, Static, Switch, TextArea
from textual.widgets.option_list import Option

from workbench.config.document import ConfigDocument
from workbench.config.form import ConfigForm, FieldSpec, FieldValueError, build_form, check_text, load_trainer_fields
from workbench.config.schema import OPTIONAL_SECTIONS
from workbench.errors import WorkbenchError

VALIDATE_DELAY_S = 0.4
FILTER_DELAY_S = 0.2
# trainer name -> (fields, config class): introspecting a config class imports TRL once per process.
_TRAINER_FIELDS: dict[str, tuple[list[FieldSpec], str | None]] = {}


def _css() -> str:
    try:
        from workbench_themes import css_text

        return css_text("configs.tcss")
    except Exception:  # noqa: BLE001 - the panel still works unstyled
        return ""


def _widget_id(key: str) -> str:
    return "f-" + key.replace(".", "--")


def _key_of(widget_id: str | None) -> str | None:
    if not widget_id or not widget_id.startswith("f-"):
        return None
    return widget_id[2:].replace("--", ".")


def find_configs(workspace: Path) -> list[Path]:
    """Job configs of a workspace: *.toml in it and in its configs/ folder that have [trainer] or [model]."""
    out = []
    for folder in (workspace, workspace / "configs"):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                data = {"trainer": {}} if path.parent.name == "configs" else {}  # show broken ones in configs/
            if isinstance(data.get("trainer"), dict) or isinstance(data.get("model"), dict):
                out.append(path)
    return out


@dataclass
class _Entry:
    kind: str       # "file" | "preset"
    path: Path
    name: str
    description: str = ""


class FieldRow(Horizontal):
    """One field: its name, then an Input, Switch or Select."""

    def __init__(self, spec: FieldSpec, form: ConfigForm, disabled: bool = False):
        super().__init__(classes="-set" if form.is_set(spec) else "")
        self.spec, self.form, self._disabled = spec, form, disabled

    def compose(self) -> ComposeResult:
        spec, form = self.spec, self.form
        label = spec.key[len("trainer.args."):] if spec.path[:2] == ("trainer", "args") else spec.name
        yield Label(label + ("*" if spec.required else ""), classes="cfg-name")
        wid = _widget_id(spec.key)
        if spec.kind == "bool" and not spec.nullable:
            yield Switch(value=bool(form.value(spec)), id=wid, disabled=self._disabled)
        elif spec.kind == "choice" or (spec.kind == "bool" and spec.nullable):
            choices = spec.choices if spec.kind == "choice" else (True, False)
            options = [(spec.format(c), c) for c in choices]
            current = form.doc.get(spec.path) if form.is_set(spec) else Select.NULL
            if current is not Select.NULL and current not in choices:
                options.append((spec.format(current), current))
            default = "unset" if spec.default is None or spec.required else spec.format(spec.default)
            yield Select(options, prompt=f"default: {default}", value=current, allow_blank=True,
                         compact=True, id=wid, disabled=self._disabled)
        else:
            placeholder = "required" if spec.required else (
                f"default: {spec.format(spec.default)}" if spec.default not in (None, "") else "unset")
            yield Input(form.text(spec), placeholder=placeholder, compact=True, id=wid, disabled=self._disabled)


class PathPrompt(ModalScreen[Path | None]):
    """Ask for a file name (save as, duplicate): Enter accepts, Escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, title: str, initial: str, base: Path):
        super().__init__()
        self._title, self._initial, self._base = title, initial, base

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self._title)
            yield Input(self._initial, id="prompt-input")
            yield Static("", id="prompt-error")

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#prompt-input", Input))  # now: a burst typed after f2 lands here

    @on(Input.Submitted, "#prompt-input")
    def _submit(self, event: Input.Submitted) -> None:
        raw = event.value.strip()
        if not raw:
            return
        path = Path(raw).expanduser()
        path = path if path.is_absolute() else self._base / path
        if path.suffix != ".toml":
            path = path.with_suffix(".toml")
        if path.exists():
            self.query_one("#prompt-error", Static).update(f"{path}: already exists; pick another name")
            return
        self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)


class PresetPicker(ModalScreen[str | None]):
    """Pick a preset to start a new config from."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, presets: list[tuple[str, str]]):
        super().__init__()
        self._presets = presets

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("New config from preset (Enter picks, Esc cancels)")
            yield OptionList(*[Option(f"{n}  {d}", id=n) for n, d in self._presets], id="preset-options")

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#preset-options", OptionList))

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfigsPanel(Widget):
    """List, edit, validate, save and launch job configs."""

    DEFAULT_CSS = _css()

    HELP_TITLE = "Configs"
    BINDINGS = [
        Binding("ctrl+s", "save", "save", priority=True, tooltip="save the config"),
        Binding("f2", "save_as", "save as", priority=True, tooltip="save under a new name"),
        Binding("f3", "duplicate", "duplicate", priority=True, tooltip="duplicate the config"),
        Binding("ctrl+n", "new_from_preset", "new", priority=True, tooltip="new config from a preset"),
        Binding("ctrl+r", "launch", "launch", priority=True, tooltip="launch a run of this config"),
        Binding("ctrl+t", "toggle_view", "form/TOML", priority=True, tooltip="form view / raw TOML view"),
        Binding("ctrl+f", "focus_filter", "filter", priority=True, tooltip="filter the fields by name or help words"),
    ]
    HELP_EXTRA = [
        ("↑ / ↓ / enter", "pick and open a config in the list"),
        ("tab / shift+tab", "next / previous field (enter in the filter: its first field)"),
        ("escape", "leave a field for the config list (digits then switch tabs again)"),
    ]

    class RunLaunched(Message):
        """A run was started from a config; the app should show it (Runs tab)."""

        def __init__(self, run_id: str, run_dir: str, config_path: str) -> None:
            super().__init__()
            self.run_id, self.run_dir, self.config_path = run_id, run_dir, config_path

    class Validated(Message):
        """Live validation finished for the current text (for tests and status bars)."""

        def __init__(self, ok: bool, message: str) -> None:
            super().__init__()
            self.ok, self.message = ok, message

    def __init__(self, workspace: Path | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self._workspace = workspace
        self.form: ConfigForm | None = None
        self.entries: list[_Entry] = []
        self.registry = None
        self.is_new = False
        self._saved_text = ""
        self._raw_pending: str | None = None   # TOML view text that does not parse yet
        self._generation = 0
        self._validate_timer = None
        self._filter_timer = None
        self._field_errors: dict[str, str] = {}
        self._gpus: list[dict] | None = None
        self._fields_trainer: Any = None
        self.last_check: tuple[bool, str] | None = None
        self.pending = False           # a validation is scheduled or running
        self.last_estimate: str = ""

    # -- layout --------------------------------------------------------------------------
    @property
    def workspace(self) -> Path:
        if self._workspace is not None:
            return self._workspace
        from workbench.paths import workspace

        return workspace()

    def compose(self) -> ComposeResult:
        with Vertical(id="cfg-side"):
            yield Static("Configs", id="cfg-side-title")
            yield OptionList(id="cfg-list")
        with Vertical(id="cfg-editor", classes="wb-editor"):
            yield Static("open a config or a preset (ctrl+n: new from preset)", id="cfg-title")
            with ContentSwitcher(initial="cfg-form", id="cfg-switcher"):
                with Vertical(id="cfg-form"):
                    yield Input(placeholder="filter fields (ctrl+f): name or help words", compact=True,
                                id="cfg-filter")
                    yield VerticalScroll(id="cfg-fields")
                yield TextArea("", id="cfg-toml", soft_wrap=False, tab_behavior="indent", show_line_numbers=True)
            yield Static("", id="cfg-help")
            yield Static("", id="cfg-status")
            yield Static("", id="cfg-estimate")

    def on_mount(self) -> None:
        self.refresh_list()

    def first_focus(self) -> Widget:
        return self.query_one("#cfg-list", OptionList)

    @on(Input.Submitted, "#cfg-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        """Enter in the filter: on to the first field it left."""
        event.stop()
        if self._filter_timer is not None:
            self._filter_timer.stop()

        async def rebuild_then_focus() -> None:
            await self._rebuild_fields()
            self._focus_first_field()

        self.run_worker(rebuild_then_focus(), exclusive=True, group="cfg-rebuild")

    def _focus_first_field(self) -> None:
        for w in self.query("#cfg-fields Input, #cfg-fields Switch, #cfg-fields Select"):
            if w.focusable:
                w.focus()
                return

    # -- the list ------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="cfg-list")
    def refresh_list(self, select: Path | None = None) -> None:
        """Rescan the workspace and the registered presets (in a thread: builds the plugin registry)."""
        from workbench.plugin_manager import get_registry

        registry = self.registry or get_registry()
        entries = [_Entry("file", p, self._short(p)) for p in find_configs(self.workspace)]
        entries += [_Entry("preset", Path(s.path), n, s.description) for n, s in sorted(registry.presets.items())]
        self.app.call_from_thread(self._show_list, registry, entries, select)

    def _short(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.workspace))
        except ValueError:
            return str(path)

    def _show_list(self, registry, entries: list[_Entry], select: Path | None) -> None:
        self.registry, self.entries = registry, entries
        options: list[Option | None] = []
        files = [e for e in entries if e.kind == "file"]
        if not files:
            options.append(Option("(no configs in workspace)", disabled=True))
        for i, e in enumerate(entries):
            if e.kind == "preset" and (i == 0 or entries[i - 1].kind != "preset"):
                options.append(None)
                options.append(Option("presets", disabled=True))
            label = e.name if e.kind == "file" else f"+ {e.name}"
            options.append(Option(label, id=f"entry-{i}"))
        ol = self.query_one("#cfg-list", OptionList)
        ol.clear_options()
        ol.add_options(options)
        if select is not None:
            for i, e in enumerate(entries):
                if e.kind == "file" and e.path == select:
                    ol.highlighted = ol.get_option_index(f"entry-{i}")
        if ol.highlighted is None:  # enter works on arrival
            from workbench.tui.screens.main import highlight_first

            highlight_first(ol)

    @on(OptionList.OptionSelected, "#cfg-list")
    def _entry_selected(self, event: OptionList.OptionSelected) -> None:
        if not event.option.id:
            return
        entry = self.entries[int(event.option.id.split("-", 1)[1])]
        if entry.kind == "preset":
            self.open_preset(entry.name)
        else:
            self.open_path(entry.path)

    # -- opening -------------------------------------------------------------------------
    def open_path(self, path: Path) -> None:
        """Open a config file for editing."""
        try:
            doc = ConfigDocument.load(path)
        except WorkbenchError as exc:
            # Unparseable TOML: open it raw so it can be fixed.
            self._open(ConfigDocument("", path), new=False)
            text = Path(path).read_text(encoding="utf-8", errors="replace")
            self._saved_text = text
            self._raw_pending = text
            self._set_view("cfg-toml")
            self._set_status(False, exc.one_line())
            return
        self._open(doc, new=False)

    def open_preset(self, name: str) -> None:
        """Start a new, unsaved config from a preset, in the workspace's configs/ folder."""
        from workbench.config.presets import materialize, unique_path

        spec = self.registry.presets[name] if self.registry else None
        if spec is None:
            from workbench.config.presets import get_preset

            spec = get_preset(name)
        target = unique_path(self.workspace / "configs" / f"{name}.toml")
        self._open(ConfigDocument(materialize(spec.path), target), new=True)

    def _open(self, doc: ConfigDocument, new: bool) -> None:
        names = tuple(self.registry.trainers) if self.registry else ()
        self.form = build_form(doc, names)
        self.is_new = new
        self._saved_text = "" if new else doc.text
        self._raw_pending = None
        self._field_errors.clear()
        self._fields_trainer = None
        self.query_one("#cfg-toml", TextArea).load_text(doc.text)
        self._update_title()
        self.rebuild_fields()
        self._load_trainer_fields()
        self.schedule_validation(0.0)

    @work(thread=True, exclusive=True, group="cfg-fields")
    def _load_trainer_fields(self) -> None:
        form = self.form
        if form is None:
            return
        if self.registry is None:
            from workbench.plugin_manager import get_registry

            self.registry = get_registry()
        name = form.doc.get(("trainer", "name"))
        key = str(name)
        try:
            if key not in _TRAINER_FIELDS:
                _TRAINER_FIELDS[key] = load_trainer_fields(form.doc, self.registry)
            fields, cls = _TRAINER_FIELDS[key]
        except Exception as exc:  # noqa: BLE001 - a broken trainer plugin: say so, keep the rest usable
            self.app.call_from_thread(self._set_help, f"cannot list trainer.args of '{name}': {exc}")
            return
        self.app.call_from_thread(self._apply_trainer_fields, form, name, fields, cls)

    def _apply_trainer_fields(self, form: ConfigForm, name: Any, fields: list[FieldSpec], cls: str | None) -> None:
        if form is not self.form or name != form.doc.get(("trainer", "name")):
            return
        form.add_trainer_fields(fields, cls)
        self._fields_trainer = name
        self.rebuild_fields()

    # -- the form ------------------------------------------------------------------------
    @property
    def view(self) -> str:
        return self.query_one("#cfg-switcher", ContentSwitcher).current or "cfg-form"

    def rebuild_fields(self) -> None:
        """Re-create the field rows for the current filter (values come from the document)."""
        self.run_worker(self._rebuild_fields(), exclusive=True, group="cfg-rebuild")

    async def _rebuild_fields(self) -> None:
        container = self.query_one("#cfg-fields", VerticalScroll)
        await container.remove_children()
        form = self.form
        if form is None:
            return
        query = self.query_one("#cfg-filter", Input).value
        visible = form.visible(query)
        widgets: list[Widget] = []
        section = None
        for spec in visible:
            if spec.section != section:
                section = spec.section
                widgets.append(Static(f"[{section}]", classes="cfg-section", markup=False))
                top = spec.path[0]
                if top in OPTIONAL_SECTIONS and spec.path[1:2] != ("args",):
                    row = Horizontal(
                        Label("section on", classes="cfg-name"),
                        Switch(value=form.doc.section_present(top), id=f"sec-{top}"),
                    )
                    row.add_class("cfg-secrow")
                    widgets.append(row)
            off = spec.path[0] in OPTIONAL_SECTIONS and not form.doc.section_present(spec.path[0])
            widgets.append(FieldRow(spec, form, disabled=off))
        if not query:
            if form.has_trainer_fields:
                hidden = sum(1 for f in form.fields if f.path[:2] == ("trainer", "args")) - sum(
                    1 for f in visible if f.path[:2] == ("trainer", "args"))
                if hidden:
                    widgets.append(Static(f"{hidden} more trainer.args ({form.trainer_class}): type 'args' or a "
                                          "word in the filter to find them", classes="cfg-hint", markup=False))
            elif form.trainer_class is None and form.doc.get(("trainer", "name")):
                widgets.append(Static("loading trainer.args fields (imports the trainer's library)...",
                                      classes="cfg-hint"))
            unknown = form.unknown_keys()
            if unknown:
                widgets.append(Static("in the file, not a known field (edit in the TOML view, ctrl+t): "
                                      + ", ".join(unknown), classes="cfg-hint", markup=False))
        elif not visible:
            widgets.append(Static(f"no field matches '{query}'", classes="cfg-hint", markup=False))
        await container.mount_all(widgets)

    def _spec_for(self, widget: Widget) -> FieldSpec | None:
        key = _key_of(widget.id)
        if key is None or self.form is None:
            return None
        try:
            return self.form.field(key)
        except KeyError:
            return None

    def _row_for(self, widget: Widget) -> FieldRow | None:
        parent = widget.parent
        return parent if isinstance(parent, FieldRow) else None

    def _field_changed(self, widget: Widget, apply) -> None:
        """Apply an edit; mark the row set/invalid; schedule validation when the text changed."""
        spec = self._spec_for(widget)
        if spec is None or self.form is None:
            return
        row = self._row_for(widget)
        try:
            changed = apply(spec)
        except FieldValueError as exc:
            self._field_errors[spec.key] = str(exc)
            if row:
                row.add_class("-invalid")
            self._cancel_validation()
            self._report(False, str(exc), "")
            return
        except WorkbenchError as exc:
            self._set_status(False, exc.one_line())
            return
        self._field_errors.pop(spec.key, None)
        if row:
            row.remove_class("-invalid")
            row.set_class(self.form.is_set(spec), "-set")
        if changed:
            self._after_edit()
            if spec.key == "trainer.name":
                self.form.add_trainer_fields([], None)
                self._fields_trainer = None
                self._load_trainer_fields()
                self.rebuild_fields()

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "cfg-filter":
            event.stop()
            if self._filter_timer is not None:
                self._filter_timer.stop()
            self._filter_timer = self.set_timer(FILTER_DELAY_S, self.rebuild_fields)
            return
        spec = self._spec_for(event.input)
        if spec is None or self.form is None:
            return
        event.stop()
        if event.value == self.form.text(spec) and spec.key not in self._field_errors:
            return  # shown as it is in the file (initial value, or no real change)
        self._field_changed(event.input, lambda s: self.form.set_text(s, event.value))

    @on(Switch.Changed)
    def _switch_changed(self, event: Switch.Changed) -> None:
        wid = event.switch.id or ""
        if self.form is None:
            return
        if wid.startswith("sec-"):
            event.stop()
            if self.form.doc.set_section_present(wid[4:], event.value):
                self._after_edit()
                self.rebuild_fields()
            return
        spec = self._spec_for(event.switch)
        if spec is None:
            return
        event.stop()
        if event.value == self.form.value(spec):
            return
        self._field_changed(event.switch, lambda s: self.form.set_value(s, event.value))

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        spec = self._spec_for(event.select)
        if spec is None or self.form is None:
            return
        event.stop()
        value = None if event.value is Select.NULL else event.value
        current = self.form.doc.get(spec.path) if self.form.is_set(spec) else None
        if value == current and type(value) is type(current):
            return
        self._field_changed(event.select, lambda s: self.form.set_value(s, value))

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        spec = self._spec_for(event.widget)
        if spec is None:
            return
        default = "required" if spec.required else f"default {spec.format(spec.default) or 'unset'}"
        self._set_help(f"{spec.key} ({spec.type_text or spec.kind}; {default}): {spec.help}")

    # -- raw TOML view -------------------------------------------------------------------
    @on(TextArea.Changed, "#cfg-toml")
    def _toml_changed(self, event: TextArea.Changed) -> None:
        if self.form is None or self.view != "cfg-toml":
            return
        text = event.text_area.text
        if text == self.form.doc.text and self._raw_pending is None:
            return
        try:
            self.form.doc.replace_text(text)
        except WorkbenchError as exc:
            self._raw_pending = text
            self._update_title()
            self._cancel_validation()
            self._report(False, exc.one_line(), "")
            return
        self._raw_pending = None
        self._after_edit()

    def _set_view(self, view: str) -> None:
        self.query_one("#cfg-switcher", ContentSwitcher).current = view

    def action_toggle_view(self) -> None:
        if self.form is None:
            return
        if self.view == "cfg-form":
            self.query_one("#cfg-toml", TextArea).load_text(self.form.doc.text)
            self._set_view("cfg-toml")
            self.query_one("#cfg-toml", TextArea).focus()
            return
        if self._raw_pending is not None:
            self.notify("fix the TOML first (the form needs text that parses)", severity="error")
            return
        self._set_view("cfg-form")
        self._update_title()
        if self._fields_trainer != self.form.doc.get(("trainer", "name")):
            self.form.add_trainer_fields([], None)
            self._load_trainer_fields()
        self.rebuild_fields()

    def action_focus_filter(self) -> None:
        if self.view != "cfg-form":
            self.action_toggle_view()
        self.screen.set_focus(self.query_one("#cfg-filter", Input))  # now: keys typed right after go there

    # -- validation and estimate ---------------------------------------------------------
    @property
    def text(self) -> str:
        """The text as it would be saved now."""
        if self._raw_pending is not None:
            return self._raw_pending
        return self.form.doc.text if self.form else ""

    @property
    def dirty(self) -> bool:
        return self.form is not None and (self.is_new or self.text != self._saved_text)

    def _after_edit(self) -> None:
        self._update_title()
        self.schedule_validation()

    def _cancel_validation(self) -> None:
        self._generation += 1
        if self._validate_timer is not None:
            self._validate_timer.stop()
            self._validate_timer = None

    def schedule_validation(self, delay: float = VALIDATE_DELAY_S) -> None:
        """Validate the current text after `delay` seconds of quiet (debounced)."""
        self._cancel_validation()
        self.pending = True
        self._set_status(None, "validating...")
        generation = self._generation
        self._validate_timer = self.set_timer(max(delay, 0.01), lambda: self._validate(generation))

    def _validate(self, generation: int) -> None:
        if self.form is None or generation != self._generation:
            return
        self._run_check(generation, self.text, self.form.doc.path)

    @work(thread=True, exclusive=True, group="cfg-validate")
    def _run_check(self, generation: int, text: str, path: Path | None) -> None:
        if self.registry is None:
            from workbench.plugin_manager import get_registry

            self.registry = get_registry()
        result = check_text(text, path, self.registry)
        estimate = self._estimate(result.config) if result.ok else ""
        self.app.call_from_thread(self._show_check, generation, result.ok, result.message, estimate)

    def _estimate(self, config) -> str:
        """A one-line VRAM estimate of a validated config ('' when the estimator is unavailable)."""
        try:
            from workbench.estimate import estimate
        except ImportError:
            return ""
        try:
            spec = self.registry.trainers.get(config.trainer_name)
            est = estimate(config.data, spec.models if spec else (), self._detect_gpus())
        except Exception as exc:  # noqa: BLE001 - the estimate is advisory
            return f"estimate: {getattr(exc, 'message', exc)}"
        gib = 1024**3
        parts = sorted(((v, k) for k, v in est.breakdown.items() if v), reverse=True)[:3]
        top = ", ".join(f"{k.replace('_', ' ')} {v / gib:.2f}" for v, k in parts)
        verdict = "" if est.verdict == "unknown" else f" | {est.verdict} ({est.usage:.0%} of free)"
        fix = f" | fix: {est.suggestion.description}" if est.suggestion else ""
        return f"VRAM/GPU ~{est.total_bytes / gib:.2f} GiB ({top}){verdict}{fix}"

    def _detect_gpus(self) -> list[dict] | None:
        if self._gpus is None:
            self._gpus = []
            try:
                from workbench.telemetry.backend import open_backend

                backend = open_backend()
                if backend is not None:
                    self._gpus = [{"index": s.index, "mem_total_bytes": s.mem_total_bytes or 0,
                                   "mem_used_bytes": s.mem_used_bytes or 0} for s in backend.sample()]
                    backend.close()
            except Exception:  # noqa: BLE001 - no GPU information: the estimate has no verdict
                self._gpus = []
        return self._gpus or None

    def _show_check(self, generation: int, ok: bool, message: str, estimate: str) -> None:
        if generation != self._generation:
            return
        if self._field_errors:  # a field whose text does not parse outranks the file's check
            ok, message = False, next(iter(self._field_errors.values()))
        self._report(ok, message, estimate)

    def _report(self, ok: bool, message: str, estimate: str) -> None:
        self.pending = False
        self.last_check = (ok, message)
        self.last_estimate = estimate
        self._set_status(ok, "valid: ready to launch (ctrl+r)" if ok else message)
        self.query_one("#cfg-estimate", Static).update(estimate)
        self.post_message(self.Validated(ok, message))

    def _set_status(self, ok: bool | None, message: str) -> None:
        status = self.query_one("#cfg-status", Static)
        status.set_class(ok is True, "-ok")
        status.set_class(ok is False, "-error")
        status.update(message)

    def _set_help(self, text: str) -> None:
        self.query_one("#cfg-help", Static).update(text)

    def _update_title(self) -> None:
        if self.form is None:
            return
        path = self.form.doc.path
        name = self._short(path) if path else "<unsaved>"
        mark = " (new, unsaved)" if self.is_new else (" *" if self.dirty else "")
        view = "TOML" if self.view == "cfg-toml" else "form"
        self.query_one("#cfg-title", Static).update(f"{name}{mark}  [{view}]")

    # -- save, save as, duplicate, new ---------------------------------------------------
    def save(self, path: Path | None = None) -> Path | None:
        """Write the current text (to `path`, or the document's own path)."""
        if self.form is None:
            return None
        target = path or self.form.doc.path
        if target is None:
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        text = self.text
        target.write_text(text, encoding="utf-8")
        self.form.doc.path = target
        self._saved_text, self.is_new = text, False
        self._update_title()
        self.refresh_list(select=target)
        self.schedule_validation(0.0)
        return target

    def action_save(self) -> None:
        target = self.save()
        if target:
            self.notify(f"saved {self._short(target)}")

    async def action_save_as(self) -> None:
        if self.form is None:
            return
        from workbench.config.presets import unique_path

        current = self.form.doc.path or (self.workspace / "configs" / "config.toml")
        suggestion = self._short(unique_path(current))

        def done(path: Path | None) -> None:
            if path is not None:
                self.save(path)
                self.notify(f"saved as {self._short(path)}")

        from workbench.tui.screens.prompt import push_and_focus

        await push_and_focus(self.app, PathPrompt("Save as (Enter saves, Esc cancels):", suggestion, self.workspace),
                             done)

    def action_duplicate(self) -> None:
        """Save a copy next to the current file and continue editing the copy."""
        if self.form is None or self.form.doc.path is None:
            return
        from workbench.config.presets import unique_path

        path = self.form.doc.path
        target = unique_path(path.with_name(f"{path.stem}-copy{path.suffix}"))
        self.save(target)
        self.notify(f"duplicated to {self._short(target)}")

    async def action_new_from_preset(self) -> None:
        if not self.registry:
            return
        items = [(n, s.description) for n, s in sorted(self.registry.presets.items())]

        def done(name: str | None) -> None:
            if name:
                self.open_preset(name)

        from workbench.tui.screens.prompt import push_and_focus

        await push_and_focus(self.app, PresetPicker(items), done)

    # -- launch --------------------------------------------------------------------------
    def action_launch(self) -> None:
        """Save (if needed), validate and start a supervised run; posts RunLaunched."""
        if self.form is None:
            return
        if self.dirty:
            self.save()
        path = self.form.doc.path
        if path is None:
            return
        self._set_status(None, f"launching {self._short(path)}...")
        self._launch(path)

    @work(thread=True, exclusive=True, group="cfg-launch")
    def _launch(self, path: Path) -> None:
        from workbench.cli.commands.run import start

        try:
            run = start(str(path), quiet=True)
        except WorkbenchError as exc:
            self.app.call_from_thread(self._set_status, False, f"launch refused: {exc.one_line()}")
            return
        except Exception as exc:  # noqa: BLE001 - report, never crash the TUI
            self.app.call_from_thread(self._set_status, False, f"launch failed: {type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self._launched, run.id, str(run.dir), str(path))

    def _launched(self, run_id: str, run_dir: str, config_path: str) -> None:
        self._set_status(True, f"launched run {run_id}")
        self.notify(f"launched run {run_id}")
        self.post_message(self.RunLaunched(run_id, run_dir, config_path))
