"""How two account histories are compared (tradebot_local.history.first_difference): the parity the
replay check enforces, at its stated tolerances."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from tradebot_local.history import (
    AccountHistory,
    FillRow,
    OrderRow,
    SessionRow,
    SplitRow,
    first_difference,
)

D1, D2, D3 = date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6)


def history() -> AccountHistory:
    h = AccountHistory(initial_capital=100_000.0, source="test")
    h.orders = [
        OrderRow("o-1", D1, "AAA", "BUY", 10, "FILLED"),
        OrderRow("o-2", D2, "BBB", "BUY", 5, "FILLED"),
        OrderRow("o-3", D2, "AAA", "SELL", 4, "CANCELLED", "day order expired"),
    ]
    h.fills = [
        FillRow("o-1", D1, D2, "AAA", "BUY", 10, 101.25, 0.51),
        FillRow("o-2", D2, D3, "BBB", "BUY", 5, 55.5, 0.14),
    ]
    h.sessions = [
        SessionRow(D1, 100_000.0, 100_000.0),
        SessionRow(D2, 100_010.0, 98_986.99),
        SessionRow(D3, 100_020.0, 98_709.35),
    ]
    h.splits = [SplitRow("AAA", D3, "2:1", 10, 20, 0.0)]
    return h


def test_identical_histories_have_no_difference() -> None:
    assert first_difference(history(), history()) is None


@pytest.mark.parametrize(
    ("change", "session", "symbol", "cause"),
    [
        (lambda h: h.orders.__setitem__(1, replace(h.orders[1], quantity=6)), D2, "BBB", "order o-2"),
        (lambda h: h.orders.__setitem__(0, replace(h.orders[0], side="SELL")), D1, "AAA", "order o-1"),
        (lambda h: h.orders.__setitem__(2, replace(h.orders[2], status="FILLED")), D2, "AAA", "order o-3"),
        (lambda h: h.orders.append(OrderRow("o-4", D3, "CCC", "BUY", 1, "NEW")), D3, "CCC", "only in"),
        (lambda h: h.fills.pop(), D3, "BBB", "fill of order o-2 only in"),
        (lambda h: h.fills.__setitem__(0, replace(h.fills[0], price=101.25 * (1 + 2e-9))), D2, "AAA", "fill"),
        (lambda h: h.fills.__setitem__(0, replace(h.fills[0], session=D3)), D2, "AAA", "fill"),
        (lambda h: h.fills.__setitem__(1, replace(h.fills[1], commission=0.15)), D3, "BBB", "commission"),
        (lambda h: h.sessions.__setitem__(1, replace(h.sessions[1], cash=98_986.98)), D2, None, "cash"),
        (lambda h: h.sessions.__setitem__(2, replace(h.sessions[2], equity=100_020.01)), D3, None, "equity"),
        (lambda h: h.sessions.__setitem__(1, replace(h.sessions[1], status="FAILED")), D2, None, "FAILED"),
        (lambda h: h.sessions.pop(), D3, None, "session only in"),
        (lambda h: h.splits.clear(), D3, "AAA", "split of AAA"),
    ],
)
def test_each_kind_of_difference_is_found_with_its_session_and_symbol(
    change: object, session: date, symbol: str | None, cause: str
) -> None:
    replayed = history()
    change(replayed)  # type: ignore[operator]
    difference = first_difference(history(), replayed)
    assert difference is not None
    assert (difference.session, difference.symbol) == (session, symbol)
    assert cause in difference.cause


def test_within_the_tolerances_is_no_difference() -> None:
    replayed = history()
    replayed.fills[0] = replace(replayed.fills[0], price=101.25 * (1 + 5e-10))  # < 1e-9 relative
    replayed.sessions[1] = replace(replayed.sessions[1], cash=98_986.99 + 0.004)  # < half a cent
    replayed.fills[1] = replace(replayed.fills[1], commission=0.14 - 0.004)
    assert first_difference(history(), replayed) is None


def test_the_earliest_difference_is_reported() -> None:
    replayed = history()
    replayed.sessions[2] = replace(replayed.sessions[2], equity=1.0)
    replayed.orders[0] = replace(replayed.orders[0], quantity=11)
    difference = first_difference(history(), replayed)
    assert difference is not None and difference.session == D1 and "order o-1" in str(difference)
    assert str(difference).startswith("2024-03-04 AAA: ")


def test_exposure_counts_session_closes_and_rising_equity_has_no_drawdown() -> None:
    stats = history().stats()
    # D1's close holds only cash; D2's and D3's a position: 2 of 3 sessions (the start is not one)
    assert stats["exposure_pct"] == pytest.approx(100.0 * 2 / 3)
    assert stats["max_drawdown_duration_sessions"] == 0  # 100,000 -> 100,000 -> 100,010 -> 100,020
