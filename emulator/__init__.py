"""A SODA emulator: the Chicago Data Portal's crimes dataset (``ijzp-q8t2``), offline.

``Dataset`` holds generated, calibrated rows and their mutations;
``EmulatorServer`` serves them over HTTP as the portal's SODA API does;
``serve`` runs it from settings (``crimestream emulator``).
"""

from emulator.dataset import Dataset, LoadReport, Page
from emulator.errors import EmulatorError, RowNotFoundError, SoqlError
from emulator.faults import Fault, FaultPlan
from emulator.server import EmulatorServer, serve
from emulator.settings import EmulatorSettings

__all__ = [
    "Dataset",
    "EmulatorError",
    "EmulatorServer",
    "EmulatorSettings",
    "Fault",
    "FaultPlan",
    "LoadReport",
    "Page",
    "RowNotFoundError",
    "SoqlError",
    "serve",
]
