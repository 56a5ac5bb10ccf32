"""`python -m mythos` runs the CLI."""

from mythos.cli import main

main()
