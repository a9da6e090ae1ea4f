"""``import terranb`` (and its API layer) stays light: no heavy optional libraries."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["rasterio", "laspy", "trimesh", "folium", "ipywidgets", "boto3", "numpy", "pyproj"]


def _loaded(code: str) -> list[str]:
    script = (f"import sys\n{code}\nimport json\n"
              f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_terranb_is_light() -> None:
    assert _loaded("import terranb") == []


def test_api_clients_and_params_are_light() -> None:
    code = ("import terranb.api.terra, terranb.api.flighthub, terranb.api.cloudapi, "
            "terranb.params, terranb.config\n"
            "from terranb.params import Params2D\nParams2D(map_mode=1).to_json()")
    assert _loaded(code) == []
