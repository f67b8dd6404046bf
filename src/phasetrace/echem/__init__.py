"""phasetrace.echem: cycler files, scan logs and scan/electrochemistry alignment.

Public functions
----------------
read_echem(path, *, format=None, active_mass_mg=None)
    CSV / Arbin CSV / BioLogic .mpr, .mpt / Neware .ndax → record Dataset.
read_scan_log(path)
    ``file,start_time_s,end_time_s`` or ``scan_number,...,start_time,end_time`` → Dataset.
align(stack, echem=None, *, scan_log=None, method="interp", outside="auto", max_gap_s=None)
    New stack with scan times and the echem values of each scan.
read_temperature_log(path)
    ``time_s`` (or date-time) + ``temperature_K``/``temperature_C`` → record Dataset.
"""

from .align import align, match_scan_log, scan_times
from .read import ECHEM_FORMATS, read_echem
from .scanlog import read_scan_log
from .temperature import read_temperature_log

__all__ = ["read_temperature_log", "align", "read_echem", "read_scan_log", "match_scan_log", "scan_times", "ECHEM_FORMATS"]
