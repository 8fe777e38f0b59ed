"""Order sizing under the risk limits (pure core, no AWS)."""

from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradebot.contracts import Signal, order_id_for
from tradebot.trading.account import Portfolio, Position
from tradebot.trading.config import RiskLimits
from tradebot.trading.sizing import plan_orders, rank_candidates

AS_OF = date(2025, 6, 2)
NOW = datetime(2025, 6, 2, 21, 0, tzinfo=UTC)


def signal(symbol: str, weight: float, close: float) -> Signal:
    return Signal(
        symbol=symbol,
        strategy="sma_crossover",
        params={"fast": 10, "slow": 30},
        target_weight=weight,
        reason="test",
        close=close,
        bar_date=AS_OF,
    )


def plan(signals, portfolio, **limits):
    return plan_orders(
        signals, portfolio, RiskLimits(**limits), run_id="r1", as_of=AS_OF, now=NOW, synthetic=True
    )


def test_buys_are_sized_by_max_position_weight_in_whole_shares():
    # Given an all-cash account and two long targets
    portfolio = Portfolio(account="paper", cash=100_000)
    # When orders are planned with 20% per position
    result = plan([signal("AAA", 1.0, 33.0), signal("BBB", 1.0, 250.0)], portfolio, max_position_weight=0.2)
    # Then each buy is floor(20_000 / close) shares
    assert [(o.symbol, o.side, o.quantity) for o in result.orders] == [
        ("AAA", "BUY", 606),
        ("BBB", "BUY", 80),
    ]


def test_gross_exposure_limit_shrinks_allocation():
    portfolio = Portfolio(account="paper", cash=10_000)
    signals = [signal(s, 1.0, 10.0) for s in ("AAA", "BBB", "CCC", "DDD")]
    result = plan(signals, portfolio, max_position_weight=0.5, max_gross_exposure=1.0)
    # 4 targets under a 100% gross limit: 25% each (250 shares), not 50%; the last buy is cut to the cash
    # left after the others' budget: each share at 10 * (1 + 3% market-buy buffer) * (1 + 0.05% commission)
    # = 10.305, so 3 * 250 * 10.305 = 7,728.86 and 2,271.14 / 10.305 = 220 shares are left
    assert [o.quantity for o in result.orders][:3] == [250, 250, 250]
    assert result.orders[3].quantity == 220
    assert sum(o.quantity * o.reference_price for o in result.orders) <= 10_000


def test_flat_target_sells_the_whole_position_first():
    portfolio = Portfolio(
        account="paper", cash=1_000, positions={"AAA": Position(symbol="AAA", quantity=50, avg_price=10.0)}
    )
    result = plan([signal("AAA", 0.0, 12.0), signal("BBB", 1.0, 10.0)], portfolio, max_position_weight=0.5)
    assert result.orders[0].side == "SELL" and result.orders[0].quantity == 50
    assert result.orders[1].symbol == "BBB" and result.orders[1].side == "BUY"


def test_buys_never_exceed_available_cash():
    portfolio = Portfolio(
        account="paper", cash=500, positions={"AAA": Position(symbol="AAA", quantity=1000, avg_price=10.0)}
    )
    # equity is 10,500 but only 500 is cash: the buy is cut to what the cash affords
    result = plan([signal("AAA", 1.0, 10.0), signal("BBB", 1.0, 10.0)], portfolio, max_position_weight=1.0)
    buys = [o for o in result.orders if o.side == "BUY"]
    assert sum(o.quantity * o.reference_price for o in buys) <= 500 + sum(
        o.quantity * o.reference_price for o in result.orders if o.side == "SELL"
    )
    assert any("cut" in n for n in result.notes)


def test_min_order_value_and_max_orders_per_run():
    portfolio = Portfolio(account="paper", cash=1_000)
    result = plan([signal("AAA", 1.0, 10.0)], portfolio, max_position_weight=0.05, min_order_value=100)
    assert result.orders == [] and "min_order_value" in result.notes[0]
    many = [signal(f"S{i}", 1.0, 1.0) for i in range(5)]
    result = plan(many, Portfolio(account="paper", cash=100_000), max_orders_per_run=2, max_positions=10)
    assert len(result.orders) == 2


def test_long_only_ignores_short_targets():
    result = plan([signal("AAA", -1.0, 10.0)], Portfolio(account="paper", cash=10_000))
    assert result.orders == []


def test_order_ids_are_deterministic_per_account_session_symbol_side():
    portfolio = Portfolio(account="paper", cash=10_000)
    first = plan([signal("AAA", 1.0, 10.0)], portfolio).orders[0]
    again = plan([signal("AAA", 1.0, 10.0)], portfolio).orders[0]
    assert first.order_id == again.order_id == order_id_for("paper", AS_OF, "AAA", "BUY")
    assert order_id_for("paper", AS_OF, "AAA", "SELL") != first.order_id


@pytest.mark.parametrize("max_positions", [1, 2])
def test_max_positions_prefers_symbols_already_held(max_positions):
    portfolio = Portfolio(
        account="paper", cash=10_000, positions={"ZZZ": Position(symbol="ZZZ", quantity=10, avg_price=10.0)}
    )
    signals = [signal("AAA", 1.0, 10.0), signal("ZZZ", 1.0, 10.0)]
    result = plan(signals, portfolio, max_positions=max_positions, max_position_weight=0.3)
    symbols = {o.symbol for o in result.orders}
    if max_positions == 1:
        assert "AAA" not in symbols
        assert any("max_positions" in n for n in result.notes)
    else:
        assert "AAA" in symbols


# --- portfolio construction: candidates ranked, the best served first ----------------------------------


def scored(symbol: str, oos: float | None, ins: float | None = None, close: float = 10.0) -> Signal:
    return signal(symbol, 1.0, close).model_copy(update={"out_of_sample_score": oos, "in_sample_score": ins})


def test_candidates_are_ranked_by_out_of_sample_score_then_in_sample_then_symbol():
    signals = [
        scored("AAA", 0.5),
        scored("BBB", None, 3.0),  # not measured out of sample: after every measured one
        scored("CCC", 1.5),
        scored("DDD", 0.5, 2.0),  # ties AAA out of sample, wins in sample
        scored("EEE", 0.5, 2.0),  # ties DDD on both: the symbol decides
        scored("FFF", None, None),
        signal("GGG", 0.0, 10.0),  # flat: not a candidate
    ]
    assert [s.symbol for s in rank_candidates(signals, {})] == ["CCC", "DDD", "EEE", "AAA", "BBB", "FFF"]


def test_held_symbols_keep_priority_over_better_scored_candidates():
    signals = [scored("AAA", 2.0), scored("BBB", 0.1), scored("CCC", 1.0)]
    assert [s.symbol for s in rank_candidates(signals, {"BBB": 5})] == ["BBB", "AAA", "CCC"]
    assert [s.symbol for s in rank_candidates(signals, {"BBB": 0})] == ["AAA", "CCC", "BBB"]


@settings(max_examples=60, deadline=None)
@given(st.permutations(["AAA", "BBB", "CCC", "DDD", "EEE", "FFF"]), st.randoms(use_true_random=False))
def test_the_ranking_does_not_depend_on_the_signals_order(order, rnd):
    scores = {"AAA": 1.0, "BBB": 1.0, "CCC": None, "DDD": -0.5, "EEE": 1.0, "FFF": None}
    signals = [scored(s, scores[s], rnd.choice([None, 0.0, 1.0])) for s in sorted(order)]
    shuffled = [next(x for x in signals if x.symbol == s) for s in order]
    assert rank_candidates(shuffled, {}) == rank_candidates(signals, {})


def test_more_candidates_than_max_positions_buys_the_best_ranked_and_records_why_the_rest_were_left_out():
    # Given 12 long signals whose scores rise with the symbol number, and room for 3 positions
    signals = [scored(f"S{i:02d}", i / 10) for i in range(12)]
    result = plan(signals, Portfolio(account="paper", cash=100_000), max_positions=3, max_position_weight=0.3)
    # Then the three best scored are bought, whatever the signals' order
    assert [o.symbol for o in result.orders] == ["S11", "S10", "S09"]
    # and the decision's ranking says what happened to every candidate
    ranking = {c.symbol: c for c in result.candidates}
    assert [c.symbol for c in result.candidates][:3] == ["S11", "S10", "S09"]
    assert all(ranking[s].selected and ranking[s].quantity > 0 for s in ("S11", "S10", "S09"))
    assert ranking["S08"].reason == "max_positions=3 reached (rank 4)" and ranking["S08"].quantity == 0
    assert ranking["S00"].rank == 12 and not ranking["S00"].selected
    assert any("9 candidate(s) ranked below max_positions=3" in n for n in result.notes)


def test_cash_goes_to_the_best_ranked_first_and_the_cut_is_recorded():
    # Given three candidates that together want the whole account (1/3 each), the best ranked listed last:
    # the cash cannot also cover every buy's commission and slippage headroom
    signals = [scored("AAA", 0.1), scored("BBB", 0.2), scored("CCC", 0.9)]
    result = plan(signals, Portfolio(account="paper", cash=3_000), max_positions=3, max_position_weight=0.5)
    quantities = {o.symbol: o.quantity for o in result.orders}
    # Then CCC and BBB get their full 100 shares, AAA (ranked last) what is left: cut, and said so
    assert [o.symbol for o in result.orders] == ["CCC", "BBB", "AAA"]
    assert (quantities["CCC"], quantities["BBB"]) == (100, 100)
    assert 90 < quantities["AAA"] < 100
    aaa = next(c for c in result.candidates if c.symbol == "AAA")
    assert aaa.reason == f"buy cut from 100 to {quantities['AAA']} shares by available cash"
    assert aaa.quantity == quantities["AAA"]
    assert sum(o.quantity * o.reference_price for o in result.orders) <= 3_000  # the limits still hold


def test_a_target_that_buys_zero_whole_shares_says_so():
    # A $599,000 share and an account of 100,000 at most 20% per position
    result = plan([signal("BRK.A", 1.0, 599_000.0)], Portfolio(account="paper", cash=100_000))
    assert result.orders == []
    assert result.notes == ["BRK.A: a target of 20,000.00 buys 0 whole shares at 599,000.00"]
    (candidate,) = result.candidates
    assert candidate.reason == "a target of 20,000.00 buys 0 whole shares at 599,000.00"
