"""The ``terranb`` command: a thin layer over the Python API."""
