"""Run the notebook library for an event with papermill; batches over events; HTML reports.

``run_event("deepseek-2025-01-27")`` (or any ISO date) executes every ``notebooks/NN_*.py``
(jupytext percent scripts, converted in memory) into ``build/runs/<event id>/``, then writes:

- ``<notebook>.ipynb`` -- the executed notebooks (kept when a cell fails);
- ``figures/*.png`` and ``results/*.nc|csv`` -- written by the notebooks;
- ``summary.json`` -- status, parameters, package versions, git commit, data file hashes and
  the SHA-256 of every result file (no timestamps: reruns give identical files);
- ``report.html`` -- the executed notebooks as one offline web page (inputs hidden).

``run_batch`` runs several events on ``workers`` processes, sharing one dask cluster (a
``LocalCluster`` it starts, or the ``scheduler`` address given), records failures without
stopping, and writes ``build/runs/index.html``.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import multiprocessing
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shocklab.config import LOCAL_CLUSTER, build_root, data_root
from shocklab.data.calendar import DayZero, NonTradingPolicy, resolve_day0
from shocklab.data.catalog import Catalog
from shocklab.data.readlog import load_read_log, read_log
from shocklab.events import EventSpec, load_events, resolve_event
from shocklab.provenance import git_commit, provenance
from shocklab.studies.run import Readiness
from shocklab.universe import research_dir

NOTEBOOK_NAME = re.compile(r"^\d\d_[a-z0-9_]+\.py$")
SECRET_NAME = re.compile(r"(key|token|secret|passw|credential|auth)", re.IGNORECASE)
SECRET_VALUE = re.compile(r"(^sk-|^ghp_|^xox[bp]-|^AKIA[0-9A-Z]{12}|[A-Za-z0-9+/_-]{32,})")
BASE_PARAMETERS = ("event", "data_dir", "output_dir", "scheduler", "non_trading")


@dataclass(frozen=True)
class RunRecord:
    """What happened to one event's run."""

    event: str
    event_id: str
    status: str  # "ok", "partial" (a study skipped: no data at the event) or "failed"
    output: str
    error: str = ""
    seconds: float = 0.0
    notebooks: dict[str, str] = field(default_factory=dict)


def notebooks_dir() -> Path:
    """``$SHOCKLAB_NOTEBOOKS_DIR``, else ``notebooks/`` beside ``research/``."""
    env = os.environ.get("SHOCKLAB_NOTEBOOKS_DIR")
    if env:
        return Path(env)
    folder = research_dir()
    if folder is None or not (folder.parent / "notebooks").is_dir():
        msg = "no notebooks/ folder found: set SHOCKLAB_NOTEBOOKS_DIR or run from the project"
        raise FileNotFoundError(msg)
    return folder.parent / "notebooks"


def notebook_paths(folder: Path | None = None) -> list[Path]:
    """The stage-numbered notebooks (``00_*.py``, ``10_*.py``, ...) in run order."""
    folder = folder or notebooks_dir()
    return sorted(p for p in folder.glob("*.py") if NOTEBOOK_NAME.match(p.name))


def check_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Reject secret-looking parameters: papermill writes parameters into executed notebooks."""
    for name, value in parameters.items():
        if SECRET_NAME.search(name) or (
            isinstance(value, str) and SECRET_VALUE.search(value) and "/" not in value
        ):
            msg = (
                f"parameter {name!r} looks like a secret; papermill writes parameters into the "
                "executed notebook and the report. Pass secrets through environment variables "
                "(e.g. COINGLASS_API_KEY), never as parameters"
            )
            raise ValueError(msg)
    return dict(parameters)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def preflight(
    spec: EventSpec,
    day0: DayZero,
    data_dir: str | os.PathLike[str] | None,
    paths: Sequence[Path],
) -> dict[str, Readiness]:
    """Before any kernel starts: each notebook's study says whether the data root covers the
    event at day 0 (through the catalog) and what it would need. Notebooks without a
    pre-flight check (``shocklab.studies.preflight.PREFLIGHT``) are taken as ready."""
    from shocklab.studies.preflight import PREFLIGHT

    catalog = Catalog(data_root(data_dir))
    return {
        p.stem: PREFLIGHT[p.stem](spec, day0, catalog) if p.stem in PREFLIGHT else Readiness(p.stem)
        for p in paths
    }


_WARNING_LINE = re.compile(r"^\S.*?:\d+: (\w+(?:Warning|Error)): (.+)$")


def caveats(executed: Sequence[Path]) -> list[dict[str, str]]:
    """Every warning the notebooks printed (their stderr outputs), deduplicated, with the
    notebook it came from, in run order."""
    if not executed:
        return []
    import nbformat

    found: dict[tuple[str, str], dict[str, str]] = {}
    for path in executed:
        if not path.is_file():
            continue
        for cell in nbformat.read(path, as_version=4).cells:
            for output in cell.get("outputs", []):
                if output.get("name") != "stderr":
                    continue
                for line in str(output.get("text", "")).splitlines():
                    match = _WARNING_LINE.match(line)
                    # tqdm's notebook-widget notice is about the kernel, not the data
                    if match and match[1] != "TqdmWarning":
                        key = (match[1], match[2].strip())
                        found.setdefault(
                            key,
                            {"notebook": path.stem, "category": key[0], "message": key[1]},
                        )
    return list(found.values())


def _notebook_argument(spec: EventSpec) -> str:
    """What the notebooks receive as ``event``: the registry id, or the ad-hoc ISO date or UTC
    moment (``2024-08-02T21:00Z``)."""
    if not spec.adhoc:
        return spec.id
    moment = spec.moment_utc
    if moment == moment.normalize():
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%dT%H:%MZ")


def run_event(
    event: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    scheduler: str = "",
    non_trading: NonTradingPolicy = "next",
    notebooks: Sequence[Path] | None = None,
    kernel_name: str = "python3",
) -> RunRecord:
    """Execute every notebook for ``event`` (registry id, ISO date or UTC moment such as
    ``2024-08-02T21:00Z``) into build/runs/<id>/.

    Day 0 is resolved once, before any kernel starts
    (:func:`shocklab.data.calendar.resolve_day0` under ``non_trading``): with ``"error"`` a
    weekend, holiday or after-close moment raises here. ``summary.json`` and the report state
    the mapping.

    ``scheduler``: ``""`` (local threads in each kernel), ``"local"`` (one ``LocalCluster`` for
    all the notebooks of this run) or a dask.distributed address.
    Bad input (unknown id, malformed date, path characters) raises before anything is written.
    A failing notebook does not raise: the record says ``failed`` and the executed notebook,
    with its traceback, is kept.
    """
    spec = resolve_event(event)
    day0 = resolve_day0(spec.moment_utc, non_trading)
    parameters = check_parameters(
        {
            "event": _notebook_argument(spec),
            "data_dir": str(data_dir or ""),
            "output_dir": "",
            "scheduler": scheduler,
            "non_trading": non_trading,
        }
    )
    paths = list(notebooks) if notebooks is not None else notebook_paths()
    start = time.perf_counter()
    readiness = preflight(spec, day0, data_dir, paths)
    out = build_root().resolve() / "runs" / spec.id
    out.mkdir(parents=True, exist_ok=True)
    parameters["output_dir"] = str(out)
    statuses: dict[str, str] = {stem: r.text() for stem, r in readiness.items() if not r.ready}
    skipped = dict(statuses)
    errors = []
    executed = []
    read_file = out / ".data_files_read.jsonl"
    read_file.unlink(missing_ok=True)
    runnable = [p for p in paths if readiness[p.stem].ready]
    if not runnable:  # nothing covers the event: one message, no kernel started
        reasons = list(dict.fromkeys(f"{r.study}: {r.reason}" for r in readiness.values()))
        errors.append(
            f"no study has data for {spec.id} ({spec.moment_label}) in {data_root(data_dir)}: "
            + "; ".join(reasons)
        )
    if runnable:  # the notebook stack loads only when a kernel will start (a refusal is fast)
        import jupytext
        import papermill as pm
    with read_log(read_file), shared_cluster(scheduler if runnable else "") as address:
        for path in runnable:
            target = out / f"{path.stem}.ipynb"
            nb = jupytext.read(path)
            try:
                pm.execute_notebook(
                    nb,
                    str(target),
                    parameters={**parameters, "scheduler": address},
                    kernel_name=kernel_name,
                    cwd=str(Path.cwd()),  # the kernel resolves build/ and research/ as we do
                    progress_bar=False,
                )
                statuses[path.stem] = "ok"
            except pm.PapermillExecutionError as exc:
                statuses[path.stem] = f"failed: {exc.ename}: {exc.evalue}"
                errors.append(f"{path.stem}: {exc.ename}: {exc.evalue}")
            executed.append(target)
    status = "failed" if errors else "partial" if skipped else "ok"
    record = RunRecord(
        event=event,
        event_id=spec.id,
        status=status,
        output=str(out),
        error="; ".join(errors),
        seconds=round(time.perf_counter() - start, 2),
        notebooks={p.stem: statuses[p.stem] for p in paths},
    )
    data_files = load_read_log(read_file) if read_file.is_file() else {}
    read_file.unlink(missing_ok=True)
    summary = provenance(
        {**parameters, "output_dir": f"runs/{spec.id}", "event_spec": spec.model_dump(mode="json")},
        data_files,
    )
    summary.update(
        {
            "git_commit": git_commit(notebooks_dir() if notebooks is None else notebooks[0].parent),
            "event_id": spec.id,
            "day0": day0.to_dict(),
            "status": status,
            "error": record.error,
            "skipped": {stem: readiness[stem].text() for stem in skipped},
            "preflight_notes": {s: r.note for s, r in readiness.items() if r.note},
            "caveats": caveats(executed),
            "notebooks": record.notebooks,
            "results": {
                p.relative_to(out).as_posix(): _sha256(p)
                for p in sorted((out / "results").glob("*"))
                if p.is_file()
            },
        }
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True, default=str))
    write_report(out, spec, executed, summary)
    return record


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1150px; margin: 2em auto; padding: 0 1em;
       color: #222; }}
table {{ border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }}
th, td {{ border: 1px solid #ccc; padding: 2px 6px; text-align: right; white-space: nowrap; }}
.output_subarea, .output_html {{ overflow-x: auto; }}
img {{ max-width: 100%; }}
.prov {{ font-size: 0.8em; color: #555; }}
.failed {{ color: #b00020; font-weight: bold; }}
.partial {{ color: #9a6700; font-weight: bold; }}
.ok {{ color: #1a7f37; font-weight: bold; }}
.skipped, .caveats {{ border-left: 4px solid #d4a72c; background: #fff8e5; padding: 0.3em 1em;
                      margin: 0.6em 0; font-size: 0.9em; }}
td.failed, td.partial, td.ok {{ text-align: left; }}
pre {{ white-space: pre-wrap; font-size: 0.8em; }}
</style></head>
<body>
<h1>{title}</h1>
{body}
<script>
// For automated checks: how many figures decoded and how many tables rendered with rows.
window.addEventListener("load", () => {{
  const imgs = Array.from(document.images);
  document.body.dataset.images = imgs.length;
  document.body.dataset.imagesRendered = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.tables = Array.from(document.querySelectorAll("table"))
    .filter(t => t.rows.length > 1 && t.getBoundingClientRect().height > 0).length;
}});
</script>
</body></html>
"""


def write_report(
    out: Path, spec: EventSpec, executed: Sequence[Path], summary: Mapping[str, Any]
) -> Path:
    """``report.html``: a header (status, day 0 per calendar, what was skipped or failed and
    why, the run's warnings), then the executed notebooks (inputs hidden) as one offline page."""
    parts = []
    for path in executed:
        if path.is_file():
            import nbformat
            from nbconvert import HTMLExporter

            exporter = HTMLExporter(
                template_name="basic", exclude_input=True, exclude_input_prompt=True
            )
            exporter.exclude_output_prompt = True
            nb = nbformat.read(path, as_version=4)
            for cell in nb.cells:  # warnings on stderr are listed once, under "Caveats"
                cell["outputs"] = [o for o in cell.get("outputs", []) if o.get("name") != "stderr"]
            body, _ = exporter.from_notebook_node(nb)
            parts.append(f'<section id="{html.escape(path.stem)}">{body}</section>')
    status = str(summary.get("status", "?"))
    head = [
        f'<p class="status">Run status: <span class="{status}">{html.escape(status)}</span></p>',
        f'<p class="day0"><b>Day 0.</b> {html.escape(str(summary.get("day0", {}).get("statement", "")))}.</p>',
    ]
    skipped = summary.get("skipped", {})
    if skipped:
        items = "".join(
            f"<li><b>{html.escape(stem)}</b>: {html.escape(text)}</li>"
            for stem, text in skipped.items()
        )
        head.append(f'<div class="skipped"><b>Not computed in this run</b><ul>{items}</ul></div>')
    if summary.get("error"):
        head.append(f'<p class="failed">Error: {html.escape(str(summary["error"]))}</p>')
    notes = summary.get("caveats", [])
    if notes:
        items = "".join(
            f"<li>{html.escape(c['message'])} <span class='prov'>({html.escape(c['category'])}, "
            f"{html.escape(c['notebook'])})</span></li>"
            for c in notes
        )
        head.append(
            f'<div class="caveats"><b>Caveats</b> (warnings raised in the run)<ul>{items}</ul></div>'
        )
    head.append(
        f'<p class="prov">shocklab {html.escape(str(summary["packages"].get("shocklab")))}, commit '
        f"{html.escape(str(summary.get('git_commit')))}; {len(summary.get('data_files', {}))} data "
        "files read, each hashed in summary.json</p>"
    )
    page = _PAGE.format(
        title=html.escape(
            spec.label if spec.moment_label in spec.label else f"{spec.label} ({spec.moment_label})"
        ),
        body="\n".join(head) + "\n".join(parts),
    )
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def write_index(records: Sequence[RunRecord], root: Path | None = None) -> Path:
    """``build/runs/index.html``: every run under build/runs with its status and report link."""
    runs = (root or build_root().resolve()) / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    latest = {r.event_id: r for r in records}
    rows = []
    for folder in sorted(p for p in runs.iterdir() if (p / "summary.json").is_file()):
        summary = json.loads((folder / "summary.json").read_text())
        spec = summary["parameters"]["event_spec"]
        status = summary["status"]
        reasons = [summary.get("error", ""), *summary.get("skipped", {}).values()]
        if folder.name in latest and latest[folder.name].error:
            reasons[0] = latest[folder.name].error
        note = html.escape("; ".join(r for r in reasons if r))
        moment = str(spec.get("moment", spec.get("date", "")))  # runs made before moments
        rows.append(
            f"<tr><td><a href='{html.escape(folder.name)}/report.html'>"
            f"{html.escape(folder.name)}</a></td><td>{html.escape(moment)}</td>"
            f"<td>{html.escape(str(spec.get('label', '')))}</td><td class='{html.escape(status)}'>"
            f"{html.escape(status)}</td><td>{note}</td></tr>"
        )
    body = (
        "<table><tr><th>event</th><th>moment (UTC)</th><th>label</th><th>status</th>"
        "<th>error or what was skipped</th></tr>" + "".join(rows) + "</table>"
    )
    path = runs / "index.html"
    path.write_text(_PAGE.format(title="shocklab runs", body=body), encoding="utf-8")
    return path


def _run_one(
    event: str, data_dir: str | None, scheduler: str, non_trading: NonTradingPolicy
) -> RunRecord:
    try:
        return run_event(event, data_dir=data_dir, scheduler=scheduler, non_trading=non_trading)
    except (ValueError, OSError) as exc:  # bad event id or date: record, do not stop the batch
        return RunRecord(event=event, event_id=event, status="failed", output="", error=str(exc))


@contextlib.contextmanager
def shared_cluster(scheduler: str, workers: int = 2) -> Iterator[str]:
    """The scheduler address the notebooks get: ``"local"`` starts a ``LocalCluster``
    (``workers`` processes, one thread each) for the duration of the block; an address or
    ``""`` (local threads in each kernel) passes through."""
    if scheduler != LOCAL_CLUSTER:
        yield scheduler
        return
    from dask.distributed import LocalCluster

    # ":0": a free port for the dashboard, so concurrent runs never collide on 8787
    with LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        yield str(cluster.scheduler_address)


def run_batch(
    events: Sequence[str] | None = None,
    *,
    workers: int = 2,
    scheduler: str = "",
    data_dir: str | os.PathLike[str] | None = None,
    non_trading: NonTradingPolicy = "next",
    progress: bool = True,
) -> list[RunRecord]:
    """Run several events (default: the whole registry) on ``workers`` processes.

    ``scheduler`` decides where the notebooks' dask work runs:

    - ``""`` (default): in each notebook kernel on local threads. On one machine this is the
      fastest: ``benchmarks/bench_runner.py`` measured 4 events on 2 cores at 0.52x the serial
      time, against 0.65x with a shared ``LocalCluster`` (every panel then travels from the
      cluster's worker processes to the kernels).
    - ``"local"``: one ``LocalCluster`` (``workers`` processes, one thread each) started here
      and shared by every notebook of the batch.
    - an address (``tcp://host:8786``): an existing cluster, for work that outgrows one machine.

    A failing event is recorded and the batch goes on.
    """
    from tqdm.auto import tqdm

    events = list(events) if events else list(load_events())
    if workers < 1:
        msg = f"workers must be >= 1, not {workers}"
        raise ValueError(msg)
    records: list[RunRecord] = []
    with shared_cluster(scheduler, workers) as address:
        ctx = multiprocessing.get_context("spawn")  # no fork of a process holding threads
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = [
                pool.submit(_run_one, e, str(data_dir) if data_dir else None, address, non_trading)
                for e in events
            ]
            records.extend(
                fut.result()
                for fut in tqdm(futures, total=len(futures), desc="events", disable=not progress)
            )
    write_index(records)
    return records


def records_json(records: Sequence[RunRecord]) -> str:
    """The records as JSON (for the CLI)."""
    return json.dumps([asdict(r) for r in records], indent=2)
