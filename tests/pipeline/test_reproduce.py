"""reproduce: the paper's comparisons train with identical settings and land in the paper's table layout."""
from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import pytest

from nircolor.models import parse_model_name, read_checkpoint_config, save_generator
from nircolor.pipeline.reproduce import ReproduceConfig, plan_runs, reproduce
from nircolor.pipeline.train import TrainError, train_in_process
from tests.pipeline.shard_factory import make_dataset


def test_plans_follow_the_papers_tables():
    table1 = plan_runs(ReproduceConfig("table1", "data", "out"))
    assert len(table1) == 10  # 2 architectures × 5 λ settings
    assert ("estuary-16-isc", 0.01) in {(run.model, run.l1_weight) for run in table1}
    table2 = [run.model for run in plan_runs(ReproduceConfig("table2", "data", "out"))]
    assert table2 == ["estuary-16", "estuary-16-r", "estuary-16-s", "estuary-16-sr",
                      "estuary-16-i", "estuary-16-ir", "estuary-16-is", "estuary-16-isr"]
    table3 = {run.model: run.l1_weight for run in plan_runs(ReproduceConfig("table3", "data", "out"))}
    assert table3["limmer-3-12-3-bp"] == 1.0 and table3["unet-64-s"] == 0.99  # §4.5: Limmer without L_adv
    with pytest.raises(ValueError, match="unknown experiment"):
        plan_runs(ReproduceConfig("table9", "data", "out"))


def test_table2_trains_identically_and_writes_the_paper_layout(tmp_path):
    dataset = make_dataset(tmp_path)
    seen = []

    def fake_train(config):
        """Stands in for training: records the settings, saves an untrained tiny checkpoint."""
        seen.append(config)
        if config.model == "estuary-16-ir":
            raise TrainError("out of memory at step 3")
        path = save_generator(parse_model_name(config.model).tiny().build(),
                              f"{config.run_dir}/checkpoints/step-{config.steps:07d}", training_step=config.steps,
                              extra={"lambda": config.l1_weight})
        return SimpleNamespace(latest_checkpoint=path)

    config = ReproduceConfig("table2", str(dataset), str(tmp_path / "out"), steps=5, tiny=True, timing=False)
    summary = reproduce(config, train_function=fake_train)

    varying = {"model", "run_dir"}
    settings = [{k: v for k, v in dataclasses.asdict(c).items() if k not in varying} for c in seen]
    assert len(seen) == 8 and all(entry == settings[0] for entry in settings)
    assert settings[0]["steps"] == 5 and settings[0]["l1_weight"] == 0.99 and settings[0]["eval_every"] == 0
    assert [entry.get("error") for entry in summary.runs].count("out of memory at step 3") == 1

    table = (tmp_path / "out" / "table2.md").read_text()
    assert "| estuary-16 | " in table and "(0.136024)" in table and "(0.089726)" in table
    row = next(line for line in table.splitlines() if line.startswith("| estuary-16-i |"))
    assert row.split("|")[3].strip() == "— (0.133915)"  # the failed estuary-16-ir cell has no value of ours
    document = json.loads((tmp_path / "out" / "evaluation" / "evaluation.json").read_text())
    assert len(document["models"]) == 7 + 2  # trained models and both baselines


def test_a_custom_comparison_really_trains(tmp_path):
    dataset = make_dataset(tmp_path)
    config = ReproduceConfig("custom", str(dataset), str(tmp_path / "out"), models=("Johnson-6",), steps=2,
                             tiny=True, timing=False, baselines=False, checkpoint_every=1)
    summary = reproduce(config, train_function=train_in_process)
    (entry,) = summary.runs
    assert entry["run"] == "johnson-6-lambda0.99"
    assert read_checkpoint_config(entry["checkpoint"])["training_step"] == 2
    (model,) = summary.evaluation.models
    assert model.training["lambda"] == 0.99 and 0.0 < model.metrics["l1"] < 1.0
    assert "| johnson-6 | 0.99 |" in (tmp_path / "out" / "custom.md").read_text()
