"""Registers every bundled sample_data/configs/*.toml as a preset (name = file stem).

The folder is read at call time, so presets added by other plugins' authors to the
bundle (dpo.toml, ppo.toml, ...) appear without a change here.
"""

from __future__ import annotations

from workbench.config.presets import description_of
from workbench.hookspecs import hookimpl
from workbench.paths import sample_data_dir
from workbench.specs import PresetSpec


@hookimpl
def register_presets() -> list[PresetSpec]:
    folder = sample_data_dir() / "configs"
    return [PresetSpec(p.stem, str(p), description_of(p)) for p in sorted(folder.glob("*.toml")) if p.is_file()]
