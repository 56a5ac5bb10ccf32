"""`python -m harness` runs the harness CLI."""

from harness.cli import main

main()
