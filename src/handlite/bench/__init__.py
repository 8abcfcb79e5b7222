"""Benchmarks: runners (host, benchmark_model, app), output parser, statistics, sweeps, store.

Every benchmark writes `handlite.bench/1` records (docs/CONTRACTS.md) through `bench.store`.
"""
