"""Shapley-value credit for the data contributors of diffusion models."""

__version__ = "0.1.0"
