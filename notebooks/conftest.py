"""nbval runs of these notebooks: let their optional last cell clean up what they wrote.

Interactively (JupyterLab, Voila) that cell keeps the working folder and the
emulator, which the widgets above it still use; under the test suite nothing
uses them afterwards, so TERRANB_NOTEBOOK_CLEANUP=1 (read by the kernel, which
inherits this environment) lets the cell remove them.
"""

import os

os.environ.setdefault("TERRANB_NOTEBOOK_CLEANUP", "1")
