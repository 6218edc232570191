"""Reproduce the paper's comparisons (§4.3–4.5, Tables 1–3): train a list of models with identical
settings, evaluate every final checkpoint on the eval split, and lay the L1 errors out as the
paper's tables with its figures beside ours.

Each model is evaluated at its final step (the paper trains a fixed 60,000 iterations and reports
the result), never at the checkpoint that scored best on the eval split, which would select on the
evaluation data.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from nircolor.dataset_tools import atomic
from nircolor.models.names import parse_model_name, split_training_flags, training_name
from nircolor.models.zoo import TABLE3_NAMES, paper_model
from nircolor.pipeline.evaluate import BASELINES, evaluate_checkpoints
from nircolor.pipeline.train import TrainConfig, TrainError, train

# §4.3: Table 1's λ settings, (λ, conditional discriminator); λ = 1 has no discriminator at all.
TABLE1_SETTINGS = ((0.01, False), (0.01, True), (0.99, False), (0.99, True), (1.0, False))
TABLE1_MODELS = ("estuary-16-s", "estuary-16-is")
TABLE1_PAPER = {  # L1 errors of the paper's Table 1, keyed (model, λ, conditional)
    ("estuary-16-s", 0.01, False): 0.123329, ("estuary-16-s", 0.01, True): 0.131221,
    ("estuary-16-s", 0.99, False): 0.093502, ("estuary-16-s", 0.99, True): 0.090415,
    ("estuary-16-s", 1.0, False): 0.090995,
    ("estuary-16-is", 0.01, False): 0.135006, ("estuary-16-is", 0.01, True): 0.124661,
    ("estuary-16-is", 0.99, False): 0.089726, ("estuary-16-is", 0.99, True): 0.083169,
    ("estuary-16-is", 1.0, False): 0.085258,
}
# §4.4: Table 2's rows (with / without inception modules) and columns (— R S SR), λ = 0.99, unconditional.
TABLE2_ROWS = ("estuary-16", "estuary-16-i")
TABLE2_COLUMNS = ("", "r", "s", "sr")
EXPERIMENTS = ("table1", "table2", "table3")


@dataclass(frozen=True)
class PlannedRun:
    model: str  # model name as trained (the `c` flag selects the conditional discriminator)
    l1_weight: float
    run_name: str


@dataclass
class ReproduceConfig:
    experiment: str  # table1, table2, table3 (or "custom" with `models`)
    dataset: str
    out_dir: str
    models: tuple[str, ...] = ()  # overrides the experiment's model list (λ = `l1_weight`)
    l1_weight: float = 0.99  # λ for table2/table3/custom runs (§4.3 standard value)
    steps: int = 60_000
    batch_size: int = 1
    crop_size: int | None = None
    seed: int = 0
    tiny: bool = False
    workers: int = 1
    gpus_per_worker: float = 0.0
    cpus_per_worker: int = 1
    checkpoint_every: int = 1000
    timing: bool = True
    baselines: bool = True


@dataclass
class ReproduceSummary:
    runs: list[dict]  # {"run", "model", "lambda", "checkpoint" | "error"}
    evaluation: object | None  # pipeline.evaluate.EvaluationResults
    files: list[Path] = field(default_factory=list)


def plan_runs(config: ReproduceConfig) -> list[PlannedRun]:
    """The trainings of an experiment, all with the same settings except the ones the table varies."""
    if config.experiment not in (*EXPERIMENTS, "custom"):
        raise ValueError(f"unknown experiment {config.experiment!r}; choose {', '.join(EXPERIMENTS)} or give models")
    if config.models:
        pairs = [(training_name(parse_model_name(name).name, split_training_flags(name)[1]), config.l1_weight)
                 for name in config.models]
    elif config.experiment == "table1":
        pairs = [(training_name(model, conditional), weight)
                 for model in TABLE1_MODELS for weight, conditional in TABLE1_SETTINGS]
    elif config.experiment == "table2":
        pairs = [(_with_flags(row, column), config.l1_weight) for row in TABLE2_ROWS for column in TABLE2_COLUMNS]
    elif config.experiment == "table3":
        # §4.5: the multi-scale network of Limmer & Lensch was trained without the adversarial loss.
        pairs = [(name, 1.0 if name.startswith("limmer") else config.l1_weight) for name in TABLE3_NAMES]
    else:
        raise ValueError("the custom experiment needs a list of models")
    return [PlannedRun(model, weight, f"{model}-lambda{weight:g}") for model, weight in pairs]


def _with_flags(model: str, flags: str) -> str:
    if not flags:
        return model
    base, _, existing = model.partition("-16")
    return f"{base}-16-{existing.lstrip('-')}{flags}"


def reproduce(
    config: ReproduceConfig,
    *,
    train_function: Callable | None = None,
    on_event: Callable[[dict], None] | None = None,
    on_train_progress: Callable[[dict], None] | None = None,
) -> ReproduceSummary:
    """Train every planned run (resuming finished or interrupted ones), evaluate, write the tables.

    Needs a running Ray (jobs.runtime.init_ray). One failed training is recorded and the others go on.
    `train_function(TrainConfig)` defaults to `pipeline.train.train` (tests pass a stand-in);
    `on_train_progress` receives its progress events (see `pipeline.train.train`).
    """
    train_function = train_function or train
    notify = on_event or (lambda event: None)
    out_dir = Path(config.out_dir)
    plan = plan_runs(config)
    runs: list[dict] = []
    for index, planned in enumerate(plan):
        notify({"kind": "train", "index": index, "total": len(plan), "run": planned.run_name})
        train_config = TrainConfig(
            model=planned.model, dataset=config.dataset, run_dir=str(out_dir / "runs" / planned.run_name),
            steps=config.steps, batch_size=config.batch_size, crop_size=config.crop_size,
            l1_weight=planned.l1_weight, checkpoint_every=config.checkpoint_every, eval_every=0, sample_every=0,
            workers=config.workers, gpus_per_worker=config.gpus_per_worker, cpus_per_worker=config.cpus_per_worker,
            seed=config.seed, tiny=config.tiny,
        )
        entry = {"run": planned.run_name, "model": planned.model, "lambda": planned.l1_weight}
        try:
            options = {"on_progress": on_train_progress} if on_train_progress is not None else {}
            summary = train_function(train_config, **options)
            if summary.latest_checkpoint is None:
                raise TrainError("training wrote no checkpoint")
            entry["checkpoint"] = str(summary.latest_checkpoint)
        except (TrainError, ValueError) as error:
            entry["error"] = str(error)
        runs.append(entry)
        notify({"kind": "trained", **entry})

    checkpoints = [entry["checkpoint"] for entry in runs if "checkpoint" in entry]
    sources = checkpoints + (list(BASELINES) if config.baselines else [])
    evaluation = None
    files: list[Path] = []
    if sources:
        notify({"kind": "evaluate", "models": len(checkpoints), "baselines": len(sources) - len(checkpoints)})
        evaluation = evaluate_checkpoints(sources, config.dataset, "eval", out_dir=out_dir / "evaluation",
                                          timing=config.timing)
        files = list(evaluation.files)
        table = paper_layout_markdown(config.experiment if not config.models else "custom", runs, evaluation,
                                      tiny=config.tiny)
        path = out_dir / f"{config.experiment if not config.models else 'custom'}.md"
        atomic.write_text(path, table)
        files.append(path)
    return ReproduceSummary(runs=runs, evaluation=evaluation, files=files)


def paper_layout_markdown(experiment: str, runs: list[dict], evaluation, *, tiny: bool = False) -> str:
    """Our L1 errors in the paper's table layout, each cell `ours (paper)`."""
    by_checkpoint = {model.source: model for model in evaluation.models}
    l1 = {}
    for entry in runs:
        model = by_checkpoint.get(entry.get("checkpoint"))
        if model is not None:
            l1[(entry["model"], entry["lambda"])] = model.metrics["l1"]

    def cell(ours, paper) -> str:
        ours_text = f"{ours:.6f}" if ours is not None else "—"
        return f"{ours_text} ({paper:.6f})" if paper is not None else ours_text

    lines = [f"# {experiment}: L1 error, ours (paper)", ""]
    if tiny:
        lines += ["Trained as test-size (`--tiny`) variants: the paper's figures are for the full-size networks.", ""]
    if experiment == "table1":
        headers = [f"λ = {weight:g}" + (", C" if conditional else "") for weight, conditional in TABLE1_SETTINGS]
        lines += ["| architecture | " + " | ".join(headers) + " |", "|---|" + "---|" * len(headers)]
        for model in TABLE1_MODELS:
            cells = [cell(l1.get((training_name(model, conditional), weight)),
                          TABLE1_PAPER.get((model, weight, conditional))) for weight, conditional in TABLE1_SETTINGS]
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
    elif experiment == "table2":
        lines += ["| architecture | — | R | S | SR |", "|---|---|---|---|---|"]
        for row in TABLE2_ROWS:
            cells = []
            for column in TABLE2_COLUMNS:
                name = _with_flags(row, column)
                entry = paper_model(name)
                ours = next((value for (model, _), value in l1.items() if model == name), None)
                cells.append(cell(ours, entry.l1_error if entry else None))
            lines.append(f"| {row} | " + " | ".join(cells) + " |")
    else:
        lines += ["| architecture | λ | L1 (paper) |", "|---|---|---|"]
        for entry in runs:
            paper = paper_model(entry["model"])
            value = l1.get((entry["model"], entry["lambda"]))
            text = cell(value, paper.l1_error if paper else None) if "error" not in entry else f"not trained: {entry['error']}"
            lines.append(f"| {entry['model']} | {entry['lambda']:g} | {text} |")
    failed = [entry for entry in runs if "error" in entry]
    if failed and experiment in ("table1", "table2"):
        lines += ["", "Not trained:", ""] + [f"- {entry['run']}: {entry['error']}" for entry in failed]
    lines += ["", "Full metrics (PSNR, SSIM, ΔE00, parameters, timing, baselines): `evaluation/evaluation.md`."]
    return "\n".join(lines) + "\n"
