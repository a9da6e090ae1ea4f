"""The surveyor's report: planted check points, RTK from DJI XMP, vertical datum, PDF."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

pytest.importorskip("rasterio")
pytest.importorskip("folium")

from terranb.report import ReportOptions, build_report, report_html

_spec = importlib.util.spec_from_file_location("_cp_scene",
                                               Path(__file__).with_name("test_checkpoints.py"))
assert _spec is not None and _spec.loader is not None
scene = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scene)


def _planted_tree(tmp_path: Path) -> tuple[Path, Path]:
    tree = tmp_path / "results" / "2d"
    _o, _d, truth = scene.plant_scene(tree)
    (tree / "mission.json").write_text("{}")
    return tree, scene.write_csv(tmp_path / "cp.csv", truth)


def _cell(text: str, row: str) -> list[str]:
    m = re.search(r"<tr><td>" + re.escape(row) + r"</td>(.*?)</tr>", text)
    assert m, row
    return re.findall(r"<td[^>]*>(.*?)</td>", m.group(1))


def test_report_shows_residuals_and_rmse_within_one_gsd(tmp_path: Path) -> None:
    tree, csv = _planted_tree(tmp_path)
    text = report_html(tree, options=ReportOptions(site="Planted field", operator="Q. Tester",
                                                   notes="targets 60 cm", check_points=csv))
    assert "Planted field" in text and "Q. Tester" in text and "targets 60 cm" in text
    assert "not assessed" not in text
    dx0, dy0, dz0 = scene.SHIFT
    for name in ("CP1", "CP2", "CP3"):
        cells = _cell(text, name)
        dx, dy, dz = float(cells[3]), float(cells[4]), float(cells[6])
        assert abs(dx - dx0) < scene.GSD and abs(dy - dy0) < scene.GSD
        assert abs(dz - dz0) < 0.002 and cells[7].startswith("target")
    rmse = {k: float(v) for k, v in re.findall(
        r"<th>RMSE ([XYZ])</th><td>([0-9.]+) m</td>", text)}
    assert abs(rmse["X"] - abs(dx0)) < scene.GSD and abs(rmse["Y"] - abs(dy0)) < scene.GSD
    assert abs(rmse["Z"] - dz0) < 0.002
    # the check points are a labelled map layer with a legend row
    assert "check points (surveyed)" in text


def test_without_check_points_the_report_says_not_assessed(tmp_path: Path) -> None:
    tree, _csv = _planted_tree(tmp_path)
    text = report_html(tree)
    assert "No check points given: absolute accuracy not assessed." in text
    assert "ellipsoidal heights" in text  # no override_vertical_cs: the default datum


def test_vertical_datum_from_job_and_report() -> None:
    from terranb.report.readable import vertical_datum
    from terranb.results.reports import parse_report

    text, src = vertical_datum('{"parameter":{"output_geo_desc":{"geo_cs":"EPSG:32650",'
                               '"override_vertical_cs":"EPSG:3855"}}}', {})
    assert "EPSG:3855" in text and "EGM2008" in text and "override_vertical_cs" in src
    rep = parse_report({"output vertical coordinate": "EGM2008_Geoid", "lpp time": 1})
    text, src = vertical_datum(None, {"lidar_report": rep})
    assert text.startswith("EGM2008_Geoid") and "geoid" in text
    text, _src = vertical_datum(None, {})
    assert text.startswith("ellipsoidal")


def test_readable_values_and_asprs_names() -> None:
    from terranb.report.readable import class_name, readable

    assert class_name(11) == "Road Surface" and class_name(9) == "Water"
    assert class_name(40) == "Reserved (40)" and class_name(70) == "User defined (70)"
    assert readable({"fixed solution": 1.0, "other": False}) == "fixed solution: 1; other: no"
    assert "{" not in readable({"a": {"b": [1, 2]}})


def test_real_dji_report_figures_are_readable(real_data: Path) -> None:
    from terranb.report.readable import report_rows
    from terranb.results.reports import load_report

    rep = load_report(real_data / "reports" / "dji_terra_lidar" / "report.json")
    acc, other = report_rows(rep)
    assert acc["pos status"] == "fixed solution: 1; other solution: 0"
    assert acc["point cloud density"].startswith("average 653.944 points/m²; 1:500: standard 16 "
                                                 "points/m², in 0.25 m cells, 0.68 % of 518,408")
    assert not any(str(v).startswith("{") for v in [*acc.values(), *other.values()])
    assert acc["sample distance (m)"] == pytest.approx(0.1)  # the unit is in the label


def test_rtk_status_from_real_dji_photos(real_data: Path) -> None:
    from terranb.report.photos import summarize_photos

    folder = real_data / "dji_jpeg" / "thermal_parser"
    s = summarize_photos([folder / "DJI_XTS.jpg", folder / "H20N_DJI_0006_R.JPG"],
                         footprints=False)
    # the XT S writes DJI:RtkFlag="0"; the H20N no RtkFlag but GpsStatus="Normal"
    assert s.rtk == {"no position (RtkFlag 0)": 1, "not recorded (no RtkFlag)": 1}
    assert s.gps_status == {"Normal": 1}
    assert s.aircraft.get("Matrice 300 RTK") == 1
    assert "not recorded" in s.rows()["RTK positioning accuracy (median 1-sigma)"]


def test_rtk_fixed_and_accuracy_from_xmp(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    from terranb.dataset import synthetic as syn
    from terranb.report.photos import summarize_photos

    paths = []
    for i, (flag, std) in enumerate([(50, 0.012), (50, 0.014), (34, 0.2)]):
        xmp = syn._xmp_packet({"RelativeAltitude": "+40.00", "GimbalPitchDegree": "-90.0",
                               "RtkFlag": str(flag), "RtkStdLon": f"{std}",
                               "RtkStdLat": f"{std}", "RtkStdHgt": f"{std * 1.5}",
                               "DroneModel": "M3E"})
        when = datetime(2026, 5, 1, 9, 0, 10 * i, tzinfo=timezone.utc)
        exif = syn._exif_for(when, 22.5 + i * 1e-4, 114.0, 120.0, (64, 48))
        p = tmp_path / f"DJI_{i:04d}.JPG"
        syn._write_jpeg(p, np.zeros((48, 64, 3), "uint8"), exif, xmp, 80)
        paths.append(p)
    s = summarize_photos(paths, footprints=False)
    assert s.rtk == {"RTK fixed (RtkFlag 50)": 2, "RTK float (RtkFlag 34)": 1}
    assert s.rtk_std_m["lon"] == pytest.approx(0.014)
    assert s.span_s == 20 and s.count == 3 and s.aircraft == {"M3E": 3}
    assert "1.4 cm" in s.rows()["RTK positioning accuracy (median 1-sigma)"]
    # the same photos in a second folder (uploaded again for another job) count once
    again = tmp_path / "again"
    again.mkdir()
    copies = [Path(shutil.copy2(p, again / p.name)) for p in paths]
    s2 = summarize_photos(paths + copies, footprints=False)
    assert (s2.count, s2.files, len(s2.centres)) == (3, 6, 3)
    assert s2.rows()["photos"].startswith("3 (6 files: 3 are copies")


def test_bad_check_point_csv_is_a_clear_error(tmp_path: Path) -> None:
    from terranb.cli.main import main

    tree, _csv = _planted_tree(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("name,x,y\nA,1,2\n")
    out = tmp_path / "r.html"
    assert main(["report", str(tree), "--out", str(out), "--check-points", str(bad)]) != 0
    assert not out.exists()  # nothing half written


@pytest.mark.slow
def test_pdf_has_the_same_sections(tmp_path: Path) -> None:
    from terranb.report.pdf import build_pdf, find_chromium

    if find_chromium() is None or shutil.which("pdftotext") is None:
        pytest.skip("needs chromium and pdftotext (poppler-utils)")
    tree, csv = _planted_tree(tmp_path)
    opts = ReportOptions(site="Planted field", check_points=csv)
    html_text = build_report(tree, tmp_path / "r.html", options=opts).read_text()
    pdf = build_pdf(tree, tmp_path / "r.pdf", options=opts)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    titles = re.findall(r"<section id=\"[^\"]+\"><h2>([^<]+)</h2>", html_text)
    assert len(titles) >= 7
    for t in titles:
        assert t in text, t
    assert "Planted field" in text and "RMSE Z" in text and "CP2" in text
    # the maps were drawn at the survey's scale, not at the whole world's: Chromium used to
    # print some maps before their frame had a size (scale bars of 5000 km)
    scales = re.findall(r"^\s*(\d+) ?(m|km|mi|ft)\b", text, re.M)  # Leaflet's scale bar
    assert scales and all(unit in ("m", "ft") for _n, unit in scales), scales
    assert not (tmp_path / "r.print.html").exists()


def test_sample_distance_zero_reads_as_not_used() -> None:
    from types import SimpleNamespace

    from terranb.report.readable import report_rows

    acc, _ = report_rows(SimpleNamespace(raw={"sample distance": 0, "quality level": 2}))
    assert acc["sample distance"] == "not used (thinned by quality level)"
    acc, _ = report_rows(SimpleNamespace(raw={"sample distance": 0.2}))
    assert acc["sample distance (m)"] == 0.2


def test_positioning_rows_stated_once_under_accuracy() -> None:
    from types import SimpleNamespace

    from terranb.report.accuracy import accuracy_section, acquisition_section

    rows = {"photos": "36", "GNSS / RTK fix (photos)": "RTK fixed (RtkFlag 50): 36",
            "RTK positioning accuracy (median 1-sigma)": "1.4 cm",
            "GPS status (photos)": "Normal: 36"}
    summary = SimpleNamespace(count=36, rows=lambda: dict(rows))
    page = acquisition_section(summary) + accuracy_section([], summary, None, "")
    for label in ("RTK fixed (RtkFlag 50): 36", "1.4 cm", "Normal: 36"):
        assert page.count(label) == 1, label
    assert "see Accuracy" in acquisition_section(summary)
