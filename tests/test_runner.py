"""Notebooks, papermill runner, batch and HTML report, on the real mirror."""

from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from html import escape as html_escape
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from helpers import symlinked_root

from shocklab.cli import main
from shocklab.events import load_events, resolve_event
from shocklab.models.breaks import BreaksResult
from shocklab.models.dcc import DCCResult
from shocklab.models.markov import MarkovResult
from shocklab.runner import (
    RunRecord,
    check_parameters,
    notebook_paths,
    run_batch,
    run_event,
    write_index,
)
from shocklab.studies.run import output_folder

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# An IPython startup file for every kernel: an audit hook (PEP 578) appends each file the
# kernel process opens under the data root to AUDIT_FILE, through a descriptor opened before
# the hook (so the hook's own writes are not "open" events). Independent of shocklab's read log.
_AUDIT_STARTUP = """
import os, sys
_root = os.path.realpath(os.environ["SHOCKLAB_DATA_DIR"]) + os.sep
_fd = os.open(os.environ["AUDIT_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
def _audit(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.path.realpath(os.fsdecode(args[0]))
        if path.startswith(_root):
            os.write(_fd, (path[len(_root):] + chr(10)).encode())
sys.addaudithook(_audit)
"""


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory, mirror: Path) -> Iterator[Path]:
    """A build folder and the environment every kernel inherits (module scope), with the
    kernels' file-open audit (``AUDIT_FILE``)."""
    base = tmp_path_factory.mktemp("runs")
    root = base / "build"
    startup = base / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-audit.py").write_text(_AUDIT_STARTUP)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHOCKLAB_DATA_DIR", str(mirror))
        mp.setenv("SHOCKLAB_BUILD_DIR", str(root))
        mp.setenv("SHOCKLAB_OFFLINE", "1")
        mp.setenv("MPLBACKEND", "Agg")
        mp.setenv("IPYTHONDIR", str(base / "ipython"))
        mp.setenv("AUDIT_FILE", str(base / "opened.txt"))
        yield root


@pytest.fixture(scope="module")
def flagship(build: Path) -> RunRecord:
    return run_event("deepseek-2025-01-27")


def test_registry_has_the_named_events() -> None:
    events = load_events()
    for name in (
        "deepseek-2025-01-27",
        "yen-carry-2024-08-05",
        "ftx-2022-11-08",
        "terra-2022-05-09",
        "spot-etf-2024-01-11",
    ):
        assert name in events
    assert str(events["deepseek-2025-01-27"].date) == "2025-01-27"
    assert events["spot-etf-2024-01-11"].moment_label == "2024-01-11 14:30 UTC"
    assert resolve_event("2024-04-15").id == "adhoc-2024-04-15"
    assert resolve_event("2022-11-08").id == "ftx-2022-11-08"  # a registry moment is that event
    moment = resolve_event("2024-08-02T21:00Z")
    assert moment.id == "adhoc-20240802T2100Z"
    assert moment.moment_label == "2024-08-02 21:00 UTC"
    assert resolve_event("2024-08-02T17:00-04:00").id == "adhoc-20240802T2100Z"
    with pytest.raises(ValueError, match="no time zone"):
        resolve_event("2024-08-02T21:00")


def test_invalid_registry_names_event_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "events.yaml"
    bad.write_text("events:\n  broken:\n    date: 2025-13-01\n")
    with pytest.raises(ValueError, match=r"events.yaml: cannot read(.|\n)*month must be in"):
        load_events(bad)
    bad.write_text("events:\n  broken:\n    label: no date\n")
    with pytest.raises(ValueError, match=r"event 'broken' is invalid(.|\n)*moment"):
        load_events(bad)
    bad.write_text("events:\n  old:\n    date: 2025-01-27\n    time_utc: '14:30'\n")
    with pytest.raises(ValueError, match=r"moment: \"2025-01-27T14:30Z\""):
        load_events(bad)


def test_flagship_run_writes_everything(flagship: RunRecord, build: Path, mirror: Path) -> None:
    assert flagship.status == "ok", flagship.error
    out = Path(flagship.output)
    assert out == build.resolve() / "runs" / "deepseek-2025-01-27"
    names = [p.stem for p in notebook_paths()]
    assert names == ["00_data_overview", "10_event_study", "20_regimes", "30_liquidations"]
    for name in names:
        assert (out / f"{name}.ipynb").is_file()
    for fig in ("price_paths_daily", "price_paths_hourly", "car_paths_daily", "car_paths_hourly"):
        assert (out / "figures" / f"{fig}.png").stat().st_size > 10_000
    with xr.open_dataset(out / "results" / "event_study_daily.nc", engine="scipy") as ds:
        ar0 = ds["car"].sel(event="deepseek-2025-01-27", horizon="AR(+0)")
        assert float(ar0.sel(asset="NVDA")) < -0.10
        assert float(ar0.sel(asset="VST")) < -0.20
        assert {"test_statistic", "test_p_value", "caar", "status"} <= set(ds.data_vars)
    with xr.open_dataset(out / "results" / "event_study_hourly.nc", engine="scipy") as ds:
        btc = ds["abnormal_return"].sel(asset="BTCUSDT").isel(event=0)
        assert float(btc.sel(rel=slice(0, 6)).sum()) < -0.025
    for fig in ("coupling_rolling_ewma", "coupling_dcc", "coupling_regimes", "coupling_breaks"):
        assert (out / "figures" / f"{fig}.png").stat().st_size > 10_000
    with xr.open_dataset(out / "results" / "coupling_dcc.nc", engine="scipy") as ds:
        dcc = DCCResult.from_dataset(ds.load())
    assert 0.2 < float(dcc.pair("BTCUSDT", "QQQ").loc["2025-01-24"]) < 0.7
    assert dcc.params["a"] + dcc.params["b"] < 1
    for name, cls in (("coupling_markov", MarkovResult), ("coupling_breaks", BreaksResult)):
        with xr.open_dataset(out / "results" / f"{name}.nc", engine="scipy") as ds:
            assert cls.from_dataset(ds.load()).nobs > 500
    fr = pd.read_csv(out / "results" / "coupling_forbes_rigobon.csv", index_col="pair")
    assert {"rho_adj", "p_adj", "verdict"} <= set(fr.columns)
    assert fr.loc["BTCUSDT~NVDA", "rho_adj"] < fr.loc["BTCUSDT~NVDA", "rho_event"]
    pooled = (out / "results" / "liquidation_elasticity_pooled.csv").read_text()
    assert pooled.splitlines()[0].startswith("side,estimate,std_error")
    assert (out / "figures" / "liquidation_irf_btc.png").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "ok"
    assert summary["parameters"]["event"] == "deepseek-2025-01-27"
    assert summary["packages"]["statsmodels"]
    assert summary["git_commit"]
    nvda = summary["data_files"]["equities/us/1d/NVDA.csv"]
    assert len(nvda) == 64
    assert set(summary["results"]) >= {"results/event_study_daily.nc", "results/groups_daily.csv"}
    assert summary["day0"]["daily_session"] == "2025-01-27"
    assert summary["skipped"] == {}
    sections = {s["section"]: s for s in summary["executive_summary"]}
    assert [s["status"] for s in sections.values()] == ["ok", "ok", "ok"]
    facts = {f["label"]: f for s in sections.values() for f in s["facts"]}
    liq = next(f for label, f in facts.items() if label.startswith("Liquidations on 2025-01-27"))
    assert liq["value"].startswith("307 M USD: 217 M long, 90 M short")
    raw = pd.read_csv(mirror / "derivatives/coinglass_agg_daily/liquidation_agg_1d.csv.gz")
    day = raw[raw["ts_utc"].astype(str).str.startswith("2025-01-27")]
    assert f"{day['liq_long_usd'].sum() / 1e6:,.0f} M long" in liq["value"]  # from the raw file
    assert (out / liq["source"]).is_file()  # every fact names the file its number comes from
    assert all((out / f["source"]).is_file() for f in facts.values() if f["source"])


def test_summary_hashes_every_file_the_kernels_opened(
    flagship: RunRecord, build: Path, mirror: Path
) -> None:
    """summary.json's data files equal the files the four kernels opened under the data root
    (audited by a PEP 578 hook in each kernel), and each hash is the file's SHA-256."""
    summary = json.loads((Path(flagship.output) / "summary.json").read_text())
    opened = set((build.parent / "opened.txt").read_text().split())
    recorded = set(summary["data_files"])
    assert {
        "derivatives/coinglass_agg_daily/liquidation_agg_1d.csv.gz",
        "derivatives/coinglass_agg_daily/futures_oi_agg_1d.csv.gz",
        "crypto/binance/spot/1d/BTCUSDT.csv",
        "crypto/binance/usdm-funding/BTCUSDT.csv",
        "equities/us/1h/QQQ.csv",
    } <= recorded
    assert recorded == opened
    for rel, digest in summary["data_files"].items():
        assert digest == hashlib.sha256((mirror / rel).read_bytes()).hexdigest(), rel


def test_report_header_states_day0_and_caveats(flagship: RunRecord) -> None:
    out = Path(flagship.output)
    page = (out / "report.html").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert "Day 0.</b> event 2025-01-27: daily day 0 (NYSE close-to-close) = Mon 2025-01-27" in page
    caveats = summary["caveats"]
    assert caveats, "the flagship raises data-quality warnings; the report must list them"
    stderr = "".join(
        o.get("text", "")
        for nb in out.glob("*.ipynb")
        for c in nbformat.read(nb, as_version=4).cells
        for o in c.get("outputs", [])
        if o.get("name") == "stderr"
    )
    for note in caveats:
        assert note["message"] in stderr  # each caveat was raised in a notebook ...
        assert html_escape(note["message"]) in page  # ... and is shown in the report
    assert "DCC uses dates on which every asset has a return" in page


def _markdown_outputs(path: Path) -> list[str]:
    """The Markdown outputs of an executed notebook (what its narrative cells displayed)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return [
        o["data"]["text/markdown"]
        for c in nb.cells
        for o in c.get("outputs", [])
        if "text/markdown" in o.get("data", {})
    ]


def test_notebook_text_reads_numbers_from_results(flagship: RunRecord) -> None:
    texts = _markdown_outputs(Path(flagship.output) / "10_event_study.ipynb")
    headline = next(t for t in texts if "largest abnormal losses" in t)
    for text in texts:  # no number the text quotes is missing (the hourly study has no benchmark)
        assert not re.search(r"\bnan\b", text, re.IGNORECASE), text
    with xr.open_dataset(
        Path(flagship.output) / "results" / "event_study_daily.nc", engine="scipy"
    ) as ds:
        car = (
            ds["car"].sel(horizon="AR(+0)").isel(event=0).where(ds["status"].isel(event=0) == "ok")
        )
        worst = str(car.idxmin("asset").values)
        assert f"{worst} {float(car.min()) * 100:+.1f} %" in headline
        # the asset's own simple return and its benchmark's, beside the abnormal return
        one = ds.isel(event=0).sel(asset=worst, rel=0)
        raw = float(np.expm1(one["observed_return"])) * 100
        bench = float(np.expm1(one["market_return"])) * 100
        market = str(one["market"].values)
        assert f"(return {raw:+.1f} %, {market} {bench:+.1f} %;" in headline


def test_regimes_headline_reads_numbers_from_results(flagship: RunRecord) -> None:
    texts = _markdown_outputs(Path(flagship.output) / "20_regimes.ipynb")
    headline = next(t for t in texts if "correlation by year" in t)
    by_year = pd.read_csv(Path(flagship.output) / "results" / "coupling_by_year.csv", index_col=0)
    assert f"2024 {by_year.loc[2024, 'BTCUSDT~QQQ']:.2f}" in headline
    fr = pd.read_csv(Path(flagship.output) / "results" / "coupling_forbes_rigobon.csv", index_col=0)
    assert f"**{fr.loc['BTCUSDT~QQQ', 'verdict']}**" in headline


def _rendered(report: Path, profile: Path) -> dict[str, str]:
    """The page's body attributes after load (set by its onload script), via --dump-dom; the
    executive summary's rendered text (its ``innerText``, empty when hidden) under
    ``"summary_text"``."""
    dom = subprocess.run(
        [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=8000",
            "--dump-dom",
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    body = dom[dom.index("<body") : dom.index(">", dom.index("<body"))]
    attrs = dict(part.split("=", 1) for part in body.replace('"', "").split()[1:] if "=" in part)
    if 'id="rendered-summary"' in dom:
        start = dom.index(">", dom.index('id="rendered-summary"')) + 1
        attrs["summary_text"] = html.unescape(dom[start : dom.index("</pre>", start)])
    return attrs


def test_report_renders_in_headless_chromium(flagship: RunRecord, tmp_path: Path) -> None:
    report = Path(flagship.output) / "report.html"
    # a fresh profile per launch (no lock left by a previous browser); the dump can precede
    # the load event on a busy machine, so look up to three times
    for attempt in range(3):
        attrs = _rendered(report, tmp_path / f"profile-{attempt}")
        if "data-images" in attrs and attrs["data-images-rendered"] == attrs["data-images"]:
            break
    assert int(attrs["data-images"]) >= 5
    assert attrs["data-images-rendered"] == attrs["data-images"]
    assert int(attrs["data-tables"]) >= 3
    assert attrs["data-overflow"] == "0"  # nothing is wider than the window
    # the executive summary is on the first screen and shows the numbers the raw files give
    assert 0 <= int(attrs["data-summary-top"]) < 400
    text = attrs["summary_text"]
    moves = pd.read_csv(Path(flagship.output) / "results" / "raw_moves.csv", index_col=0)
    assert moves.loc["NVDA", "day-0 return %"] == pytest.approx(-16.9, abs=0.05)
    assert moves.loc["BTCUSDT", "trough"] == pytest.approx(97777.77)
    for needle in ("-16.9", "97,777.77", "2025-01-27 07:25", "307 M USD", "217 M long"):
        assert needle in text, needle
    shot = Path(flagship.output) / "report.png"
    subprocess.run(
        [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile-shot'}",
            "--window-size=1280,2400",
            f"--screenshot={shot}",
            report.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.stat().st_size > 50_000


def test_adhoc_date_and_identical_rerun(build: Path) -> None:
    only_event_study = [p for p in notebook_paths() if p.stem == "10_event_study"]
    first = run_event("2024-04-15", notebooks=only_event_study)
    assert first.status == "ok", first.error
    out = Path(first.output)
    assert out.name == "adhoc-2024-04-15"
    summary = json.loads((out / "summary.json").read_text())
    with xr.open_dataset(out / "results" / "event_study_daily.nc", engine="scipy") as ds:
        assert str(ds["event_date"].values[0])[:10] == "2024-04-15"
        assert int((ds["status"] == "ok").sum()) > 30
    again = run_event("2024-04-15", notebooks=only_event_study)
    assert again.status == "ok"
    assert json.loads((out / "summary.json").read_text())["results"] == summary["results"]


def _injected(notebook: Path) -> str:
    """Source of the parameters cell papermill injected into an executed notebook."""
    cells = nbformat.read(notebook, as_version=4).cells
    return "".join(c.source for c in cells if "injected-parameters" in c.metadata.get("tags", []))


def test_batch_records_a_failing_event_and_goes_on(
    build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    shutil.copy(ROOT / "notebooks" / "10_event_study.py", notebooks)  # the fast notebook only
    monkeypatch.setenv("SHOCKLAB_NOTEBOOKS_DIR", str(notebooks))
    monkeypatch.setenv("SHOCKLAB_BUILD_DIR", str(build))
    records = run_batch(
        ["terra-2022-05-09", "2031-01-06", "spot-etf-2024-01-11"],
        workers=2,
        scheduler="local",  # one LocalCluster shared by every notebook of the batch
        progress=False,
    )
    status = {r.event_id: r.status for r in records}
    assert status == {
        "terra-2022-05-09": "ok",
        "adhoc-2031-01-06": "failed",
        "spot-etf-2024-01-11": "ok",
    }
    failed = next(r for r in records if r.status == "failed")
    assert "no study has data" in failed.error  # the pre-flight refused it, in one message
    assert "outside the NYSE calendar" in failed.error
    assert not (Path(failed.output) / "10_event_study.ipynb").exists()  # no kernel started
    addresses = {
        re.search(
            r'scheduler = "(tcp://[^"]+)"', _injected(Path(r.output) / "10_event_study.ipynb")
        )[1]  # type: ignore[index]
        for r in records
        if r.status == "ok"
    }
    assert len(addresses) == 1  # every kernel was handed the same cluster
    index = (build / "runs" / "index.html").read_text()
    assert "terra-2022-05-09/report.html" in index
    assert "failed" in index


def test_regimes_notebook_on_an_event_before_hourly_equity_data(
    build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Terra (2022-05-09): RENDER/TAO have no data yet and QQQ has no hourly bars before
    2023-07; the regimes notebook still runs, leaving those out and saying so."""
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    shutil.copy(ROOT / "notebooks" / "20_regimes.py", notebooks)
    monkeypatch.setenv("SHOCKLAB_NOTEBOOKS_DIR", str(notebooks))
    monkeypatch.setenv("SHOCKLAB_BUILD_DIR", str(build))
    record = run_event("terra-2022-05-09")
    assert record.status == "ok", record.error
    out = Path(record.output)
    with xr.open_dataset(out / "results" / "coupling_realized.nc", engine="scipy") as ds:
        assert "no hourly tech bars" in ds.attrs["note"]
    fr = pd.read_csv(out / "results" / "coupling_forbes_rigobon.csv", index_col="pair")
    assert len(fr) == 12
    assert fr["n_event"].eq(21).all()
    around = pd.read_csv(out / "results" / "coupling_regime_at_event.csv", index_col="regime")
    assert around.iloc[:, 0].sum() == pytest.approx(1.0)


def test_bad_input_is_refused_before_writing(build: Path, tmp_path: Path) -> None:
    before = sorted(p.name for p in (build / "runs").iterdir()) if (build / "runs").exists() else []
    with pytest.raises(ValueError, match="unknown event 'no-such-event'"):
        run_event("no-such-event")
    with pytest.raises(ValueError, match="not a valid calendar date"):
        run_event("2025-02-30")
    with pytest.raises(ValueError, match="may hold only letters"):
        run_event("../x")
    after = sorted(p.name for p in (build / "runs").iterdir()) if (build / "runs").exists() else []
    assert after == before
    with pytest.raises(ValueError, match="looks like a secret"):
        check_parameters({"coinglass_api_key": "abc"})
    with pytest.raises(ValueError, match="looks like a secret"):
        check_parameters({"scheduler": "sk-" + "a" * 40})
    with pytest.raises(ValueError, match="outside the build folder"):
        output_folder(tmp_path / "elsewhere")
    assert main(["run", "--event", "../x"]) == 2


def test_default_build_folder_is_relative_to_the_callers_directory(
    build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without SHOCKLAB_BUILD_DIR, runner and kernels agree on ./build of the caller."""
    monkeypatch.delenv("SHOCKLAB_BUILD_DIR")
    monkeypatch.chdir(tmp_path)
    only_event_study = [p for p in notebook_paths() if p.stem == "10_event_study"]
    record = run_event("2024-04-15", notebooks=only_event_study)
    assert record.status == "ok", record.error
    assert Path(record.output) == tmp_path.resolve() / "build" / "runs" / "adhoc-2024-04-15"
    assert (Path(record.output) / "results" / "event_study_daily.nc").is_file()


def test_post_close_moment_without_coinglass_is_partial(
    build: Path, tmp_path: Path, mirror: Path
) -> None:
    """2024-08-02T21:00Z on a root without the CoinGlass daily files: the liquidation study is
    skipped by the pre-flight (no kernel), the event study runs on day 0 = Mon 2024-08-05, and
    the run says 'partial' with the reason in summary.json, the report header and index.html."""
    root = symlinked_root(mirror, tmp_path, drop=("derivatives/coinglass_agg_daily",))
    paths = [p for p in notebook_paths() if p.stem in ("10_event_study", "30_liquidations")]
    record = run_event("2024-08-02T21:00Z", data_dir=root, notebooks=paths)
    assert record.status == "partial", record.error
    assert record.event_id == "adhoc-20240802T2100Z"
    assert record.notebooks["10_event_study"] == "ok"
    assert record.notebooks["30_liquidations"].startswith("skipped:")
    out = Path(record.output)
    assert not (out / "30_liquidations.ipynb").exists()  # no kernel was started for it
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "partial"
    reason = summary["skipped"]["30_liquidations"]
    assert "liquidation_agg_1d.csv.gz is not in the data root" in reason
    assert "shocklab.data.fetch.fetch_coinglass_liquidations" in reason
    assert summary["day0"]["daily_session"] == "2024-08-05"
    assert summary["day0"]["hourly_bar_utc"] == "2024-08-02T21:00:00"
    with xr.open_dataset(out / "results" / "event_study_daily.nc", engine="scipy") as ds:
        assert str(ds["event_date"].values[0])[:10] == "2024-08-05"
        status = ds["status"].isel(event=0).to_series()
        car = ds["car"].sel(horizon="AR(+0)").isel(event=0).to_series()
        assert car[status == "ok"].notna().all()  # no asset ok without an abnormal return
    with xr.open_dataset(out / "results" / "event_study_hourly.nc", engine="scipy") as ds:
        assert str(ds["event_date"].values[0]).startswith("2024-08-02T21:00")
    page = (out / "report.html").read_text()
    assert "partial" in page
    assert "after the NYSE close of 2024-08-02" in page
    assert "Not computed in this run" in page
    assert html_escape(reason) in page
    write_index([])  # a later batch rewrites the index: this run's reason stays
    index = (out.parent / "index.html").read_text()
    row = next(r for r in index.split("<tr>") if "adhoc-20240802T2100Z" in r)
    assert "partial" in row
    assert "fetch_coinglass_liquidations" in row


def test_date_outside_all_data_fails_before_any_kernel(
    build: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import papermill

    def no_kernel(*args: object, **kwargs: object) -> None:
        raise AssertionError("a kernel was started")

    monkeypatch.setattr(papermill, "execute_notebook", no_kernel)
    record = run_event("2030-01-01")
    assert record.status == "failed"
    assert record.error.count("no study has data") == 1
    assert "outside the NYSE calendar" in record.error
    assert "data end 2025-06-30" in record.error
    summary = json.loads((Path(record.output) / "summary.json").read_text())
    assert summary["error"] == record.error
    write_index([])
    index = (Path(record.output).parent / "index.html").read_text()
    row = next(r for r in index.split("<tr>") if "adhoc-2030-01-01" in r)
    assert "failed" in row
    assert "no study has data" in row


# A stand-in study notebook (no data, a few seconds): it writes results/probe_a.csv, a figure,
# then does what PROBE_ACTIONS (JSON, keyed by event or event/notebook) says -- "fail" (a cell
# raises), "kill-kernel" (its kernel gets SIGKILL, as from the out-of-memory killer) or
# "kill-worker" (the process running papermill gets SIGKILL; batch workers only) -- and, if
# still running, writes results/probe_b.csv.
_PROBE = """# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
event = ""
data_dir = ""
output_dir = ""
scheduler = ""
non_trading = "next"

# %%
import json
import os
import signal

import matplotlib.pyplot as plt
import pandas as pd

from shocklab.studies.run import output_folder, save_table, show_figure

out = output_folder(output_dir)
actions = json.loads(os.environ.get("PROBE_ACTIONS", "{}"))
action = actions.get(event + "/NAME", actions.get(event, "ok"))
save_table(pd.DataFrame({"output_dir": [output_dir]}), out, "probe_a")

# %%
fig, ax = plt.subplots(figsize=(3, 2))
ax.plot([0, 1], [1, 0])
show_figure(fig, out, "probe_NAME")

# %%
if action == "fail":
    raise RuntimeError("probe failure")
if action == "kill-kernel":
    os.kill(os.getpid(), signal.SIGKILL)
if action == "kill-worker":
    os.kill(os.getppid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
save_table(pd.DataFrame({"x": [1]}), out, "probe_b")
"""


def _probe_notebooks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *names: str, **actions: str
) -> Path:
    """A notebooks folder of probe notebooks (SHOCKLAB_NOTEBOOKS_DIR) and their actions."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name in names:
        (folder / f"{name}.py").write_text(_PROBE.replace("NAME", name))
    monkeypatch.setenv("SHOCKLAB_NOTEBOOKS_DIR", str(folder))
    monkeypatch.setenv("PROBE_ACTIONS", json.dumps(actions))
    return folder


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_failed_rerun_keeps_the_good_run_and_writes_beside_it(
    build: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _probe_notebooks(tmp_path, monkeypatch, "10_probe")
    runs = tmp_path / "build" / "runs"
    good = run_event("2024-04-15")
    assert good.status == "ok", good.error
    out = runs / "adhoc-2024-04-15"
    assert Path(good.output) == out
    before = _files(out)
    assert set(json.loads(before["summary.json"])["results"]) == {
        "results/probe_a.csv",
        "results/probe_b.csv",
    }

    monkeypatch.setenv("PROBE_ACTIONS", json.dumps({"2024-04-15": "fail"}))
    failed = run_event("2024-04-15")
    assert failed.status == "failed"
    assert "RuntimeError: probe failure" in failed.error
    assert _files(out) == before  # the previous good run, untouched
    beside = runs / "adhoc-2024-04-15.failed"
    assert Path(failed.output) == beside
    summary = json.loads((beside / "summary.json").read_text())
    assert summary["status"] == "failed"
    assert summary["parameters"]["output_dir"] == "runs/adhoc-2024-04-15.failed"
    assert set(summary["results"]) == {"results/probe_a.csv"}  # only what this run wrote
    assert "probe failure" in (beside / "10_probe.ipynb").read_text()  # traceback kept
    assert "probe failure" in (beside / "report.html").read_text()

    # the notebooks wrote into a temporary folder beside the final one ...
    wrote_to = Path(pd.read_csv(out / "results" / "probe_a.csv")["output_dir"][0])
    assert wrote_to.parent == runs.resolve()
    assert re.fullmatch(r"\.adhoc-2024-04-15\.tmp-\d+", wrote_to.name)
    # ... and the executed notebooks name the final folder, where their files now are
    assert f'output_dir = "{out.resolve()}"' in _injected(out / "10_probe.ipynb")
    assert wrote_to.name not in (out / "10_probe.ipynb").read_text()
    assert f'output_dir = "{beside.resolve()}"' in _injected(beside / "10_probe.ipynb")
    assert [p.name for p in runs.iterdir() if p.name.startswith(".")] == []  # nothing left

    # index.html lists the failed rerun without hiding the good run
    (beside / "older-attempt.txt").write_text("replaced by the next failed run")
    capsys.readouterr()
    assert main(["run", "--event", "2024-04-15"]) == 1
    printed = capsys.readouterr()
    assert "probe failure" in printed.err
    assert f"report: {beside}/report.html" in printed.out
    assert f"previous good run kept: {out}" in printed.out
    assert not (beside / "older-attempt.txt").exists()  # an older .failed is replaced
    assert _files(out) == before
    index = write_index([]).read_text()
    rows = [r for r in index.split("<tr>") if "adhoc-2024-04-15" in r]
    assert len(rows) == 2
    assert "href='adhoc-2024-04-15/report.html'" in rows[0]
    assert "class='ok'" in rows[0]
    assert "href='adhoc-2024-04-15.failed/report.html'" in rows[1]
    assert "class='failed'" in rows[1]
    assert "probe failure" in rows[1]
    assert "previous adhoc-2024-04-15 run above is kept" in rows[1]

    # the report of the moved run renders (its figure is embedded, no link to the old folder)
    attrs = _rendered(out / "report.html", tmp_path / "profile")
    assert attrs["data-images"] == attrs["data-images-rendered"] == "1"

    # a good rerun replaces the good run; the failed attempt no longer describes the event
    monkeypatch.setenv("PROBE_ACTIONS", "{}")
    assert run_event("2024-04-15").status == "ok"
    assert not beside.exists()
    assert (
        json.loads((out / "summary.json").read_text())["results"]
        == json.loads(before["summary.json"])["results"]
    )


def test_a_dead_kernel_fails_its_notebook_and_the_run_goes_on(
    build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kernel killed by the system (out of memory: SIGKILL) is that notebook's failure, with
    its reason; the next notebook still runs and the run ends failed, kept in <id>.failed/."""
    _probe_notebooks(
        tmp_path, monkeypatch, "10_probe", "20_probe", **{"2024-04-15/10_probe": "kill-kernel"}
    )
    record = run_event("2024-04-15")
    assert record.status == "failed"
    reason = record.notebooks["10_probe"]
    assert reason.startswith("failed: kernel died: ")
    assert "SIGKILL" in reason
    assert "out-of-memory" in reason
    assert record.notebooks["20_probe"] == "ok"
    assert record.error == f"10_probe: {reason.removeprefix('failed: ')}"
    out = Path(record.output)
    assert out.name == "adhoc-2024-04-15.failed"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["error"] == record.error
    assert summary["notebooks"]["10_probe"] == reason
    assert "results/probe_a.csv" in summary["results"]
    assert (out / "10_probe.ipynb").is_file()  # its outputs up to the dead cell
    assert "kernel died" in (out / "report.html").read_text()


def test_batch_survives_a_dead_kernel_and_a_dead_worker(
    build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _probe_notebooks(
        tmp_path,
        monkeypatch,
        "10_probe",
        **{"2024-04-15": "kill-kernel", "2024-04-16": "kill-worker"},
    )
    records = run_batch(["2024-04-15", "2024-04-16", "2024-04-17"], workers=2, progress=False)
    by_id = {r.event_id: r for r in records}
    assert [r.event for r in records] == ["2024-04-15", "2024-04-16", "2024-04-17"]
    assert by_id["adhoc-2024-04-15"].status == "failed"
    assert "kernel died" in by_id["adhoc-2024-04-15"].error
    assert by_id["adhoc-2024-04-16"].status == "failed"
    assert by_id["adhoc-2024-04-16"].error.startswith("worker process died")
    assert "killed by SIGKILL" in by_id["adhoc-2024-04-16"].error
    assert by_id["adhoc-2024-04-17"].status == "ok", by_id["adhoc-2024-04-17"].error
    runs = tmp_path / "build" / "runs"
    assert [p.name for p in runs.iterdir() if p.name.startswith(".")] == []  # no leftovers
    index = (runs / "index.html").read_text()
    row = {i: next(r for r in index.split("<tr>") if i in r) for i in by_id}
    assert "kernel died" in row["adhoc-2024-04-15"]
    assert "worker process died" in row["adhoc-2024-04-16"]
    assert "class='ok'" in row["adhoc-2024-04-17"]


def test_credentials_in_parameters_are_refused(
    build: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    refused = [
        "tcp://user:s3cr3t@10.0.0.5:8786",
        "tcp://10.0.0.5:8786?token=abc",
        "tls://scheduler.example.org:8786?api_key=abc",
        "tcp://host:8786?Password=x",
        "user:s3cr3t@10.0.0.5:8786",
        "10.0.0.5:8786?access_token=abc",
        "https://bucket.example.org/data?X-Amz-Signature=abc",
        "s3://AKIAIOSFODNN7EXAMPLE:wJalr@bucket/market-data",
        "https://example.org/data#key=abc",
        "ghp_" + "A1b2" * 9,
        "sk-" + "a" * 40,
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    ]
    for value in refused:
        with pytest.raises(ValueError, match="looks like a secret") as info:
            check_parameters({"scheduler": value})
        assert "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY" in str(info.value)
        assert value not in str(info.value)  # the message never repeats the credential
    with pytest.raises(ValueError, match="looks like a secret"):
        check_parameters({"data_dir": "s3://me:pw@bucket/market-data"})
    accepted = {
        "scheduler": "tcp://10.0.0.5:8786",
        "data_dir": "/work/shared/market-data",
        "output_dir": str(tmp_path / "build" / "runs" / ".adhoc-20240802T2100Z.tmp-4242"),
        "event": "2024-08-02T21:00Z",
        "non_trading": "next",
        "a": "tls://scheduler.example.org:8786",
        "b": "local",
        "c": "",
        "d": "/data/sk-learn-benchmarks-v2/market-data",
        "e": "/cache/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08/data",
        "f": "an-unusually-long-registry-event-name-2024-01-11",
        "g": "file:///work/shared/market-data",
        "h": "http://127.0.0.1:9/data?symbol=BTCUSDT&interval=1d",
    }
    assert check_parameters(accepted) == accepted
    # the CLI and the batch refuse before anything is written or started
    assert main(["run", "--event", "2024-04-15", "--scheduler", "tcp://u:s3cr3t@h:8786"]) == 2
    err = capsys.readouterr().err
    assert "looks like a secret" in err
    assert "DASK_DISTRIBUTED__" in err
    assert "s3cr3t" not in err
    with pytest.raises(ValueError, match="looks like a secret"):
        run_batch(["2024-04-15"], scheduler="tcp://10.0.0.5:8786?token=abc", progress=False)
    assert not (tmp_path / "build" / "runs").exists()


def test_a_kernel_that_dies_while_starting_is_started_once_more(
    build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two kernels started at once can pick the same port (jupyter_client#154): the kernel
    dies before running any cell. It gets one more start; dying again, the notebook fails
    with the reason instead of an exception escaping the run."""
    _probe_notebooks(tmp_path, monkeypatch, "10_probe")
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    starts = tmp_path / "starts.txt"
    monkeypatch.setenv("PROBE_STARTS", str(starts))
    # a startup file that kills the kernel the first DEATHS times it starts
    (startup / "00-die.py").write_text(
        "import os, signal\n"
        "with open(os.environ['PROBE_STARTS'], 'a') as f:\n"
        "    f.write('start\\n')\n"
        "if len(open(os.environ['PROBE_STARTS']).read().split()) <= int(os.environ['DEATHS']):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    monkeypatch.setenv("DEATHS", "1")
    record = run_event("2024-04-15")
    assert record.status == "ok", record.error
    assert starts.read_text().split() == ["start", "start"]

    starts.unlink()
    monkeypatch.setenv("DEATHS", "2")
    record = run_event("2024-04-15")
    assert record.status == "failed"
    assert record.notebooks["10_probe"] == (
        "failed: kernel died: the Python kernel was killed by SIGKILL (the out-of-memory killer "
        "sends it) while starting, twice"
    )
    assert starts.read_text().split() == ["start", "start"]


def test_an_unexpected_error_is_that_notebooks_failure_and_kept(
    build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error the runner does not expect while running a notebook (here raised in place of
    papermill) fails that notebook with its reason; the run's output is kept in <id>.failed/
    instead of being lost with a traceback."""
    from shocklab import runner

    _probe_notebooks(tmp_path, monkeypatch, "10_probe")

    def broken(*args: object, **kwargs: object) -> str:
        raise RuntimeError("nbclient broke")

    monkeypatch.setattr(runner, "_run_notebook", broken)
    record = run_event("2024-04-15")
    assert record.status == "failed"
    assert record.notebooks["10_probe"] == "failed: RuntimeError: nbclient broke"
    out = Path(record.output)
    assert out.name == "adhoc-2024-04-15.failed"
    assert json.loads((out / "summary.json").read_text())["status"] == "failed"
    assert "nbclient broke" in (out / "report.html").read_text()


def test_a_run_set_aside_by_a_killed_process_is_restored_not_deleted(tmp_path: Path) -> None:
    """A process killed between the two renames that replace a run leaves the previous run
    only in .<id>.old-<pid>: the next run renames it back; scratch folders are removed."""
    from shocklab.runner import clear_scratch

    ended = subprocess.Popen(["true"])  # a process that has ended: no process has its pid
    ended.wait()
    dead = ended.pid
    runs = tmp_path / "runs"
    (runs / f".ev.old-{dead}").mkdir(parents=True)
    (runs / f".ev.old-{dead}" / "summary.json").write_text("the good run")
    (runs / f".ev.tmp-{dead}").mkdir()
    (runs / "ev.failed").mkdir()
    (runs / f".ev.failed.old-{dead}").mkdir()  # its home exists: an old copy, removed
    (runs / f".other.old-{dead}").mkdir()  # another event's: left alone
    clear_scratch(runs, "ev")
    assert (runs / "ev" / "summary.json").read_text() == "the good run"
    assert sorted(p.name for p in runs.iterdir()) == [f".other.old-{dead}", "ev", "ev.failed"]


def test_a_run_prints_progress_and_no_false_alarms(
    build: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """``shocklab run`` prints one line per notebook with its status and time; kernels talk
    over IPC sockets (no TCP-encryption warning) and are shut down without an interrupt (no
    'KeyboardInterrupt caught in kernel'); the run updates index.html."""
    _probe_notebooks(tmp_path, monkeypatch, "10_probe", "20_probe")
    assert main(["run", "--event", "2024-04-15"]) == 0
    out, err = capfd.readouterr()
    assert re.search(r"^  10_probe: ok in \d+\.\d s$", out, re.MULTILINE), out
    assert re.search(r"^  20_probe: ok in \d+\.\d s$", out, re.MULTILINE), out
    assert "adhoc-2024-04-15: ok in" in out
    assert "without encryption" not in err
    assert "KeyboardInterrupt" not in err
    assert "ERROR" not in err
    index = tmp_path / "build" / "runs" / "index.html"
    assert f"index: {index}" in out
    assert "adhoc-2024-04-15/report.html" in index.read_text()
