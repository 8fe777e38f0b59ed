"""tradebot: the runtime library shared by the Lambdas and the ECS executor.

It must not import moto, the local CLI or test helpers: the layer ships only what runs in AWS.
"""

__version__ = "0.1.0"
