"""mindgate: an evaluation-first benchmarking harness and acceptance gate for mental-health LMs."""

__version__ = "0.1.0"
