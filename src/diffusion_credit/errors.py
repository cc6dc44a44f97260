"""Exceptions for invalid input that entry points report without a traceback."""

__all__ = ["InputError"]


class InputError(ValueError):
    """Invalid user input (a coalition, a method, a run id); the message names the value and the fix."""
