"""VRAM estimator: per-GPU memory of a training job from config files alone.

`estimate(config, models, gpus)` reads the model's config.json (never its weights),
counts parameters by architecture, and sizes weights, adapters, gradients,
optimizer states, activations and buffers per rank; see compute.py for the terms.
"""

from workbench.estimate.estimator import estimate
from workbench.estimate.modelshape import ModelShape, TensorSpec, load_model_config, shape_from_config
from workbench.estimate.report import Estimate, Suggestion

__all__ = ["Estimate", "ModelShape", "Suggestion", "TensorSpec", "estimate", "load_model_config", "shape_from_config"]
