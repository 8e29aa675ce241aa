"""Sampling math as small pure tensor functions, plus the diffusers solvers we step with."""
