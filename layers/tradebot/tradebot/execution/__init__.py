"""Order execution at the executor (ECS): brokers and what they fill against, one order's life, the loop.

broker.py      the Broker interface and the paper broker (next session's bar)
alpaca.py      Alpaca's paper-trading API behind the same interface (optional)
next_bars.py   the paper broker's price source: the next session's bar from a bar source
executor.py    one order's life: ledger -> gate -> broker -> settlement
service.py     the loop: receive, execute, delete; visibility, pending sweep, heartbeat
"""
