"""Background estimation: :func:`estimate_background` (Dataset) and :mod:`.methods` (ndarray)."""

from .api import estimate_background
from .methods import METHODS, background_array, typical_fwhm

__all__ = ["estimate_background", "background_array", "typical_fwhm", "METHODS"]
