"""The submit widget's second source: "photos of a dock mission" on FlightHub 2.

:class:`MissionOps` lists projects and flight tasks, preflights a task's photos by
HTTP Range (:func:`terranb.jobs.mission_preflight.preflight_flight_task`: nothing is
downloaded) and starts a map model with :meth:`Job.from_flight_task` (nothing is
uploaded). :class:`MissionPicker` is the project -> flight task choice the submit
widget shows instead of the folder box when that source is selected.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from terranb.widgets._common import run_blocking, spawn, widgets

__all__ = ["SOURCES", "MissionOps", "MissionPicker", "check_mission", "submit_mission"]

SOURCES = [("a local folder", "folder"), ("photos of a dock mission", "mission")]
DAYS = 7.0  # the task list's look-back window, as flighthub2-cli's and `terranb fh2 tasks`


class MissionOps:
    """FlightHub 2 calls behind the mission source.

    Args:
        backend_factory: ``kind -> Backend`` (``backends_for(emu)``); its ``"flighthub"``
            backend's client is used. ``None``: a client from settings (env, profile).
        ledger: the job ledger (default: the user's).
    """

    def __init__(self, backend_factory: Callable[[str], Any] | None = None,
                 ledger: Any = None) -> None:
        self.backend_factory = backend_factory
        self.ledger = ledger
        self._clients: dict[str, Any] = {}

    def client(self, project_uuid: str | None = None) -> Any:
        """The FlightHub 2 client, for ``project_uuid`` when given (one per project)."""
        if "" not in self._clients:
            if self.backend_factory is not None:
                self._clients[""] = self.backend_factory("flighthub").client
            else:
                from terranb.api.flighthub import FlightHubClient

                self._clients[""] = FlightHubClient()
        base = self._clients[""]
        if not project_uuid or project_uuid == base.project_uuid:
            return base
        if project_uuid not in self._clients:
            from terranb.api.flighthub import FlightHubClient

            # The same organization key and settings, another X-Project-Uuid.
            self._clients[project_uuid] = FlightHubClient(
                user_token=base._token.reveal(), project_uuid=project_uuid,
                settings=base.settings)
        return self._clients[project_uuid]

    def projects(self) -> list[Any]:
        """Projects of the organization."""
        return list(self.client().projects.list())

    def tasks(self, project_uuid: str, days: float = DAYS) -> list[Any]:
        """Flight tasks of the project's docks in the last ``days`` days, newest first."""
        return list(self.client(project_uuid).flight_tasks.recent(days))

    def preflight(self, project_uuid: str, task_uuid: str, job_type: str) -> Any:
        """Preflight of the task's photos by range read (a MissionPreflight)."""
        from terranb.jobs.mission_preflight import preflight_flight_task

        return preflight_flight_task(task_uuid, client=self.client(project_uuid),
                                     job_type=job_type)

    def crs(self, project_uuid: str, task_uuid: str) -> str:
        """The UTM zone under the task's photos (when the CRS box is blank)."""
        from terranb.jobs.mission_preflight import task_crs

        return task_crs(task_uuid, client=self.client(project_uuid))

    def submit(self, project_uuid: str, task_uuid: str, params: Any, name: str) -> Any:
        """Start a map model from the task's media folder; returns the Job."""
        from terranb.jobs.job import Job
        from terranb.jobs.map_model_backend import MapModelBackend

        backend = MapModelBackend(self.client(project_uuid))
        return Job.from_flight_task(task_uuid, params, backend=backend, name=name or None,
                                    ledger=self.ledger)


class MissionPicker:
    """Project and flight task dropdowns, filled from :class:`MissionOps` on demand."""

    def __init__(self, ops: Any, on_change: Callable[[], None],
                 on_error: Callable[[BaseException], None]) -> None:
        w = widgets()
        style = {"description_width": "90px"}
        self.ops = ops
        self._on_change = on_change
        self._on_error = on_error
        self.project = w.Dropdown(options=[], description="Project", style=style,
                                  layout=w.Layout(width="520px"))
        self.task = w.Dropdown(options=[], description="Flight task", style=style,
                               layout=w.Layout(width="520px"))
        self.load_button = w.Button(description="Load", icon="refresh",
                                    tooltip="list the projects and their flight tasks")
        self.info = w.HTML()
        self.load_button.on_click(lambda _b: self.load())
        self.project.observe(self._project_changed, names="value")
        self.task.observe(lambda _c: self._on_change(), names="value")
        self.widget = w.VBox([w.HBox([self.project, self.load_button]), self.task, self.info])
        self.loaded = False

    def key(self) -> tuple[str, str]:
        """The chosen (project uuid, task uuid); blanks when none."""
        return (self.project.value or "", self.task.value or "")

    def load(self) -> None:
        """List the projects, then the chosen (first) project's tasks."""
        self.info.value = "loading projects ..."

        async def go() -> None:
            projects = await run_blocking(self.ops.projects)
            # Options are set with the observer off: ipywidgets selects the first option
            # itself, and the tasks are loaded right here (not by a second task that a
            # kernel-less run would not wait for).
            self.project.unobserve(self._project_changed, names="value")
            try:
                self.project.options = [(p.name or p.uuid, p.uuid) for p in projects]
                if projects and self.project.value is None:
                    self.project.value = projects[0].uuid
            finally:
                self.project.observe(self._project_changed, names="value")
            self.loaded = True
            if not projects:
                self.info.value = "no projects in this organization"
                return
            await self._fill_tasks(self.project.value)

        spawn(go(), self._failed)

    def _project_changed(self, change: dict[str, Any]) -> None:
        if change.get("new"):
            self.info.value = "loading flight tasks ..."
            spawn(self._fill_tasks(change["new"]), self._failed)

    async def _fill_tasks(self, project_uuid: str) -> None:
        tasks = await run_blocking(self.ops.tasks, project_uuid)
        self.task.options = [(f"{t.name or t.uuid} · {t.began} · {t.status}",
                              t.uuid) for t in tasks]
        self.task.value = tasks[0].uuid if tasks else None
        self.info.value = html.escape(
            f"{len(tasks)} flight task(s) in the last {DAYS:g} days" if tasks else
            f"no flight tasks in the last {DAYS:g} days on this project's docks")
        self._on_change()

    def _failed(self, exc: BaseException) -> None:
        self.info.value = ""
        self._on_error(exc)


def check_mission(sw: Any) -> None:
    """The Check button for a dock mission: preflight by range read, findings and map."""
    project, task = sw.mission.key()
    job_type = sw.job_type.value
    if not task:
        sw._refuse_check("choose a flight task first (press Load to list the projects' tasks)")
        return
    if job_type not in ("2d", "3d"):
        sw._refuse_check(f"a dock mission's photos make a 2D or 3D map model, not {job_type}: "
                         "choose 2D orthomosaic or 3D model")
        return
    key = sw._start_check("reading the photos' headers by HTTP Range ...")

    async def go() -> None:
        pre = await run_blocking(sw.ops_mission.preflight, project, task, job_type)
        sw.mission_preflight = pre
        sw._finish_check(key, pre.report)
        sw.summary.value += (f" <small class='tnb-range-read'>{html.escape(pre.read_line())}"
                             "</small>")

    spawn(go(), sw._report_error)


def submit_mission(sw: Any) -> None:
    """The Submit button for a dock mission: a map model from the task's media folder."""
    project, task = sw.mission.key()
    job_type = sw.job_type.value
    name = sw.name.value.strip()
    sw._start_submit("starting a map model from the flight task's media (nothing is uploaded) ...")

    async def go() -> None:
        crs = sw.crs.value.strip() or await run_blocking(sw.ops_mission.crs, project, task)
        params = sw.ops.params(job_type, crs, sw.quality.value)
        job = await run_blocking(sw.ops_mission.submit, project, task, params, name)
        await sw._job_started(job, f"map model started on FlightHub 2 ({crs}):")

    spawn(go(), sw._report_error)
