"""The error raised for an invalid contributor dataset."""

__all__ = ["DatasetError"]


class DatasetError(ValueError):
    """An invalid dataset, file or coalition; the message names the value and the fix."""
