"""The `nircolor` command: sub-commands grouped by pipeline stage (DESIGN: jobs/)."""
import typer

from nircolor.jobs import (
    bench_colorize,
    bench_ingest,
    bench_models,
    bench_precision,
    bench_registration,
    bench_train,
    colorize_cmd,
    dataset_cmd,
    demo_cmd,
    evaluate_cmd,
    export_cmd,
    models_cmd,
    reproduce_cmd,
    synth_cmd,
    train_cmd,
)

app = typer.Typer(
    name="nircolor",
    help="Turn near-infrared drive recordings into natural RGB video (Limmer & Lensch, BMVC 2017).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(models_cmd.app, name="models", help="The paper's networks: list, show.")
app.add_typer(synth_cmd.app, name="synth", help="Synthetic multi-CCD NIR/RGB drive recordings.")
app.add_typer(dataset_cmd.app, name="dataset", help="Build, import, inspect and verify HDF5 datasets.")
app.command("train", help="Train a generator (GAN of §3.5) on a dataset with Ray Train.")(train_cmd.train)
app.command("colorize", help="Colorize NIR recordings or videos into RGB videos.")(colorize_cmd.colorize)
app.command("evaluate", help="Measure checkpoints like the paper's tables (L1, PSNR, SSIM, ΔE, speed).")(evaluate_cmd.evaluate)
app.command("evaluate-video", help="Warping error (flicker) of a colorized video against its NIR recording.")(
    evaluate_cmd.evaluate_video)
app.command("reproduce", help="Train a table's models with identical settings and evaluate them (Tables 1–3).")(reproduce_cmd.reproduce)
app.command("demo", help="Synthetic data → dataset → training → evaluation → colorized video, on one machine.")(demo_cmd.demo)
app.command("export", help="Export a checkpoint to ONNX and torch.export (dynamic sizes), checked against PyTorch.")(
    export_cmd.export)

bench = typer.Typer(help="Benchmarks; figures go to docs/benchmarks.md.", no_args_is_help=True)
bench.command("models", help="ms per 1024×768 frame for each Table-3 network.")(bench_models.bench_models)
bench.command("ingest", help="Dataset ingest pairs/s against decode-only.")(bench_ingest.bench_ingest)
bench.command("registration", help="Accuracy of the NIR↔RGB shift measurement on injected shifts.")(
    bench_registration.bench_registration)
bench.command("train", help="Ray Train iterations/s against a plain loop.")(bench_train.bench_train)
bench.command("colorize", help="End-to-end colorization frames/s against model-only.")(bench_colorize.bench_colorize)
bench.command("precision", help="How far bf16 inference moves trained checkpoints' outputs from float32.")(
    bench_precision.bench_precision)
app.add_typer(bench, name="bench")


if __name__ == "__main__":
    app()
