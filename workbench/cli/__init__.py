"""The `workbench` command line."""
