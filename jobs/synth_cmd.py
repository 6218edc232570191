"""`nircolor synth recordings` (placeholder until issue 3 lands)."""
import typer

app = typer.Typer(help="Not built yet (issue 3).", no_args_is_help=True)


@app.command()
def main() -> None:
    """Not built yet (issue 3)."""
    raise typer.Exit(2)
