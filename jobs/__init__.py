"""The typer CLI: one module per command group; the only place that calls ray.init and prints."""
