"""The verification harness: real topology, faults, Jepsen-style histories, KPI report and gate.

Importing the package does no work: no processes, no registries filled, no global settings.
Submodules are imported explicitly (``from harness.kpi import kpi_from_catalogue``).
"""

__all__: list[str] = []
