"""FetchMarketData: the universe's bars up to the session's close -> one S3 object, plus a quality report."""

from __future__ import annotations

from datetime import timedelta

from tradebot.contracts import FetchEvent, FetchResult
from tradebot.data import default_as_of, source_from_spec
from tradebot.data.archive import S3BarArchive
from tradebot.data.run_bars import write_run_bars
from tradebot.data.universe import ensure_session_closed, fetch_bars, save_archive, write_quality_report
from tradebot.pipeline.runtime import Runtime

LOOKBACK_DAYS = 3 * 365  # calendar days of history each run loads (~750 sessions)
DEFAULT_UNIVERSE = ["SPY", "QQQ", "IWM", "EFA", "TLT", "GLD"]


def fetch_market_data(event: FetchEvent, rt: Runtime) -> FetchResult:
    """Load the universe's bars up to ``as_of`` (a live source through the incremental S3 archive), check
    them, store the good ones as one S3 object and the run's quality report next to it. Closed days end
    here; anything that fails (bad input, too many symbols without data) fails before any write."""
    request = event.request
    config = rt.config.load()
    source = source_from_spec(
        request.source or rt.settings.data_source, cache_dir=rt.settings.yfinance_cache_dir
    )
    strategy = request.strategy or config.strategy
    as_of = request.as_of or default_as_of(source, rt.calendar, rt.clock.now())
    if not rt.calendar.is_session(as_of):
        return FetchResult(
            run_id=event.run_id,
            as_of=as_of,
            source=source.name,
            synthetic=source.synthetic,
            market_open=False,
            tradable=False,
            strategy=strategy,
        )
    if source.live:
        ensure_session_closed(rt.calendar, as_of, rt.clock.now())

    symbols = request.symbols or config.universe or source.default_symbols() or DEFAULT_UNIVERSE
    bucket = rt.settings.data_bucket
    archive = S3BarArchive(rt.s3, bucket) if source.live else None
    fetched = fetch_bars(
        source,
        symbols,
        as_of,
        rt.calendar,
        run_id=event.run_id,
        start=as_of - timedelta(days=LOOKBACK_DAYS),
        archive=archive,
        explicit=bool(request.symbols),
        max_failed_fraction=request.max_failed_fraction,
    )
    if archive is not None:
        save_archive(archive, fetched, source.name)
    prefix = f"runs/{as_of.isoformat()}/{event.run_id}"
    pointer = write_run_bars(rt.s3, bucket, f"{prefix}/bars.csv.gz", fetched.ok) if fetched.ok else None
    report = fetched.report
    return FetchResult(
        run_id=event.run_id,
        as_of=as_of,
        source=source.name,
        synthetic=source.synthetic,
        market_open=True,
        tradable=bool(fetched.ok),
        strategy=strategy,
        symbols=report.ok,
        skipped=report.skipped,
        bars=pointer,
        next_session=rt.calendar.next_session(as_of),
        quality=write_quality_report(rt.s3, bucket, f"{prefix}/quality.json", report),
        warnings=len(report.warnings),
    )
