"""Powertools singletons: one Logger, Tracer and Metrics per process (POWERTOOLS_* set in the template)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
