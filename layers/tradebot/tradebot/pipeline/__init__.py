"""The four pipeline steps, one module each (a handler imports only its own step):

    runtime.py    what every step needs from the outside world, built once per cold start
    fetch.py      FetchMarketData   bars for the universe -> S3, quality report
    optimize.py   OptimizeStrategy  walk-forward parameters per symbol -> DynamoDB
    signals.py    GenerateSignals   target weight per symbol at the close
    trade.py      PaperTrade        the gate, the decision, orders recorded and sent

Each step is one function of (validated event, runtime) -> validated result.
"""
