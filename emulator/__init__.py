"""A SODA emulator: the Chicago Data Portal's crimes dataset (``ijzp-q8t2``), offline.

``Dataset`` holds generated, calibrated rows and their mutations;
``RecordDataset`` is a simpler generic one, used for traffic crashes
(``85ca-t3if``, :func:`generate_crashes`); ``EmulatorServer`` serves them over
HTTP as the portal's SODA API does; ``serve`` runs it from settings
(``crimestream emulator``).
"""

from emulator.crashes import CRASHES_DATASET_ID, generate_crashes
from emulator.dataset import Dataset, LoadReport, Page
from emulator.errors import EmulatorError, RowNotFoundError, SoqlError
from emulator.faults import Fault, FaultPlan
from emulator.records import RecordDataset, RecordKind
from emulator.server import EmulatorServer, serve
from emulator.settings import EmulatorSettings

__all__ = [
    "CRASHES_DATASET_ID",
    "Dataset",
    "EmulatorError",
    "EmulatorServer",
    "EmulatorSettings",
    "Fault",
    "FaultPlan",
    "LoadReport",
    "Page",
    "RecordDataset",
    "RecordKind",
    "RowNotFoundError",
    "SoqlError",
    "generate_crashes",
    "serve",
]
