"""Reference phase library and phase identification."""

from .reference import (ReferencePhase, known_phases, library_dir, load_library, read_cif_phase,
                        twin)

__all__ = ["ReferencePhase", "load_library", "known_phases", "library_dir", "read_cif_phase", "twin"]
