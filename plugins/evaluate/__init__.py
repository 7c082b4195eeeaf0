"""The `evaluate` trainer: a run that scores a model with evaluator plugins and trains nothing."""
