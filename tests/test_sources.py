"""Parsers of the mirror layout and FRED: clean input, and every kind of bad input."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shocklab.data.errors import DataFileError, DataQualityWarning
from shocklab.data.sources import mirror as sources_mirror
from shocklab.data.sources.mirror import epoch_to_utc, read_bars, read_fred_csv, read_funding

GOOD = (
    "time,open,high,low,close,volume\n"
    "2025-01-27T00:00:00Z,100,101,99,100.5,10\n"
    "2025-01-27T01:00:00Z,100.5,102,100,101,11\n"
    "2025-01-27T02:00:00Z,101,103,100,102,12\n"
)


def write(tmp_path: Path, text: str, name: str = "X.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_clean_file_parses_to_utc_index(tmp_path: Path) -> None:
    frame = read_bars(write(tmp_path, GOOD))
    assert list(frame.index) == list(pd.date_range("2025-01-27", periods=3, freq="1h"))
    assert frame.index.tz is None
    assert frame.loc["2025-01-27T01:00", "close"] == 101.0
    assert frame.attrs["quality_notes"] == []


def test_offsets_are_converted_to_utc(tmp_path: Path) -> None:
    text = "time,close\n2025-01-27T02:00:00+02:00,5\n2025-01-27T01:00:00Z,6\n"
    frame = read_bars(write(tmp_path, text))
    assert frame.index[0] == pd.Timestamp("2025-01-27T00:00")


def test_naive_intraday_stamps_are_a_timezone_slip(tmp_path: Path) -> None:
    text = "time,close\n2025-01-27T00:00:00Z,5\n2025-01-27T01:00:00,6\n"
    with pytest.raises(DataFileError, match=r"without a time zone.*row 1"):
        read_bars(write(tmp_path, text))


def test_corrupt_gzip_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT.csv.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00garbage-not-deflate")
    with pytest.raises(DataFileError, match=r"corrupt or truncated.*fetch it again"):
        read_bars(path)


def test_truncated_gzip_is_a_clear_error(tmp_path: Path) -> None:
    blob = gzip.compress((GOOD * 200).encode())
    path = tmp_path / "BTCUSDT.csv.gz"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataFileError, match="corrupt or truncated"):
        read_bars(path)


def test_truncated_last_line_with_partial_stamp(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match=r"X\.csv: line 5 \(the last\) was cut mid-row"):
        read_bars(write(tmp_path, GOOD + "2025-01-27T0"))


def test_truncated_last_line_with_partial_prices_is_an_error(tmp_path: Path) -> None:
    """A last line short of fields is never padded with NaN and kept: the file is cut."""
    with pytest.raises(DataFileError, match=r"line 5 \(the last\) was cut mid-row \(3 of 6"):
        read_bars(write(tmp_path, GOOD + "2025-01-27T03:00:00Z,102,104"))


def _cut_copy(mirror: Path, relpath: str, tmp_path: Path, keep: int) -> tuple[Path, int, str]:
    """A copy of a mirror file (gzip stays gzip) whose last line keeps its first ``keep`` bytes,
    with no line end after them: a download or copy that stopped mid-row. Returns the copy, the
    cut line's number and the true last line."""
    source = mirror / relpath
    gz = source.suffix == ".gz"
    text = (gzip.decompress(source.read_bytes()) if gz else source.read_bytes()).decode()
    lines = text.rstrip("\n").split("\n")
    cut = "\n".join([*lines[:-1], lines[-1][:keep]]).encode()
    path = tmp_path / source.name
    path.write_bytes(gzip.compress(cut) if gz else cut)
    return path, len(lines), lines[-1]


@pytest.mark.parametrize(
    "relpath", ["crypto/binance/spot/1d/BTCUSDT.csv", "crypto/binance/spot/1h/BTCUSDT.csv.gz"]
)
def test_real_file_cut_inside_the_last_close_is_an_error(
    mirror: Path, tmp_path: Path, relpath: str
) -> None:
    """Cut three digits into the last close (107146.5 -> 107): today's tolerant fallback read
    that bar's close as 107.0 and accepted it. Now: an error naming the file and the line."""
    true_last = (gzip.decompress if relpath.endswith(".gz") else bytes)(
        (mirror / relpath).read_bytes()
    )
    last = true_last.decode().rstrip("\n").rsplit("\n", 1)[1]
    close_at = last.rindex(",", 0, last.rindex(",")) + 1  # start of the close field
    path, line, _ = _cut_copy(mirror, relpath, tmp_path, keep=close_at + 3)
    with pytest.raises(DataFileError) as caught:
        read_bars(path)
    message = str(caught.value)
    assert str(path) in message
    # plain text also lacks its line end; in gzip the stream is whole, the row is not
    assert f"line {line:,} (the last) was cut mid-row (5 of 6 fields" in message
    assert f"{last[: close_at + 3]!r}" in message
    assert "fetch it again" in message


def test_cut_inside_the_last_field_of_a_close_only_file_is_an_error(
    mirror: Path, tmp_path: Path
) -> None:
    """A close-only file cut inside its last close has every field: the missing line end is
    what shows the cut (4.19299984 -> 4.19 would otherwise be read as a yield)."""
    path, line, true_last = _cut_copy(
        mirror, "macro/1d/IRX.csv", tmp_path, keep=len("2025-02-28,4.19")
    )
    assert true_last == "2025-02-28,4.19299984"
    with pytest.raises(
        DataFileError, match=rf"IRX\.csv: line {line:,} .*cut mid-row \(no line end"
    ):
        read_bars(path, positive=False)


def test_short_row_inside_the_file_is_an_error(tmp_path: Path) -> None:
    """A row short of fields anywhere (e.g. a cut file with rows appended) names its line."""
    text = GOOD.replace("100.5,102,100,101,11", "100.5,102,100,101")
    with pytest.raises(DataFileError, match=r"line 3 has 5 of 6 fields"):
        read_bars(write(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("", "is empty"),
        ("time,open,high,low,close,volume\n", "has a header .* but no data rows"),
        ("date,close\n\n\n", "has a header .* but no data rows"),
    ],
)
def test_empty_and_header_only_files_are_errors(tmp_path: Path, text: str, what: str) -> None:
    path = write(tmp_path, text, "NVDA.csv")
    with pytest.raises(DataFileError, match=rf"NVDA\.csv: the file {what}"):
        read_bars(path)
    with pytest.raises(DataFileError, match=rf"NVDA\.csv: the file {what}"):
        read_fred_csv(path)  # every reader goes through the same check


def test_exact_duplicates_dropped_and_reported(tmp_path: Path) -> None:
    text = GOOD + "2025-01-27T01:00:00Z,100.5,102,100,101,11\n"
    with pytest.warns(DataQualityWarning, match="1 exact duplicate"):
        frame = read_bars(write(tmp_path, text))
    assert len(frame) == 3


def test_conflicting_duplicates_are_an_error(tmp_path: Path) -> None:
    text = GOOD + "2025-01-27T01:00:00Z,100.5,102,100,999,11\n"
    with pytest.raises(DataFileError, match=r"more than once with different values.*01:00"):
        read_bars(write(tmp_path, text))


def test_unsorted_rows_are_sorted_and_reported(tmp_path: Path) -> None:
    lines = GOOD.splitlines()
    text = "\n".join([lines[0], lines[3], lines[1], lines[2]]) + "\n"
    with pytest.warns(DataQualityWarning, match="not in time order"):
        frame = read_bars(write(tmp_path, text))
    assert frame.index.is_monotonic_increasing
    assert frame["close"].tolist() == [100.5, 101.0, 102.0]


@pytest.mark.parametrize("bad", ["nan", "0", "-5"])
def test_invalid_prices_become_nan_and_are_flagged(tmp_path: Path, bad: str) -> None:
    text = GOOD.replace("100.5,102,100,101,11", f"100.5,102,100,{bad},11")
    with pytest.warns(DataQualityWarning, match="2025-01-27 01:00"):
        frame = read_bars(write(tmp_path, text))
    assert frame.loc["2025-01-27T01:00"].drop("volume").isna().all()  # whole bar invalid
    assert frame["close"].notna().sum() == 2


def test_missing_close_column(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match=r"missing column\(s\) \['close'\]"):
        read_bars(write(tmp_path, "time,price\n2025-01-27T00:00:00Z,1\n"))


def test_close_only_rate_file_has_no_fake_ohlc(mirror: Path) -> None:
    # IRX (13-week bill yield) is a level that sat at 0.00 in 2020: not an invalid price
    frame = read_bars(mirror / "macro/1d/IRX.csv", positive=False)
    assert frame[["open", "high", "low", "volume"]].isna().all().all()
    assert frame["close"].notna().all()


def test_fred_csv_new_and_old_spelling() -> None:
    new = io.StringIO("observation_date,DFF\n2025-01-27,4.33\n2025-01-28,\n")
    old = io.StringIO("DATE,DFF\n2025-01-27,4.33\n2025-01-28,.\n")
    a, b = read_fred_csv(new), read_fred_csv(old)
    pd.testing.assert_frame_equal(a, b)
    assert a["value"].iloc[0] == 4.33
    assert np.isnan(a["value"].iloc[1])


def test_fred_mirror_file(mirror: Path) -> None:
    dff = read_fred_csv(mirror / "macro/fred/DFF.csv", "DFF")
    assert dff.index[0] == pd.Timestamp("2021-08-06")
    assert dff.loc["2021-08-06", "value"] == pytest.approx(0.10)


def test_funding_file(mirror: Path) -> None:
    funding = read_funding(mirror / "crypto/binance/usdm-funding/BTCUSDT.csv")
    assert funding.loc["2020-01-01T00:00", "funding_rate"] == pytest.approx(-0.00012359)
    assert funding.index.is_unique


def test_epoch_ms_and_us_mixed() -> None:
    ms = 1735689600000  # 2025-01-01T00:00Z in milliseconds
    stamps = epoch_to_utc(np.array([ms, (ms + 3_600_000) * 1000]))
    assert list(pd.DatetimeIndex(stamps)) == [
        pd.Timestamp("2025-01-01T00:00"),
        pd.Timestamp("2025-01-01T01:00"),
    ]


def test_epoch_seconds_rejected() -> None:
    with pytest.raises(DataFileError, match="seconds"):
        epoch_to_utc(np.array([1735689600]))


@pytest.mark.parametrize(
    ("relpath", "positive"),
    [
        ("crypto/binance/spot/1h/RENDERUSDT.csv", True),  # has a months-long hole
        ("crypto/binance/spot/1h/BTCUSDT.csv.gz", True),
        ("equities/us/1d/NVDA.csv", True),  # session dates, IEX-only volume
        ("macro/1d/IRX.csv", False),  # close-only level series
    ],
)
def test_arrow_fast_path_equals_pandas_path(
    mirror: Path, relpath: str, positive: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files on disk take pyarrow's columns; a buffer takes the pandas parser: same bars."""
    path = mirror / relpath
    opener = gzip.open if path.suffix == ".gz" else open
    with monkeypatch.context() as patch:  # prove the file on disk never reaches pandas
        patch.setattr(sources_mirror, "_pandas_bars", None)
        fast = read_bars(path, positive=positive)
    with opener(path, "rb") as buffer:
        slow = read_bars(buffer, positive=positive)
    pd.testing.assert_frame_equal(fast, slow)
    # and both agree with a plain pandas read of the close column
    plain = pd.read_csv(path)
    assert np.array_equal(fast["close"].to_numpy(), plain["close"].to_numpy(dtype="float64"))


def test_unsorted_duplicate_and_zero_price_are_repaired(tmp_path: Path) -> None:
    """Unsorted rows, an exact duplicate and a zero price: sorted, deduplicated, NaN-ed."""
    text = (
        "time,open,high,low,close,volume\n"
        "2025-01-27T02:00:00Z,101,103,100,102,12\n"
        "2025-01-27T00:00:00Z,100,101,99,100.5,10\n"
        "2025-01-27T02:00:00Z,101,103,100,102,12\n"
        "2025-01-27T01:00:00Z,100.5,0,100,101,11\n"
    )
    with pytest.warns(DataQualityWarning) as caught:
        frame = read_bars(write(tmp_path, text))
    assert len(caught) == 1  # one warning naming every repair
    notes = frame.attrs["quality_notes"]
    assert notes[0] == "rows were not in time order (sorted)"
    assert notes[1] == "1 exact duplicate row(s) dropped"
    assert notes[2].startswith("1 row(s) with NaN/zero/negative prices set to NaN")
    expected = pd.read_csv(io.StringIO(text))
    expected.index = pd.DatetimeIndex(pd.to_datetime(expected.pop("time")).dt.tz_localize(None))
    expected = expected[~expected.index.duplicated()].sort_index()
    assert frame.index.equals(expected.index.rename("time"))
    assert frame.loc["2025-01-27T01:00", ["open", "high", "low", "close"]].isna().all()
    assert frame.loc["2025-01-27T01:00", "volume"] == 11  # volume is not a price
    assert frame.loc["2025-01-27T02:00", "close"] == 102


def _walk(n: int = 60, seed: int = 3) -> pd.DataFrame:
    """Hourly OHLC bars of a random walk around 100 (high/low bracket open and close)."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    spread = np.abs(rng.normal(0, 0.002, n)) * close
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": rng.uniform(1, 10, n),
        },
        index=pd.date_range("2025-01-27", periods=n, freq="1h", name="time"),
    ).round(4)


def _to_csv(frame: pd.DataFrame, path: Path) -> Path:
    out = frame.copy()
    out.index = pd.DatetimeIndex(out.index).strftime("%Y-%m-%dT%H:%M:%SZ")
    out.to_csv(path, index_label="time")
    return path


def test_implausible_bars_are_flagged_with_their_rows_and_kept(tmp_path: Path) -> None:
    bars = _walk()
    t = bars.index
    bars.loc[t[10], ["high", "low"]] = bars.loc[t[10], ["low", "high"]].to_numpy()  # high < low
    bars.loc[t[20], "close"] = bars.loc[t[20], "high"] * 1.01  # close above the high
    bars.loc[t[21], "open"] = bars.loc[t[21], "low"] * 0.99  # open below the low
    bars.loc[t[30], ["high", "close"]] = 1e12  # a consistent bar, but an isolated jump
    bars.loc[t[40:], ["open", "high", "low", "close"]] *= 0.5  # a level shift: no flag
    bars.loc[t[-1], ["high", "close"]] = 1e12  # the last bar: nothing to come back from
    path = _to_csv(bars, tmp_path / "X.csv")
    with pytest.warns(DataQualityWarning) as caught:
        frame = read_bars(path)
    assert len(caught) == 1  # one warning per file, naming every flagged row
    message = str(caught[0].message)
    assert message.startswith(f"{path}: ")
    notes = frame.attrs["quality_notes"]
    assert notes == [
        "1 bar(s) with high < low, values kept: 2025-01-27 10:00",
        (
            "2 bar(s) with the open or close outside [low, high], values kept: "
            "2025-01-27 20:00, 2025-01-27 21:00"
        ),
        (
            "1 isolated jump(s) of the close (over 50 robust scales away and straight back), "
            "values kept: 2025-01-28 06:00 (close 1e+12)"
        ),
    ]
    assert all(note in message for note in notes)
    # flagged, not altered: the frame holds the file's numbers
    bars.index = bars.index.as_unit("ns")
    pd.testing.assert_frame_equal(frame, bars, check_freq=False)


def test_a_close_of_1e12_in_the_real_btc_file_is_flagged(mirror: Path, tmp_path: Path) -> None:
    """The real hourly BTCUSDT file with one bar's high and close set to 1e12 (the bar stays
    consistent: only the jump rule can see it)."""
    text = gzip.decompress((mirror / "crypto/binance/spot/1h/BTCUSDT.csv.gz").read_bytes())
    row = b"2025-01-27T07:00:00Z,98956.31,99415.92,97777.77,99048.02,4179.21805"
    assert row in text
    path = tmp_path / "BTCUSDT.csv.gz"
    path.write_bytes(
        gzip.compress(
            text.replace(row, b"2025-01-27T07:00:00Z,98956.31,1e12,97777.77,1e12,4179.21805")
        )
    )
    with pytest.warns(
        DataQualityWarning, match=r"isolated jump.*2025-01-27 07:00 \(close 1e\+12\)"
    ):
        frame = read_bars(path)
    assert frame.loc["2025-01-27T07:00", "close"] == 1e12  # kept
    assert len(frame.attrs["quality_notes"]) == 1


@pytest.mark.parametrize(
    "folder", ["crypto/binance/spot/1h", "crypto/binance/spot/1d", "equities/us/1d"]
)
def test_real_mirror_files_raise_no_flags(mirror: Path, folder: str) -> None:
    """Every spot hourly/daily and US daily equity file of the mirror reads without a repair or
    a flag (warnings are errors here): the thresholds do not fire on real moves."""
    files = sorted((mirror / folder).glob("*.csv*"))
    assert len(files) >= 20
    for path in files:
        assert read_bars(path).attrs["quality_notes"] == [], path
