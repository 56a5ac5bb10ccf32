"""Mythos: a Lovecraftian text MUD whose reliability and security fixes are verified by a harness."""

__all__ = ["__version__"]

__version__ = "0.1.0"
