# ruff: noqa: E501  (DJI's script text is kept verbatim)
"""DJI's TerraAPI quick start (seed 001), run as DJI wrote it, against the emulator.

The bash scripts (curl + openssl signing) and the two Python examples (boto3
upload, requests binding) are DJI's text with only the values DJI asks the user
to fill in replaced: HOST, AK/SK, the token values and store path, the resource
uuid, callbackParam, the job uuid and the local folder. boto3 finds the emulator
through ``AWS_ENDPOINT_URL_S3``. A complete 2D job runs and its map/result.tif
is downloaded through the file ``url`` and checked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

pytestmark = [pytest.mark.served, pytest.mark.slow]

for tool in ("bash", "curl", "openssl"):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is needed for DJI's quick start scripts", allow_module_level=True)

# ---- DJI's bash template (identical for every signed call in the quick start) ----
BASH_SIGNED = r"""#!/bin/bash
DJI_APP_KEY="{your AK}"
DJI_SECRET_KEY="{your SK}"
URI=__URI__
HTTP_METHOD=__METHOD__
__PAYLOAD__function calculate_signature() {
content="$1"
signature=$(echo -n -e "${content}" | openssl dgst -sha256 -hmac "${DJI_SECRET_KEY}" -binary | openssl enc -base64 -A)
echo ${signature}
}
HOST=https://openapi-us.dji.com
url=${HOST}${URI}
x_date=$(date -u +"%a, %d %b %Y %H:%M:%S GMT")
lower_method=$(echo "${HTTP_METHOD}" | tr '[:upper:]' '[:lower:]')
digest=$(echo -n "${payload}" | openssl dgst -sha256 -binary | base64)
request_signature=$(calculate_signature "date: ${x_date}\n@request-target: ${lower_method} ${URI}\ndigest: SHA-256=${digest}")
curl -X ${HTTP_METHOD} ${url} \
-H "Date: ${x_date}" \
-H "Digest: SHA-256=${digest}" \
-H "Authorization: hmac username=\"${DJI_APP_KEY}\", algorithm=\"hmac-sha256\", headers=\"date @request-target digest\", signature=\"${request_signature}\"" \
-H 'Content-Type: application/json;charset=UTF-8'__TAIL__
"""

PAYLOAD_BLOCK = "payload=$(\ncat <<EOF\n__BODY__\nEOF\n)\n"

# The scripts exactly as the quick start lists them (URI, method, heredoc body, curl tail).
GET_TOKEN = ("/terra-rescon-be/v2/store/obtain_token", "POST", "", ' \\\n-d "$payload" -v')
CREATE_RESOURCE = (
    "/terra-rescon-be/v2/resources",
    "POST",
    '{"name": "test_resource", "type": "map"}',
    ' \\\n-d "$payload" -v',
)
CREATE_JOB = ("/terra-rescon-be/v2/jobs", "POST", '{"name": "test_name"}', ' \\\n-d "$payload" -v')
START_2D = (
    "/terra-rescon-be/v2/jobs/{your uuid}/start",
    "POST",
    r'{"type": 14, "resourceUuid": "{uuid from create resource}", "parameters": "{\"parameter\":{\"map_mode\":1,\"quality_level\":1,\"output_geo_desc\":{\"cs_type\":\"GEO_CS\",\"geo_cs\":\"EPSG:32650\",\"geo_cs_wkt\":\"\",\"override_vertical_cs\":\"\"}}}"}',
    ' \\\n-d "$payload" -v',
)
CHECK_JOB = ("/terra-rescon-be/v2/jobs/{uuid from create job}", "GET", None, "")
GET_RESOURCE = ("/terra-rescon-be/v2/resources/{uuid form check job status}", "GET", None, "")
GET_FILE = ("/terra-rescon-be/v2/files/{file uuid}", "GET", None, "")

UPLOAD_PY = r"""# -*- coding: utf-8 -*-
import os
import boto3
# Configure AWS visit information
access_key_id = '{your access id}'
secret_access_key = '{your access key}'
token = '{your token}'
bucket_name = 'vg-terra-be-dev'
region_name = 'us-east-1'
store_path = '{store path}/{fileName}'
store_root_path = store_path[:store_path.rfind('/{fileName}')]
# Create S3 client server
s3_client = boto3.client('s3', aws_access_key_id=access_key_id,
                         aws_secret_access_key=secret_access_key,
                         aws_session_token=token,
                         region_name=region_name)
# Local folder path
local_folder = r"./Three-Dimension-3D\3cm-3D-orthomosaic-70pic"
# Iterate through local folder
uploaded_files = []
for root, dirs, files in os.walk(local_folder):
    for file_name in files:
        # Create local file path
        local_file_path = os.path.join(root, file_name)
        relative_path = os.path.relpath(os.path.join(root, file_name), local_folder)
        oss_file_path = os.path.join(store_root_path, relative_path).replace("\\", "/")
        # Upload files
        with open(local_file_path, "rb") as data:
            print(f"Uploadedxx: {local_file_path} -> s3://{bucket_name}/{oss_file_path}")
            put_result = s3_client.put_object(Bucket=bucket_name, Key=oss_file_path, Body=data)
            etag = put_result['ETag'].strip('"')
            print(f"Uploaded: {local_file_path} -> s3://{bucket_name}/{oss_file_path}, etag:{etag}")
            container_file_path = relative_path.replace("\\", "/")
            uploaded_files.append({"name": container_file_path, "etag": etag, "checksum": etag})
if uploaded_files:
    import json
    with open("./uploaded_files.json", "w") as f:
        json.dump(uploaded_files, f)
"""

BIND_PY = r"""import base64
import hashlib
import hmac
import json
import time
import requests
dji_app_key = "{your app key}"
dji_secret_key = b"{your secret key}"
uri = "/terra-rescon-be/v2/store/upload_callback"
resource_uuid = "{your created resource uuid}"
callback_param = "{callbackParam from token}"
host = "https://openapi-us.dji.com"
url = host + uri
method = "POST"
def bind_batch_files(files):
    payload = {
        "resourceUUID": resource_uuid,
        "callbackParam": callback_param,
        "files": files,
    }
    digest = (
        lambda x: base64.b64encode(hashlib.sha256(x.encode("utf-8")).digest()).decode(
            "utf-8"
        )
    )(json.dumps(payload))
    gmt_time = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time()))
    signing_string = f"date: {gmt_time}\n@request-target: {method.lower()} {uri}\ndigest: SHA-256={digest}"
    signature = (
        lambda secret, x: base64.b64encode(
            hmac.new(secret, x.encode("utf-8"), hashlib.sha256).digest()
        ).decode("utf-8")
    )(dji_secret_key, signing_string)
    headers = {
        "Content-Type": "application/json",
        "Date": gmt_time,
        "Digest": f"SHA-256={digest}",
        "Authorization": f'hmac username="{dji_app_key}", algorithm="hmac-sha256", headers="date @request-target digest", signature="{signature}"',
    }
    r = requests.post(url, json=payload, headers=headers)
    print(r.request.headers)
    print(r.content)
    print(r.headers)
if __name__ == "__main__":
    with open("./uploaded_files.json", "r") as f:
        uploaded_files = json.load(f)
    mini_batch = []
    for item in uploaded_files:
        mini_batch.append(item)
        if len(mini_batch) >= 50:
            bind_batch_files(mini_batch)
            mini_batch = []
    if mini_batch:
        bind_batch_files(mini_batch)
"""


def _bash_script(spec, fills):
    uri, method, body, tail = spec
    payload = "" if body is None else PAYLOAD_BLOCK.replace("__BODY__", body)
    text = (
        BASH_SIGNED.replace("__URI__", uri)
        .replace("__METHOD__", method)
        .replace("__PAYLOAD__", payload)
        .replace("__TAIL__", tail)
    )
    for placeholder, value in fills.items():
        text = text.replace(placeholder, value)
    return text


class QuickStart:
    def __init__(self, served, workdir: Path) -> None:
        self.workdir = workdir
        self.info = served.info
        self.base = {
            "{your AK}": served.info.app_key,
            "{your SK}": served.info.secret_key,
            "https://openapi-us.dji.com": served.info.base_url,
        }
        self.env = {**os.environ, "AWS_ENDPOINT_URL_S3": served.info.s3_endpoint_url, "LC_ALL": "C"}

    def bash(self, spec, **fills: str) -> dict:
        script = self.workdir / "call.sh"
        script.write_text(_bash_script(spec, {**self.base, **fills}))
        proc = subprocess.run(
            ["bash", str(script)],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        assert doc["result"]["code"] == 0, doc
        return doc["data"]

    def python(self, text: str) -> str:
        path = self.workdir / "script.py"
        path.write_text(text)
        proc = subprocess.run(
            [sys.executable, str(path)],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout


def test_quickstart_2d_job(served, photos, tmp_path):
    rasterio = pytest.importorskip("rasterio")
    pyproj = pytest.importorskip("pyproj")
    qs = QuickStart(served, tmp_path)
    folder = tmp_path / "Two-Dimension-2D"
    folder.mkdir()
    for p in photos:
        shutil.copy(p, folder / p.name)

    token = qs.bash(GET_TOKEN)
    store_root = token["storePath"][: token["storePath"].rfind("/{fileName}")]
    upload = (
        UPLOAD_PY.replace("{your access id}", token["accessKeyID"])
        .replace("{your access key}", token["secretAccessKey"])
        .replace("{your token}", token["sessionToken"])
        .replace("{store path}", store_root)
        .replace(r"./Three-Dimension-3D\3cm-3D-orthomosaic-70pic", str(folder))
    )
    out = qs.python(upload)
    assert out.count("Uploaded: ") == len(photos)
    uploaded = json.loads((tmp_path / "uploaded_files.json").read_text())
    assert sorted(u["name"] for u in uploaded) == sorted(p.name for p in photos)

    resource = qs.bash(CREATE_RESOURCE)
    bind = (
        BIND_PY.replace("{your app key}", qs.info.app_key)
        .replace("{your secret key}", qs.info.secret_key)
        .replace("{your created resource uuid}", resource["uuid"])
        .replace("{callbackParam from token}", token["callbackParam"])
        .replace("https://openapi-us.dji.com", qs.info.base_url)
    )
    out = qs.python(bind)
    assert '"code":0' in out
    detail = qs.bash(GET_RESOURCE, **{"{uuid form check job status}": resource["uuid"]})
    assert len(detail["fileUuids"]) == len(photos)

    job = qs.bash(CREATE_JOB)
    started = qs.bash(
        START_2D, **{"{your uuid}": job["uuid"], "{uuid from create resource}": resource["uuid"]}
    )
    assert started["status"] == 1
    deadline = time.time() + 120
    while True:
        status = qs.bash(CHECK_JOB, **{"{uuid from create job}": job["uuid"]})
        if status["status"] in (5, 6, 7) or time.time() > deadline:
            break
        time.sleep(0.5)
    assert status["status"] == 6, status

    output = qs.bash(GET_RESOURCE, **{"{uuid form check job status}": status["outputResourceUuid"]})
    files = {}
    for file_uuid in output["fileUuids"]:
        info = qs.bash(GET_FILE, **{"{file uuid}": file_uuid})
        files[info["name"]] = info
    assert {"map/result.tif", "map/result.tfw", "map/result.prj", "mission.json"} <= set(files)
    tif = tmp_path / "result.tif"
    r = requests.get(files["map/result.tif"]["url"], timeout=60)
    assert r.status_code == 200
    tif.write_bytes(r.content)
    tfw = requests.get(files["map/result.tfw"]["url"], timeout=60).text.split()

    with rasterio.open(tif) as ds:
        assert ds.crs.to_epsg() == 32650
        assert ds.count == 4 and ds.dtypes[0] == "uint8"
        t = ds.transform
        bounds = ds.bounds
    a, _d, _b, e, c, f = (float(v) for v in tfw)
    assert a == pytest.approx(t.a) and e == pytest.approx(t.e)
    assert c == pytest.approx(t.c + t.a / 2) and f == pytest.approx(t.f + t.e / 2)
    from terranb.dataset.exif import read_photo_meta  # the dataset module reads the positions

    to_utm = pyproj.Transformer.from_crs(4326, 32650, always_xy=True)
    for p in photos:
        meta = read_photo_meta(p)
        x, y = to_utm.transform(meta.longitude, meta.latitude)
        assert bounds.left <= x <= bounds.right and bounds.bottom <= y <= bounds.top, p.name
