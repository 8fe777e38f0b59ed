"""Benchmark: the vectorized grid optimizer against vectorbt and backtesting.py, in one process.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/optimizer.py            # ~1-2 minutes
    .venv/bin/python bench/optimizer.py --bars 2100 --btpy-pairs 60 --skip-multi

What it measures (one core unless stated; numpy single-threaded):

1. The SMA-crossover grid fast 5..50 x slow 10..200 (fast < slow: 7,925 pairs) on the last ``--bars`` bars
   of ../shared/realdata/AAPL.csv (when present; else the synthetic sample SYN-A), long only, all in,
   commission 0.2%, decision at the close, fill at the next open. Ours: best of ``--repeat`` runs of
   ``to_prices`` + ``evaluate_grid`` (moving averages included), fractional shares (the fast path the
   optimizer Lambda uses) and whole shares (the cash-account path).
2. vectorbt 1.2 on the same grid and fill model (MA.run for both windows, ma_crossed_above/below,
   signals shifted one bar, ``Portfolio.from_signals(price=Open)``, Sharpe/return/drawdown), after a
   warm-up call so numba compilation is not counted. Its scores are compared with ours.
3. backtesting.py 0.6 ``Backtest.optimize`` on a random sample of ``--btpy-pairs`` pairs (one worker:
   ``backtesting.Pool`` is a 1-thread pool), whole shares; its per-pair time is EXTRAPOLATED to 7,925
   pairs and labelled so.
4. The other strategies' default grids (and a larger SMA grid), both fill paths.
5. Multi-symbol: ``--symbols`` series x ``--bars`` bars (windows of the real files, else of the sample
   data), the SMA grid on each, with 1 and with ``--workers`` processes.

Throughput is pair-bars/s = parameter sets x bars / seconds. Peak memory: the tracemalloc peak of a run
(numpy allocations; numba's are not traced) and the process's resident-set high-water mark above its
level before the run, sampled every 2 ms in a thread (both are printed; the RSS figure is the one that
covers vectorbt).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bars

import argparse
import multiprocessing
import statistics
import sys
import threading
import time
import tracemalloc
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradebot.data import source_from_spec
from tradebot.data.csv_source import read_yahoo_csv
from tradebot.strategy import FillModel, evaluate_grid, expand_grid, get_strategy, strategy_names, to_prices

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"
SMA_GRID = {"fast": [float(f) for f in range(5, 51)], "slow": [float(s) for s in range(10, 201)]}
COMMISSION = 0.002
FRACTIONAL = FillModel(fractional=True, commission=COMMISSION)
WHOLE = FillModel(commission=COMMISSION)


# --- measuring ------------------------------------------------------------------------------------------


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@contextmanager
def peak_rss() -> Iterator[dict[str, float]]:
    """Resident-set high-water mark above the level at entry (MB), sampled every 2 ms."""
    out = {"mb": 0.0}
    base = _rss_bytes()
    peak = [base]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            stop.wait(0.002)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        stop.set()
        thread.join()
        peak[0] = max(peak[0], _rss_bytes())
        out["mb"] = (peak[0] - base) / 1e6


def traced_peak_mb(fn: Callable[[], Any]) -> float:
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return min(times), statistics.median(times)


@dataclass
class Row:
    name: str
    sets: int
    bars: int
    seconds: float
    rss_mb: float | None = None
    traced_mb: float | None = None
    note: str = ""

    @property
    def rate(self) -> float:
        return self.sets * self.bars / self.seconds


def print_rows(title: str, rows: list[Row]) -> None:
    print(f"\n{title}")
    head = (
        f"{'sets':>7} {'bars':>6} {'seconds':>9} {'M pair-bars/s':>14} {'peak RSS MB':>12} {'traced MB':>10}"
    )
    print(f"  {'':44} {head}")
    for r in rows:
        rss = "-" if r.rss_mb is None else f"{r.rss_mb:,.0f}"
        traced = "-" if r.traced_mb is None else f"{r.traced_mb:,.0f}"
        cells = f"{r.sets:7,} {r.bars:6,} {r.seconds:9.3f} {r.rate / 1e6:14,.1f} {rss:>12} {traced:>10}"
        print(f"  {r.name:44} {cells}" + (f"  {r.note}" if r.note else ""))


# --- data -----------------------------------------------------------------------------------------------


def load_series(path: Path | None, bars: int) -> tuple[pd.DataFrame, str]:
    if path is not None and path.is_file():
        frame = read_yahoo_csv(path)
        label = f"{path.name} (real)"
    else:
        frame = (
            source_from_spec("sample")
            .load(["SYN-A"], None, pd.Timestamp("2100-01-01").date())
            .frames["SYN-A"]
        )
        label = "sample SYN-A (SYNTHETIC: realdata not found)"
    frame = frame.iloc[-bars:]
    return frame, f"{label}, last {len(frame):,} bars {frame.index[0].date()}..{frame.index[-1].date()}"


def many_series(count: int, bars: int) -> tuple[list[pd.DataFrame], str]:
    files = sorted(REALDATA.glob("*.csv")) + sorted(REALDATA.glob("set2/*.csv"))
    frames = [read_yahoo_csv(f) for f in files]
    label = f"windows of {len(files)} real files"
    if not frames:
        sample = source_from_spec("sample")
        loaded = sample.load(list(sample.default_symbols() or []), None, pd.Timestamp("2100-01-01").date())
        frames = list(loaded.frames.values())
        label = "windows of the SYNTHETIC sample series"
    frames = [f for f in frames if len(f) >= bars]
    out: list[pd.DataFrame] = []
    for k in range(count):
        f = frames[k % len(frames)]
        span = len(f) - bars
        offset = (k // len(frames)) * max(span // max(count // len(frames), 1), 1) % (span + 1)
        out.append(f.iloc[offset : offset + bars])
    return out, label


# --- ours -----------------------------------------------------------------------------------------------


def ours(bars: pd.DataFrame, strategy: str, grid: dict[str, list[float]] | None, fill: FillModel) -> Any:
    strat = get_strategy(strategy)
    table = expand_grid(strat, grid)
    return evaluate_grid(to_prices(bars), strat, table, fill=fill), table


def bench_ours(bars: pd.DataFrame, strategy: str, grid: Any, fill: FillModel, repeat: int, name: str) -> Row:
    _, table = ours(bars, strategy, grid, fill)  # warm imports and caches of the grid expansion
    n_sets = len(next(iter(table.values())))
    best, _ = best_of(lambda: ours(bars, strategy, grid, fill), repeat)
    traced = traced_peak_mb(lambda: ours(bars, strategy, grid, fill))
    with peak_rss() as rss:
        ours(bars, strategy, grid, fill)
    return Row(name, n_sets, len(bars), best, rss["mb"], traced)


# --- vectorbt -------------------------------------------------------------------------------------------


def vectorbt_grid(bars: pd.DataFrame, fast: np.ndarray, slow: np.ndarray, whole: bool) -> Any:
    import vectorbt as vbt

    close, open_ = bars["Close"], bars["Open"]
    fast_ma = vbt.MA.run(close, window=list(fast.astype(int)), short_name="fast")
    slow_ma = vbt.MA.run(close, window=list(slow.astype(int)), short_name="slow")
    entries = fast_ma.ma_crossed_above(slow_ma).to_numpy()
    exits = fast_ma.ma_crossed_below(slow_ma).to_numpy()
    # decided at the close of bar t, filled at the open of bar t+1
    entries = np.vstack([np.zeros((1, entries.shape[1]), dtype=bool), entries[:-1]])
    exits = np.vstack([np.zeros((1, exits.shape[1]), dtype=bool), exits[:-1]])
    kwargs: dict[str, Any] = {"size_granularity": 1} if whole else {}
    pf = vbt.Portfolio.from_signals(
        close,
        entries,
        exits,
        price=open_,
        size=np.inf,
        fees=COMMISSION,
        init_cash=10_000.0,
        freq="1D",
        **kwargs,
    )
    # what a vectorbt user reads (its Sharpe counts one more return: the first bar against init_cash)
    pf.sharpe_ratio(), pf.total_return(), pf.max_drawdown()
    return pf


def bench_vectorbt(
    bars: pd.DataFrame, table: dict[str, np.ndarray], whole: bool
) -> tuple[Row, dict[str, np.ndarray]]:
    import vectorbt as vbt

    vbt.settings.returns["year_freq"] = "252 days"  # annualise like ours: sqrt(252)
    vectorbt_grid(bars.iloc[:300], table["fast"][:20], table["slow"][:20], whole)  # numba warm-up
    with peak_rss() as rss:
        began = time.perf_counter()
        pf = vectorbt_grid(bars, table["fast"], table["slow"], whole)
        seconds = time.perf_counter() - began
    # the scores on our definitions, from vectorbt's equity (outside the timing)
    value = pf.value().to_numpy()
    r = value[1:] / value[:-1] - 1.0
    result = {
        "sharpe": np.sqrt(252) * r.mean(axis=0) / r.std(axis=0, ddof=1),
        "total_return_pct": (value[-1] / value[0] - 1.0) * 100.0,
        "max_drawdown_pct": (np.min(value / np.maximum.accumulate(value, axis=0), axis=0) - 1.0) * 100.0,
    }
    name = f"vectorbt, {'whole' if whole else 'fractional'} shares"
    return Row(name, len(table["fast"]), len(bars), seconds, rss["mb"]), result


# --- backtesting.py -------------------------------------------------------------------------------------


def bench_backtesting_py(bars: pd.DataFrame, pairs: int, total_pairs: int) -> Row:
    from multiprocessing.dummy import Pool as ThreadPool

    import backtesting
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    class SmaCross(Strategy):
        n1 = 10
        n2 = 20

        def init(self) -> None:
            close = self.data.Close
            self.fast = self.I(lambda x, n: pd.Series(x).rolling(n).mean(), close, self.n1)
            self.slow = self.I(lambda x, n: pd.Series(x).rolling(n).mean(), close, self.n2)

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                self.buy()
            elif crossover(self.slow, self.fast):
                self.position.close()

    backtesting.Pool = lambda *a, **k: ThreadPool(1)  # one worker, one core
    bt = Backtest(
        bars[["Open", "High", "Low", "Close", "Volume"]], SmaCross, cash=10_000, commission=COMMISSION
    )
    with warnings.catch_warnings(), peak_rss() as rss:
        warnings.simplefilter("ignore")
        began = time.perf_counter()
        _, heatmap = bt.optimize(
            n1=range(5, 51),
            n2=range(10, 201),
            constraint=lambda p: p.n1 < p.n2,
            maximize="Sharpe Ratio",
            max_tries=pairs,
            random_state=0,
            return_heatmap=True,
        )
        seconds = time.perf_counter() - began
    done = len(heatmap)
    per_pair = seconds / (done + 1)  # optimize() re-runs the best pair at the end
    return Row(
        "backtesting.py optimize, whole shares",
        total_pairs,
        len(bars),
        per_pair * total_pairs,
        rss["mb"],
        note=f"EXTRAPOLATED from {done} random pairs ({seconds:.1f} s, {per_pair:.3f} s/pair)",
    )


# --- multi-symbol ---------------------------------------------------------------------------------------

_SERIES: list[pd.DataFrame] = []


def _one_symbol(k: int) -> tuple[int, float, float]:
    began = time.process_time()
    scores, _ = ours(_SERIES[k], "sma_crossover", SMA_GRID, FRACTIONAL)
    return len(scores), float(np.nanmax(scores.sharpe)), time.process_time() - began


def _machine_busy_s() -> float:
    """CPU seconds all processes on the machine have used so far (user + system, from /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return (sum(fields[:3]) + sum(fields[5:8])) / os.sysconf("SC_CLK_TCK")


def bench_multi(count: int, bars: int, workers: int) -> list[Row]:
    global _SERIES
    _SERIES, label = many_series(count, bars)
    n_sets = len(expand_grid(get_strategy("sma_crossover"), SMA_GRID)["fast"])
    rows = []
    busy0 = _machine_busy_s()
    began = time.perf_counter()
    one = [_one_symbol(k) for k in range(count)]
    seconds = time.perf_counter() - began
    cpu = sum(r[2] for r in one)
    others = _machine_busy_s() - busy0 - cpu
    note = f"{label}; our CPU {cpu:.1f} s, other processes' CPU meanwhile {max(others, 0):.1f} s"
    rows.append(Row(f"{count} symbols, 1 process", n_sets * count, bars, seconds, note=note))
    ctx = multiprocessing.get_context("fork")  # workers inherit the loaded series
    with ctx.Pool(workers) as pool:
        pool.map(_one_symbol, range(min(workers, count)))  # start-up outside the timing
        busy0 = _machine_busy_s()
        began = time.perf_counter()
        many = pool.map(_one_symbol, range(count), chunksize=max(1, count // (4 * workers)))
        seconds = time.perf_counter() - began
        others = _machine_busy_s() - busy0
    assert [m[:2] for m in many] == [o[:2] for o in one], "the parallel run must give the same scores"
    cpu = sum(r[2] for r in many)
    others -= cpu
    note = f"our CPU {cpu:.1f} s, other processes' CPU meanwhile {max(others, 0):.1f} s"
    rows.append(Row(f"{count} symbols, {workers} processes", n_sets * count, bars, seconds, note=note))
    return rows


# --- main -----------------------------------------------------------------------------------------------


def compare(ours_scores: Any, theirs: dict[str, np.ndarray]) -> str:
    """How many sets differ (beyond 1e-6) in each score, and by how much at most."""
    parts = []
    for key, values in theirs.items():
        mine = getattr(ours_scores, key)
        diff = np.abs(np.nan_to_num(mine) - np.nan_to_num(values))
        parts.append(f"{key}: {int((diff > 1e-6).sum())} sets differ (max {diff.max():.1e})")
    return "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, default=REALDATA / "AAPL.csv")
    parser.add_argument("--bars", type=int, default=2520)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--btpy-pairs", type=int, default=40)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-vectorbt", action="store_true")
    parser.add_argument("--skip-backtesting-py", action="store_true")
    parser.add_argument("--skip-multi", action="store_true")
    args = parser.parse_args(argv)

    bars, label = load_series(args.csv, args.bars)
    print(f"data: {label}")
    print(
        f"python {sys.version.split()[0]}, numpy {np.__version__}, pandas {pd.__version__}, "
        f"{os.cpu_count()} cores, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}"
    )
    print(
        f"fill model: long only, all in, commission {COMMISSION:.1%}, "
        "decision at the close, fill at the next open"
    )

    frac = bench_ours(
        bars, "sma_crossover", SMA_GRID, FRACTIONAL, args.repeat, "ours, fractional shares (trade factors)"
    )
    whole = bench_ours(
        bars, "sma_crossover", SMA_GRID, WHOLE, args.repeat, "ours, whole shares (cash account)"
    )
    rows = [frac, whole]
    table = expand_grid(get_strategy("sma_crossover"), SMA_GRID)
    notes = []
    if not args.skip_vectorbt:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for is_whole, mine in ((False, frac), (True, whole)):
                row, theirs = bench_vectorbt(bars, table, is_whole)
                rows.append(row)
                scores, _ = ours(bars, "sma_crossover", SMA_GRID, WHOLE if is_whole else FRACTIONAL)
                notes.append(f"{row.name} vs ours: {compare(scores, theirs)}")
                notes.append(
                    "  (expected only where the averages tie exactly: vectorbt's ma_crossed_below counts "
                    "above -> equal -> below as a cross, ours and backtesting.py's crossover do not)"
                )
                kind = "whole" if is_whole else "fractional"
                notes.append(f"speed-up vs vectorbt ({kind} shares): {row.seconds / mine.seconds:,.0f}x")
    if not args.skip_backtesting_py:
        row = bench_backtesting_py(bars, args.btpy_pairs, len(table["fast"]))
        rows.append(row)
        notes.append(
            f"speed-up vs backtesting.py (whole shares, EXTRAPOLATED): {row.seconds / whole.seconds:,.0f}x"
        )
        notes.append(
            f"speed-up vs backtesting.py (ours fractional, EXTRAPOLATED): {row.seconds / frac.seconds:,.0f}x"
        )
    print_rows("SMA crossover grid fast 5..50 x slow 10..200 (one core)", rows)
    for note in notes:
        print(f"  {note}")

    others = []
    for name in strategy_names():
        for fill, kind in ((FRACTIONAL, "fractional"), (WHOLE, "whole")):
            others.append(bench_ours(bars, name, None, fill, args.repeat, f"{name} default grid, {kind}"))
    others.append(
        bench_ours(
            bars,
            "rsi_reversion",
            {"period": list(range(2, 41)), "lower": list(range(10, 46)), "upper": list(range(55, 91, 2))},
            FRACTIONAL,
            max(1, args.repeat // 2),
            "rsi_reversion 39x36x18 grid, fractional",
        )
    )
    print_rows("Other strategies (one core)", others)

    if not args.skip_multi:
        rows = bench_multi(args.symbols, args.bars, args.workers)
        print_rows(f"Multi-symbol: SMA grid on {args.symbols} series x {args.bars:,} bars, fractional", rows)
        cpu = float(rows[1].note.split("our CPU ")[1].split(" s")[0])
        print(
            f"  speed-up with {args.workers} processes: {rows[0].seconds / rows[1].seconds:.2f}x "
            f"(CPU s / wall s of the parallel run: {cpu / rows[1].seconds:.2f} cores actually used; "
            "other processes on the machine compete for them)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
