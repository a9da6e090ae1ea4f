"""The HTML survey report and its run card.

``build_report(results, out)`` writes one self-contained HTML page (map, 3D
views, statistics, run card) for the result trees under ``results``; the run
card (:class:`RunCard`) records backend, job ids, parameters, checksums and
timings of the run that made them.
"""

from terranb.report.runcard import RUNCARD_NAME, FileSum, JobRecord, RunCard, file_checksums
from terranb.report.survey import ReportOptions, build_report, find_results, report_html

__all__ = [
    "RUNCARD_NAME",
    "FileSum",
    "JobRecord",
    "ReportOptions",
    "RunCard",
    "build_report",
    "file_checksums",
    "find_results",
    "report_html",
]
