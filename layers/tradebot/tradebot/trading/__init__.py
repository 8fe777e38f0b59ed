"""The trading core: the operator's config and risk limits, the account's values, the one trading gate and
position sizing. Pure: no AWS, no clock (callers pass ``now``)."""
