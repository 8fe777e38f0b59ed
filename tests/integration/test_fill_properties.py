"""Property test (hypothesis) of the executor and its fill transaction over random order streams (moto):
whatever is ordered and whatever the opens are, cash never goes negative, no position goes short, every
order ends in exactly one final state and the account equals the sum of its fills."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.aws import fake_aws
from tests.integration.executor_env import AS_OF, CAPITAL, NOW, Env
from tradebot.contracts import Order, order_id_for
from tradebot.execution.broker import SessionBar

steps = st.lists(
    st.tuples(
        st.sampled_from(["BUY", "SELL"]),
        st.sampled_from(["SPY", "QQQ", "IWM"]),
        st.integers(1, 400),  # shares: up to 4x the capital at the highest open
        st.floats(min_value=1.0, max_value=100.0).map(lambda p: round(p, 2)),  # the fill's open
        st.integers(1, 3),  # deliveries of the message
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_random_order_streams_keep_the_account_sound(stream: list[tuple[str, str, int, float, int]]) -> None:
    with fake_aws():
        env = Env()
        executor = env.executor()
        for i, (side, symbol, quantity, price, copies) in enumerate(stream):
            as_of = AS_OF + timedelta(days=i)  # one order per session: distinct ids
            order = Order(
                order_id=order_id_for("paper", as_of, symbol, side),
                run_id=f"run-{i}",
                account="paper",
                as_of=as_of,
                symbol=symbol,
                side=side,  # type: ignore[arg-type]
                quantity=quantity,
                reference_price=price,
                synthetic=True,
                created_at=NOW,
            )
            env.orders.append(order)
            env.prices.bars[symbol] = SessionBar(as_of + timedelta(days=1), price, price, price, price)
            for copy in range(copies):
                env.send(order, dedup=f"{order.order_id}-{copy}")
            executor.drain()
            portfolio = env.accounts.load("paper", CAPITAL)
            assert portfolio.cash >= 0
            assert all(p.quantity > 0 for p in portfolio.positions.values())
        env.assert_consistent()
        assert env.queue_counts() == (0, 0)
