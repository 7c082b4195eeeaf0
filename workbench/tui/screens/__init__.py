"""Screens of the workbench TUI (imported lazily: only when first shown)."""
