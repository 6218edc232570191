"""`nircolor models list|show`: the paper's networks with their sizes (paper Table 3)."""
from __future__ import annotations

import torch
import typer
from rich.markup import escape
from rich.table import Table

from nircolor.jobs.json_output import emit, json_option
from nircolor.jobs.runtime import console, fail
from nircolor.models import ALL_NAMES, ModelNameError, build_generator, count_parameters, parse_model_name
from nircolor.models.flops import generator_gflops
from nircolor.models.names import GRAMMAR, split_training_flags
from nircolor.models.zoo import paper_model

app = typer.Typer(no_args_is_help=True, add_completion=False)

NAMES_HELP = (
    f"Names: {GRAMMAR}. A trailing -w<width> sets the channels of families whose paper name has no width "
    "(test sizes johnson-1-w4, limmer-3-12-3-bp-w4). `c` selects the conditional discriminator: a training "
    "flag, not part of the generator (estuary-16-isrc trains estuary-16-isr)."
)


@app.command("list")
def list_models(
    gflops: bool = typer.Option(True, help="Count GFLOPs for one 1024×768 frame (a few seconds)."),
    as_json: bool = json_option(),
) -> None:
    """Every network of the paper's Tables 1–3: parameters, the paper's parameters, GFLOPs; and the name grammar."""
    table = Table(title="Networks of the paper (1 NIR channel in, 3 RGB out)", caption=escape(NAMES_HELP),
                  caption_justify="left")
    for column in ("name", "params (M)", "paper (M)", "GFLOPs 1024×768", "paper L1", "paper TITAN X (s)"):
        table.add_column(column, justify="left" if column == "name" else "right", no_wrap=column == "name")
    rows = []
    for name in ALL_NAMES:
        config = parse_model_name(name)
        with torch.device("meta"):  # shapes only: no memory, no initialization time
            parameters = count_parameters(build_generator(config)) / 1e6
        paper = paper_model(name)
        rows.append({"name": name, "parameters_m": parameters, "paper_parameters_m": paper.parameters_m,
                     "gflops_1024x768": generator_gflops(config) if gflops else None, "paper_l1": paper.l1_error,
                     "paper_titan_x_seconds": paper.titan_x_seconds})
        table.add_row(
            name,
            f"{parameters:.2f}",
            _maybe(paper.parameters_m, "{:.1f}"),
            f"{rows[-1]['gflops_1024x768']:.1f}" if gflops else "-",
            _maybe(paper.l1_error, "{:.4f}"),
            _maybe(paper.titan_x_seconds, "{:.3f}"),
        )
    if as_json:
        emit("models-list", {"models": rows, "grammar": NAMES_HELP})
        return
    console.print(table)


@app.command("show")
def show(name: str = typer.Argument(..., help=f"A model name, e.g. estuary-32-is, unet-64-s or johnson-1-w4. {escape(NAMES_HELP)}")) -> None:
    """The layer summary of one network."""
    try:
        config = parse_model_name(name)
    except ModelNameError as error:
        fail(str(error))
    generator = build_generator(config)
    console.print(f"[bold]{config.name}[/]  {config}")
    if split_training_flags(name)[1]:
        console.print("c: trained with a conditional discriminator (a training flag; the generator is the same)")
    console.print(generator)
    console.print(f"trainable parameters: {count_parameters(generator):,}")


def _maybe(value, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)
