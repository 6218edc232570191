"""Benchmarks behind `nircolor bench ...`: timing of models, ingest, training, colorize and registration.

Only this package times or instruments the stages; it drives them through their public APIs.
"""
