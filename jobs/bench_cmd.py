"""`nircolor bench ...`: the benchmarks; figures go to docs/benchmarks.md."""
import typer

from nircolor.jobs import bench_colorize, bench_ingest, bench_models, bench_precision, bench_registration, bench_train

app = typer.Typer(help="Benchmarks; figures go to docs/benchmarks.md.", no_args_is_help=True, add_completion=False)
app.command("models", help="ms per 1024×768 frame for each Table-3 network.")(bench_models.bench_models)
app.command("ingest", help="Dataset ingest pairs/s against decode-only.")(bench_ingest.bench_ingest)
app.command("registration", help="Accuracy of the NIR↔RGB shift measurement on injected shifts.")(
    bench_registration.bench_registration)
app.command("train", help="Ray Train iterations/s against a plain loop.")(bench_train.bench_train)
app.command("colorize", help="End-to-end colorization frames/s against model-only.")(bench_colorize.bench_colorize)
app.command("precision", help="How far bf16 inference moves trained checkpoints' outputs from float32.")(
    bench_precision.bench_precision)
