"""FetchMarketData: the universe's bars up to the session's close, checked, written as one object per
batch of symbols, with the batches' manifest (the optimize Map's items) and the run's quality report."""

from __future__ import annotations

from datetime import timedelta

from tradebot.contracts import FetchEvent, FetchResult, OptimizeBatch
from tradebot.data import default_as_of, source_from_spec
from tradebot.data.archive import S3BarArchive
from tradebot.data.run_bars import write_run_bars
from tradebot.data.universe import ensure_session_closed, fetch_bars, save_archive
from tradebot.pipeline.runtime import Runtime
from tradebot.store import runs

LOOKBACK_DAYS = 3 * 365  # calendar days of history each run loads (~750 sessions)
DEFAULT_UNIVERSE = ["SPY", "QQQ", "IWM", "EFA", "TLT", "GLD"]


def fetch_market_data(event: FetchEvent, rt: Runtime) -> FetchResult:
    """Load the universe's bars up to ``as_of`` (a live source through the incremental S3 archive), check
    them, write the good ones in batches of OPTIMIZE_BATCH_SIZE symbols with their manifest, and the
    quality report. Closed days end here; a session that has not closed yet is refused for every source;
    anything that fails (bad input, too many symbols without data) fails before any write."""
    request = event.request
    config = rt.config.load()
    source = source_from_spec(
        request.source or rt.settings.data_source, cache_dir=rt.settings.yfinance_cache_dir
    )
    strategy = request.strategy or config.strategy
    as_of = request.as_of or default_as_of(source, rt.calendar, rt.clock.now())
    settings = rt.settings
    result = FetchResult(
        run_id=event.run_id,
        as_of=as_of,
        source=source.name,
        synthetic=source.synthetic,
        market_open=False,
        tradable=False,
        strategy=strategy,
        max_concurrency=settings.optimize_max_concurrency,
        tolerated_failure_percentage=settings.optimize_tolerated_failure_percentage,
    )
    if not rt.calendar.is_session(as_of):
        return result
    ensure_session_closed(rt.calendar, as_of, rt.clock.now())

    symbols = request.symbols or config.universe or source.default_symbols() or DEFAULT_UNIVERSE
    bucket = settings.data_bucket
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
    objects = runs.RunObjects(rt.s3, bucket)
    report = fetched.report
    tradable = sorted(fetched.ok)
    size = settings.optimize_batch_size
    batches = []
    for number, start in enumerate(range(0, len(tradable), size)):
        chunk = tradable[start : start + size]
        key = runs.bars_key(as_of, event.run_id, number)
        pointer = write_run_bars(rt.s3, bucket, key, {s: fetched.ok[s] for s in chunk})
        batches.append(OptimizeBatch(batch=number, symbols=chunk, bars=pointer))
    manifest = objects.put_manifest(runs.manifest_key(as_of, event.run_id), batches) if batches else None
    return result.model_copy(
        update={
            "market_open": True,
            "tradable": bool(batches),
            "symbols": len(tradable),
            "skipped": len(report.skipped),
            "warnings": len(report.warnings),
            "quality": objects.put_model(runs.quality_key(as_of, event.run_id), report),
            "manifest": manifest,
            "batches": len(batches),
            "next_session": rt.calendar.next_session(as_of),
        }
    )
