"""`nircolor dataset build|import-pairs|info|verify` (build lives in jobs/dataset_build_cmd.py)."""
import typer

from jobs import dataset_build_cmd

app = typer.Typer(no_args_is_help=True)
app.command("build", help="Drive recordings → HDF5 shards + manifest, on Ray actors.")(dataset_build_cmd.build)


@app.command("info")
def info() -> None:
    """Not built yet (issue 3)."""
    raise typer.Exit(2)
