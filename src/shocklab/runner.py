"""Run the notebook library for an event with papermill; batches over events; HTML reports.

``run_event("deepseek-2025-01-27")`` (or any ISO date) executes every ``notebooks/NN_*.py``
(jupytext percent scripts, converted in memory) into a temporary folder beside its final one
(``build/runs/.<event id>.tmp-<pid>/``), then writes:

- ``<notebook>.ipynb`` -- the executed notebooks (kept when a cell fails);
- ``figures/*.png`` and ``results/*.nc|csv`` -- written by the notebooks;
- ``summary.json`` -- status, parameters, package versions, git commit, data file hashes and
  the SHA-256 of every result file (no timestamps: reruns give identical files);
- ``report.html`` -- the executed notebooks as one offline web page (inputs hidden).

A run that ends ``ok`` or ``partial`` then replaces ``build/runs/<event id>/``; a failed run
leaves the previous good run untouched and is kept beside it in ``build/runs/<event id>.failed/``.

``run_batch`` runs several events on ``workers`` processes, sharing one dask cluster (a
``LocalCluster`` it starts, or the ``scheduler`` address given), records failures without
stopping (a notebook kernel or a worker process that dies included), and writes
``build/runs/index.html``.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import multiprocessing
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from shocklab.config import LOCAL_CLUSTER, build_root, data_root
from shocklab.data.calendar import DayZero, NonTradingPolicy, resolve_day0
from shocklab.data.catalog import Catalog
from shocklab.data.readlog import load_read_log, read_log
from shocklab.events import EventSpec, load_events, resolve_event
from shocklab.provenance import git_commit, provenance
from shocklab.studies.run import Readiness, facts_path
from shocklab.universe import research_dir

NOTEBOOK_NAME = re.compile(r"^\d\d_[a-z0-9_]+\.py$")
SECRET_NAME = re.compile(
    r"(key|token|secret|passw|pwd|credential|auth|signature|\bsig\b)", re.IGNORECASE
)
"""A parameter name, or a query-parameter name inside a value, that holds a credential."""
KEY_PREFIX = re.compile(
    r"^(sk-|sk_(live|test)_|gh[pousr]_|github_pat_|glpat-|xox[abprs]-|AIza|(AKIA|ASIA)[0-9A-Z]{12}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.)"
)
"""The published prefixes of API keys and tokens (OpenAI, Stripe, GitHub, GitLab, Slack,
Google, AWS access keys, JSON web tokens)."""
LONG_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{32,}")
URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
BARE_USERINFO = re.compile(r"^[^/?#@\s:]+:[^/?#@\s]*@[^/?#@\s]")  # user:password@host:8786
BASE_PARAMETERS = ("event", "data_dir", "output_dir", "scheduler", "non_trading")
FAILED_SUFFIX = ".failed"
"""A failed run's folder: ``build/runs/<event id>.failed/``, beside the last good run."""
_SCRATCH = re.compile(r"^\.(?P<name>(?P<id>.+?)(?:\.failed)?)\.(?P<kind>tmp|old)-(?P<pid>\d+)$")


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


def _key_like(text: str) -> bool:
    """True for a value shaped like an API key or token: a published key prefix, or a run of
    32+ key characters with letters and digits that is hexadecimal or mixes upper and lower
    case (a hash, base64), which the hyphenated lower-case words of event ids never are."""
    if KEY_PREFIX.match(text):
        return True
    for run in LONG_TOKEN.findall(text):
        letters = [c for c in run if c.isalpha()]
        if not letters or not any(c.isdigit() for c in run):
            continue
        hexadecimal = all(c in "0123456789abcdefABCDEF" for c in run)
        mixed_case = any(c.isupper() for c in letters) and any(c.islower() for c in letters)
        if hexadecimal or mixed_case:
            return True
    return False


def _secret_in(value: str) -> str:
    """What in ``value`` is a credential (empty when nothing is): URL user info, a token-,
    key-, secret- or password-like query parameter, or a key-like value. Paths and plain
    addresses (``tcp://10.0.0.5:8786``, ``/data/market-data``) pass."""
    url = URL_SCHEME.match(value) is not None
    if url:
        parts = urlsplit(value)
        if "@" in parts.netloc:
            return "user info (user:password@) in the address"
        query = "&".join(q for q in (parts.query, parts.fragment) if q)
    else:
        if BARE_USERINFO.match(value):
            return "user info (user:password@) in the address"
        query = value.partition("?")[2]
    for name, text in parse_qsl(query.replace(";", "&"), keep_blank_values=True):
        if SECRET_NAME.search(name):
            return f"query parameter {name!r}"
        if _key_like(text):
            return f"a key-like value of query parameter {name!r}"
    if not url and "/" not in value and _key_like(value):  # a path may hold long names
        return "a key-like value"
    return ""


def check_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Refuse credentials in parameters: papermill writes parameters into the executed
    notebooks, and the run into summary.json and the report.

    Refused: secret-like parameter names, URL user info (``tcp://user:secret@host:8786``),
    token-, key-, secret- or password-like query parameters (``tcp://host:8786?token=abc``)
    and key-like values. The message says where credentials go instead (environment
    variables); it never repeats the value."""
    for name, value in parameters.items():
        why = "its name" if SECRET_NAME.search(name) else ""
        if not why and isinstance(value, str):
            why = _secret_in(value)
        if why:
            msg = (
                f"parameter {name!r} looks like a secret ({why}); papermill writes parameters "
                "into the executed notebooks, summary.json and the report, so credentials are "
                "never passed as parameters. Pass them through environment variables: for a "
                "dask scheduler, a tls:// address with DASK_DISTRIBUTED__COMM__TLS__CA_FILE, "
                "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT and "
                "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY (or the same keys in a dask config "
                "file); for data services, their variables (e.g. COINGLASS_API_KEY)"
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


def _alive(pid: int) -> bool:
    """True when a process ``pid`` exists (ours included)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def clear_scratch(runs: Path, event_id: str) -> None:
    """Remove the temporary folders of ``event_id`` left in ``runs`` by processes that no longer
    exist (a run killed before it could move its output); a live run's folder is left alone.
    A previous run set aside (``.<id>.old-<pid>``) by a process killed between the two renames
    of :func:`_publish` is the only copy of that run: it is renamed back, never deleted."""
    if not runs.is_dir():
        return
    for path in sorted(runs.iterdir()):
        match = _SCRATCH.match(path.name)
        if not match or match["id"] != event_id or _alive(int(match["pid"])):
            continue
        home = runs / match["name"]
        if match["kind"] == "old" and not home.exists():
            path.rename(home)
        else:
            shutil.rmtree(path, ignore_errors=True)


def _publish(work: Path, dest: Path) -> None:
    """Move the finished run folder ``work`` to ``dest``, replacing what was there. A folder
    cannot be renamed over a non-empty one: the old one is renamed aside first (and back if
    the move fails), then removed."""
    aside = dest.with_name(f".{dest.name}.old-{os.getpid()}")
    shutil.rmtree(aside, ignore_errors=True)
    replacing = True
    try:
        dest.rename(aside)
    except FileNotFoundError:  # the first run of this event
        replacing = False
    try:
        work.rename(dest)
    except OSError:
        if replacing:
            aside.rename(dest)
        raise
    if replacing:
        shutil.rmtree(aside, ignore_errors=True)


def _relocate(work: Path, dest: Path) -> None:
    """Rewrite the temporary folder's path into the final one in the executed notebooks
    (papermill's parameters and metadata, any output that printed it), so that the notebooks
    and the report name where the files are, and reruns stay identical."""
    old, new = (json.dumps(str(p), ensure_ascii=False)[1:-1] for p in (work, dest))
    for path in work.glob("*.ipynb"):
        text = path.read_text(encoding="utf-8")
        if old in text:
            path.write_text(text.replace(old, new), encoding="utf-8")


_SIGNAL_CAUSE = {
    int(signal.SIGKILL): "the out-of-memory killer sends it",
    int(signal.SIGSEGV): "a crash in compiled code",
    int(signal.SIGABRT): "a crash in compiled code",
    int(signal.SIGBUS): "a crash in compiled code",
}


def _kernel_watch() -> tuple[type[Any], list[int]]:
    """A kernel manager class for papermill, and the list it records into.

    - It records the exit code of a kernel found dead (for :func:`_death_reason`).
    - The kernel talks over local IPC sockets in a private temporary folder, not TCP ports on
      127.0.0.1: no port race between kernels started at once (jupyter_client#154) and no
      "Kernel is running over TCP without encryption" warning on every start.
    - An idle kernel is shut down without the interrupt jupyter_client sends first, which
      only made ipykernel log a false "KeyboardInterrupt caught in kernel" after every
      notebook that ran to its end.
    """
    import tempfile

    from jupyter_client.manager import AsyncKernelManager

    exits: list[int] = []

    class WatchedKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._ipc_dir = tempfile.mkdtemp(prefix="shocklab-kernel-")
            self.transport = "ipc"
            self.ip = str(Path(self._ipc_dir) / "kernel")

        async def is_alive(self) -> bool:  # type: ignore[override]  # async, as its parent's
            alive = bool(await super().is_alive())
            if not alive and self.provisioner is not None and self.provisioner.has_process:
                code = await self.provisioner.poll()
                if code is not None:
                    exits.append(int(code))
            return alive

        async def _async_interrupt_kernel(self) -> None:
            if self.shutting_down:  # shutting down a kernel that finished its notebook
                return
            await super()._async_interrupt_kernel()

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            await super()._async_cleanup_resources(restart=restart)
            if not restart:
                shutil.rmtree(self._ipc_dir, ignore_errors=True)

    return WatchedKernelManager, exits


def _ended(code: int | None) -> str:
    """How a process ended, from its exit code (negative: the signal that killed it)."""
    if code is None:
        return "stopped (out of memory, a crash or a signal)"
    if code >= 0:
        return f"exited with code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    cause = _SIGNAL_CAUSE.get(-code)
    return f"killed by {name}" + (f" ({cause})" if cause else "")


def _death_reason(exits: Sequence[int], notebook: Path) -> str:
    """``kernel died: ...``: how the kernel process ended (signal or exit code) and the cell
    it was running (from the executed notebook papermill saved up to that cell)."""
    how = _ended(exits[-1] if exits else None)
    where = ""
    if notebook.is_file():
        import nbformat

        cells = nbformat.read(notebook, as_version=4).cells
        started = [
            i for i, c in enumerate(cells) if c.metadata.get("papermill", {}).get("start_time")
        ]
        if started:
            where = f" while running cell {started[-1] + 1} of {len(cells)}"
    return f"kernel died: the Python kernel was {how}{where}"


def _run_notebook(nb: Any, target: Path, parameters: Mapping[str, Any], kernel_name: str) -> str:
    """Execute one notebook with papermill into ``target``: ``""`` when it ran, else why not
    (``<error>: <message>`` of the cell that raised, or ``kernel died: ...``). The executed
    notebook is written either way, with the traceback or the outputs up to the dead cell."""
    import papermill as pm
    from nbclient.exceptions import DeadKernelError

    for attempt in (1, 2):
        watch, exits = _kernel_watch()
        try:
            pm.execute_notebook(
                nb,
                str(target),
                parameters=dict(parameters),
                kernel_name=kernel_name,
                cwd=str(Path.cwd()),  # the kernel resolves build/ and research/ as we do
                progress_bar=False,
                kernel_manager_class=watch,
            )
        except pm.PapermillExecutionError as exc:
            return f"{exc.ename}: {exc.evalue}"
        except DeadKernelError:  # out of memory, a segfault: this notebook fails, not the run
            return _death_reason(exits, target)
        except RuntimeError as exc:
            if not str(exc).startswith("Kernel died before replying"):
                raise
            # it died while starting, before any cell: e.g. a port taken by another kernel
            # between its choice and its use (jupyter_client#154); one more start
            if attempt == 1:
                continue
            how = _ended(exits[-1] if exits else None)
            return f"kernel died: the Python kernel was {how} while starting, twice"
        return ""
    return ""  # not reached: the second attempt returns


def run_event(
    event: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    scheduler: str = "",
    non_trading: NonTradingPolicy = "next",
    notebooks: Sequence[Path] | None = None,
    kernel_name: str = "python3",
    progress: Callable[[str], object] | None = None,
) -> RunRecord:
    """Execute every notebook for ``event`` (registry id, ISO date or UTC moment such as
    ``2024-08-02T21:00Z``) into build/runs/<id>/.

    ``progress`` (e.g. ``print``) receives one line per notebook as it ends: its status and
    elapsed time (``10_event_study: ok in 35.2 s``), or why the pre-flight skipped it.

    Day 0 is resolved once, before any kernel starts
    (:func:`shocklab.data.calendar.resolve_day0` under ``non_trading``): with ``"error"`` a
    weekend, holiday or after-close moment raises here. ``summary.json`` and the report state
    the mapping.

    ``scheduler``: ``""`` (local threads in each kernel), ``"local"`` (one ``LocalCluster`` for
    all the notebooks of this run) or a dask.distributed address.
    Bad input (unknown id, malformed date, path characters, credentials in a parameter) raises
    before anything is written.

    The notebooks write into ``build/runs/.<id>.tmp-<pid>/`` (their ``output_dir``). A run that
    ends ``ok`` or ``partial`` then replaces ``build/runs/<id>/`` (and removes an older
    ``<id>.failed/``); a failed run leaves ``build/runs/<id>/`` untouched and moves to
    ``build/runs/<id>.failed/`` (replacing an older one). A failing notebook, or one whose
    kernel dies (out of memory, a crash), does not raise: the record says ``failed`` with the
    reason, and the executed notebook, with its traceback or its outputs up to the dead cell,
    is kept.
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
    runs = build_root().resolve() / "runs"
    final = runs / spec.id
    clear_scratch(runs, spec.id)
    out = runs / f".{spec.id}.tmp-{os.getpid()}"  # the notebooks write here
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    try:
        parameters["output_dir"] = str(out)
        statuses: dict[str, str] = {stem: r.text() for stem, r in readiness.items() if not r.ready}
        skipped = dict(statuses)
        errors = []
        executed = []
        read_file = out / ".data_files_read.jsonl"
        runnable = [p for p in paths if readiness[p.stem].ready]
        if not runnable:  # nothing covers the event: one message, no kernel started
            reasons = list(dict.fromkeys(f"{r.study}: {r.reason}" for r in readiness.values()))
            errors.append(
                f"no study has data for {spec.id} ({spec.moment_label}) in {data_root(data_dir)}: "
                + "; ".join(reasons)
            )
        if runnable:  # the notebook stack loads only when a kernel will start (a refusal is fast)
            import jupytext
        if progress is not None:
            for stem, text in skipped.items():
                progress(f"{stem}: {text}")
        with read_log(read_file), shared_cluster(scheduler if runnable else "") as address:
            for path in runnable:
                target = out / f"{path.stem}.ipynb"
                began = time.perf_counter()
                try:
                    failure = _run_notebook(
                        jupytext.read(path),
                        target,
                        {**parameters, "scheduler": address},
                        kernel_name,
                    )
                except Exception as exc:  # noqa: BLE001  # any other failure is this notebook's
                    failure = f"{type(exc).__name__}: {exc}"
                statuses[path.stem] = f"failed: {failure}" if failure else "ok"
                if progress is not None:
                    took = time.perf_counter() - began
                    progress(f"{path.stem}: {statuses[path.stem]} in {took:.1f} s")
                if failure:
                    errors.append(f"{path.stem}: {failure}")
                executed.append(target)
        status = "failed" if errors else "partial" if skipped else "ok"
        dest = final if status != "failed" else final.with_name(final.name + FAILED_SUFFIX)
        record = RunRecord(
            event=event,
            event_id=spec.id,
            status=status,
            output=str(dest),
            error="; ".join(errors),
            seconds=round(time.perf_counter() - start, 2),
            notebooks={p.stem: statuses[p.stem] for p in paths},
        )
        data_files = load_read_log(read_file) if read_file.is_file() else {}
        read_file.unlink(missing_ok=True)
        _relocate(out, dest)
        summary = provenance(
            {
                **parameters,
                "output_dir": f"runs/{dest.name}",
                "event_spec": spec.model_dump(mode="json"),
            },
            data_files,
        )
        summary.update(
            {
                "git_commit": git_commit(
                    notebooks_dir() if notebooks is None else notebooks[0].parent
                ),
                "event_id": spec.id,
                "day0": day0.to_dict(),
                "status": status,
                "error": record.error,
                "skipped": {stem: readiness[stem].text() for stem in skipped},
                "preflight_notes": {s: r.note for s, r in readiness.items() if r.note},
                "caveats": caveats(executed),
                "notebooks": record.notebooks,
                "executive_summary": executive_summary(out, record.notebooks),
                "results": {  # only what this run wrote: the folder started empty
                    p.relative_to(out).as_posix(): _sha256(p)
                    for p in sorted((out / "results").glob("*"))
                    if p.is_file()
                },
            }
        )
        (out / "summary.json").write_text(
            json.dumps(summary, indent=2, sort_keys=True, default=str)
        )
        write_report(out, spec, executed, summary)
        _publish(out, dest)
        if status != "failed":  # an older failed attempt no longer describes this event
            shutil.rmtree(final.with_name(final.name + FAILED_SUFFIX), ignore_errors=True)
        return record
    finally:  # published, or an exception escaped: no temporary folder is left behind
        shutil.rmtree(out, ignore_errors=True)


SUMMARY_SECTIONS = {
    "event": ("10_event_study", "What happened, and how sure"),
    "liquidations": ("30_liquidations", "Forced liquidations"),
    "regimes": ("20_regimes", "Tech-crypto coupling"),
}
"""Executive-summary sections: the notebook that writes ``results/facts_<section>.json``."""


def executive_summary(out: Path, notebooks: Mapping[str, str]) -> list[dict[str, Any]]:
    """The sections of the executive summary, from the facts the notebooks wrote
    (:func:`shocklab.studies.summary.save_facts`). A section whose notebook was skipped, failed
    before writing its facts or is not part of the run is listed with the reason."""
    sections = []
    for key, (stem, title) in SUMMARY_SECTIONS.items():
        path = facts_path(out, key)
        status = notebooks.get(stem, "not part of this run")
        entry: dict[str, Any] = {"section": key, "title": title, "notebook": stem}
        if path.is_file():
            body = json.loads(path.read_text())
            entry.update(facts=body.get("facts", []), tables=body.get("tables", {}))
            entry["status"] = "ok" if status == "ok" else f"partial: the notebook {status}"
        else:
            entry.update(facts=[], tables={}, status=f"not computed: {status}")
        sections.append(entry)
    return sections


def _summary_html(sections: Sequence[Mapping[str, Any]], skipped: Mapping[str, str]) -> str:
    """The executive summary as HTML: facts with a link to the result file behind each number,
    tables in a scrolling box, and -- in one place -- what this run could not compute: every
    skipped notebook with its reason, and every section whose notebook failed before writing
    its facts."""
    parts = ['<section id="executive-summary"><h2>Executive summary</h2>']
    missing = [
        f"<li><b>{html.escape(stem)}</b>: {html.escape(text)}</li>"
        for stem, text in skipped.items()
    ]
    for sec in sections:
        status = str(sec.get("status", ""))
        if status.startswith("not computed"):
            if sec.get("notebook") not in skipped:
                missing.append(
                    f"<li><b>{html.escape(sec['title'])}</b>: {html.escape(status)}</li>"
                )
            continue
        parts.append(f"<h3>{html.escape(sec['title'])}</h3>")
        if status != "ok":
            parts.append(f'<p class="partial">{html.escape(status)}</p>')
        items = []
        for f in sec.get("facts", []):
            link = (
                f' <a class="source" href="{html.escape(f["source"])}">[{html.escape(f["source"])}]</a>'
                if f.get("source")
                else ""
            )
            items.append(
                f"<li><b>{html.escape(f['label'])}</b>: {html.escape(f['value'])}{link}</li>"
            )
        if items:
            parts.append(f'<ul class="facts">{"".join(items)}</ul>')
        for title, tab in sec.get("tables", {}).items():
            head = "".join(
                f"<th>{html.escape(c)}</th>" for c in [tab.get("index", ""), *tab["columns"]]
            )
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                for row in tab["rows"]
            )
            parts.append(
                f'<div class="scroll"><table class="summary-table"><caption>{html.escape(title)} '
                f'<a class="source" href="{html.escape(tab["source"])}">[{html.escape(tab["source"])}]</a>'
                f"</caption><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>"
            )
    if missing:
        parts.append(
            f'<div class="skipped"><b>Not computed in this run</b><ul>{"".join(missing)}</ul></div>'
        )
    parts.append("</section>")
    return "\n".join(parts)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1150px; margin: 2em auto; padding: 0 1em;
       color: #222; }}
table {{ border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }}
th, td {{ border: 1px solid #ccc; padding: 2px 6px; text-align: right; white-space: nowrap; }}
.output_subarea, .output_html, .jp-OutputArea-output, .jp-RenderedHTMLCommon, .scroll
    {{ overflow-x: auto; max-width: 100%; }}
caption {{ text-align: left; font-weight: bold; padding: 0.3em 0; }}
#executive-summary {{ border: 1px solid #ccc; border-radius: 6px; padding: 0.2em 1em 0.8em;
                      background: #fafbfc; }}
ul.facts li {{ margin: 0.25em 0; }}
a.source {{ font-size: 0.8em; color: #57606a; }}
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
  // pixels the page is wider than the window (0: nothing overflows), and the executive
  // summary's height and rendered text (empty when it is hidden)
  const root = document.documentElement;
  document.body.dataset.overflow = Math.max(0, root.scrollWidth - root.clientWidth);
  const summary = document.getElementById("executive-summary");
  const shown = summary && summary.getBoundingClientRect().height > 0;
  document.body.dataset.summaryTop = shown ? Math.round(summary.getBoundingClientRect().top) : -1;
  const text = document.createElement("pre");
  text.id = "rendered-summary";
  text.hidden = true;
  text.textContent = shown ? summary.innerText : "";
  document.body.appendChild(text);
}});
</script>
</body></html>
"""


def write_report(
    out: Path, spec: EventSpec, executed: Sequence[Path], summary: Mapping[str, Any]
) -> Path:
    """``report.html``: a header (status, day 0 per calendar, the executive summary with what
    was skipped or failed and why, the run's warnings), then the executed notebooks (inputs
    hidden) as one offline page."""
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
        _summary_html(summary.get("executive_summary", []), summary.get("skipped", {})),
    ]
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


def _index_row(link: str, name: str, moment: str, label: str, status: str, note: str) -> str:
    first = f"<a href='{html.escape(link)}'>{html.escape(name)}</a>" if link else html.escape(name)
    return (
        f"<tr><td>{first}</td><td>{html.escape(moment)}</td><td>{html.escape(label)}</td>"
        f"<td class='{html.escape(status)}'>{html.escape(status)}</td>"
        f"<td>{html.escape(note)}</td></tr>"
    )


def write_index(records: Sequence[RunRecord], root: Path | None = None) -> Path:
    """``build/runs/index.html``: every run under build/runs with its status and report link.

    A failed rerun (``<id>.failed/``) is listed beside the previous good run it left in place;
    a failed event of ``records`` that has no run folder (a worker process that died, an input
    refused) is listed with its reason."""
    runs = (root or build_root().resolve()) / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    latest = {Path(r.output).name: r for r in records if r.output}
    folders = sorted(
        p for p in runs.iterdir() if not p.name.startswith(".") and (p / "summary.json").is_file()
    )
    names = {p.name for p in folders}
    rows = []
    for folder in folders:
        summary = json.loads((folder / "summary.json").read_text())
        spec = summary["parameters"]["event_spec"]
        status = summary["status"]
        reasons = [summary.get("error", ""), *summary.get("skipped", {}).values()]
        if folder.name in latest and latest[folder.name].error:
            reasons[0] = latest[folder.name].error
        note = "; ".join(r for r in reasons if r)
        good = folder.name.removesuffix(FAILED_SUFFIX)
        if folder.name.endswith(FAILED_SUFFIX) and good in names:
            note = f"latest run failed; the previous {good} run above is kept. {note}"
        moment = str(spec.get("moment", spec.get("date", "")))  # runs made before moments
        label = str(spec.get("label", ""))
        rows.append(
            (
                folder.name,
                _index_row(f"{folder.name}/report.html", folder.name, moment, label, status, note),
            )
        )
    rows.extend(  # failed before a run folder existed
        (r.event_id, _index_row("", r.event_id, "", "", r.status, r.error))
        for r in records
        if r.status == "failed" and Path(r.output).name not in names
    )
    body = (
        "<table><tr><th>event</th><th>moment (UTC)</th><th>label</th><th>status</th>"
        "<th>error or what was skipped</th></tr>"
        + "".join(row for _, row in sorted(rows, key=lambda item: item[0]))
        + "</table>"
    )
    path = runs / "index.html"
    path.write_text(_PAGE.format(title="shocklab runs", body=body), encoding="utf-8")
    return path


def _failed(event: str, error: str) -> RunRecord:
    """The record of an event that failed before or outside :func:`run_event`."""
    try:
        event_id = resolve_event(event).id
    except ValueError:
        event_id = event
    return RunRecord(event=event, event_id=event_id, status="failed", output="", error=error)


def _run_one(
    event: str, data_dir: str | None, scheduler: str, non_trading: NonTradingPolicy
) -> RunRecord:
    try:
        return run_event(event, data_dir=data_dir, scheduler=scheduler, non_trading=non_trading)
    except (ValueError, OSError) as exc:  # bad event id or date, disk: record, go on
        return _failed(event, str(exc))
    except Exception as exc:  # noqa: BLE001 -- anything else stops this event only, not the batch
        return _failed(event, f"{type(exc).__name__}: {exc}")


def _child(conn: Connection, args: tuple[Any, ...]) -> None:
    """The body of an event's own process: run it, send the record back."""
    conn.send(_run_one(*args))
    conn.close()


def _run_alone(ctx: SpawnContext, args: tuple[Any, ...]) -> RunRecord:
    """Run one event in a fresh process of its own, so that a process that dies (the
    out-of-memory killer, a crash) is that event's failure, named with how it ended."""
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(send, args), name=f"shocklab-{args[0]}")
    try:
        process.start()
    except OSError as exc:  # no memory or process slot left for one more
        receive.close()
        return _failed(args[0], f"cannot start a process for this event: {exc}")
    finally:
        send.close()  # the child holds its own end
    try:
        record: RunRecord | None = receive.recv()
    except EOFError:  # the process ended without sending its record
        record = None
    finally:
        receive.close()
        process.join()
    if record is not None:
        return record
    failed = _failed(
        args[0],
        f"worker process died: the process running this event was {_ended(process.exitcode)}",
    )
    clear_scratch(build_root().resolve() / "runs", failed.event_id)  # its unfinished folder
    return failed


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

    ``progress``: one line on stderr per event as it ends (id, status, elapsed time).

    ``scheduler`` decides where the notebooks' dask work runs:

    - ``""`` (default): in each notebook kernel on local threads. On one machine this is the
      fastest: ``benchmarks/bench_runner.py`` measured 4 events on 2 cores at 0.52x the serial
      time, against 0.65x with a shared ``LocalCluster`` (every panel then travels from the
      cluster's worker processes to the kernels).
    - ``"local"``: one ``LocalCluster`` (``workers`` processes, one thread each) started here
      and shared by every notebook of the batch.
    - an address (``tcp://host:8786``): an existing cluster, for work that outgrows one machine.

    Each event runs in a fresh process of its own (``workers`` at a time). A failing event is
    recorded and the batch goes on: a failing notebook, a notebook kernel that dies
    (``kernel died: ...``) and an event's process that dies (``worker process died: ...``)
    alike.
    """
    events = list(events) if events else list(load_events())
    if workers < 1:
        msg = f"workers must be >= 1, not {workers}"
        raise ValueError(msg)
    check_parameters({"scheduler": scheduler, "data_dir": str(data_dir or "")})
    with shared_cluster(scheduler, workers) as address:
        ctx = multiprocessing.get_context("spawn")  # no fork of a process holding threads
        args = [(e, str(data_dir) if data_dir else None, address, non_trading) for e in events]
        # each event in a fresh process of its own, ``workers`` at a time: a process that dies
        # takes down its own event only, and says so
        with ThreadPoolExecutor(max_workers=workers) as threads:
            futures = [threads.submit(_run_alone, ctx, a) for a in args]
            for n, done in enumerate(as_completed(futures), 1):
                if progress:
                    r = done.result()
                    line = f"[{n}/{len(futures)}] {r.event_id}: {r.status} in {r.seconds:.1f} s"
                    print(line, file=sys.stderr, flush=True)
    records = [f.result() for f in futures]
    write_index(records)
    return records


def records_json(records: Sequence[RunRecord]) -> str:
    """The records as JSON (for the CLI)."""
    return json.dumps([asdict(r) for r in records], indent=2)
