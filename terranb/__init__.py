"""terranb: DJI cloud reconstruction from JupyterLab."""

from terranb._version import __version__

__all__ = ["__version__"]
