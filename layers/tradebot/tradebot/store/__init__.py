"""Where the bot's state lives: one module per DynamoDB item type (its keys and attribute layout, nothing
else builds them), the fill transaction, and both ends of the order message on SQS.

    dynamo.py          the conditional put, pagination, number attributes (shared helpers)
    trading_config.py  CONFIG item (config table): the trading config and kill switch
    params.py          PARAMS#<symbol> items (state table): optimized parameters and their scores
    accounts.py        PORTFOLIO#<account> items (state table): cash, positions, decisions, the halt
    ledger.py          ORDER#<order_id> items (ledger table): orders, their lifecycle table, fills
    settlement.py      the fill: ledger + cash + position in one transaction
    queue.py           the order message: sent by PaperTrade, received by the executor
"""
