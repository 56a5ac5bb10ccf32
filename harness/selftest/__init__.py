"""``harness selftest``: the harness proves itself against seeded faults.

Each fault of the catalogue (:mod:`harness.selftest.faults`) is a small patch of the kind a real
regression makes, applied in a scratch copy of the tree, never in the working tree; the one
narrow suite it names must then go red. The machinery is :mod:`harness.selftest.runner`, and
:mod:`harness.selftest.import_probe` checks, inside each pytest run, that the patched modules
were imported from the scratch copy and not from the editable install.

Importing the package does no work; submodules are imported explicitly.
"""

__all__: list[str] = []
