"""Settings of the attribution baselines; defined with the study config so a study YAML can set them."""

from ..config import BASELINE_METHODS as METHODS
from ..config import BaselinesConfig

__all__ = ["BaselinesConfig", "METHODS"]
