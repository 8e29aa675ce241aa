"""Moved to `cascade.evaluation.adherence`. This name stays only until tests/test_shipped_model.py
imports from there; then delete this file."""

from cascade.evaluation.adherence import eval_suite, score

__all__ = ["eval_suite", "score"]
