"""Jupyter server settings for Binder: open the quick-start notebook on launch.

postBuild copies this file to ~/.jupyter/. The launch link can also say it
with ``?urlpath=lab/tree/notebooks/01_quick_start.ipynb``.
"""

c = get_config()  # noqa: F821 -- provided by Jupyter when it loads this file
c.ServerApp.default_url = "/lab/tree/notebooks/01_quick_start.ipynb"

# Voila (also inside this server, at /voila/render/...) serves only images from
# /voila/files/ by default; the result browser and notebook 06 link reports (.html,
# .pdf) and zips there. Notebooks and .py files stay refused (Voila's denylist).
c.VoilaConfiguration.file_allowlist = [r".*\.(png|jpg|gif|svg|html|pdf|zip)"]
