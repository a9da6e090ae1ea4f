"""Jupyter server settings for Binder: open the quick-start notebook on launch.

postBuild copies this file to ~/.jupyter/. The launch link can also say it
with ``?urlpath=lab/tree/notebooks/01_quick_start.ipynb``.
"""

c = get_config()  # noqa: F821 -- provided by Jupyter when it loads this file
c.ServerApp.default_url = "/lab/tree/notebooks/01_quick_start.ipynb"
