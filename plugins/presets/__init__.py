"""Built-in presets: the example job configs bundled in sample_data/configs."""
