"""Reading training data, detecting its format, converting rows to canonical kinds."""
