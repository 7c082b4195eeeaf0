"""Built-in run sources: other tools' run output shown as read-only runs."""
