"""Evaluation: what evaluators return, the files their results land in, and the passes that run them.

Light to import: `result`, `files` and `settings` need no torch; `passes` and `callbacks` are
imported inside the job only.
"""

from workbench.evaluation.result import EvalResult, as_result

__all__ = ["EvalResult", "as_result"]
