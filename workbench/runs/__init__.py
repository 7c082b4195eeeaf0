"""Run directories: creating them, reading their state, listing a workspace's runs."""
