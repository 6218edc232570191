"""Generator checkpoints (DESIGN: Checkpoint): exact round trips from the path alone, clear errors otherwise."""
from __future__ import annotations

import json

import pytest
import torch

from nircolor.models import CheckpointError, load_generator, parse_model_name, read_checkpoint_config, save_generator
from nircolor.models.checkpoint import CONFIG_FILE, WEIGHTS_FILE
from tests.models.tiny_training import perturbed_tiny

# One name per family, with the flags that change the architecture.
NAMES = ("johnson-6", "honari-64-5-i", "limmer-3-12-3-bp", "unet-64-is", "estuary-16-sr")




@pytest.fixture(scope="module")
def nir() -> torch.Tensor:
    return torch.rand(2, 1, 37, 53, generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("name", NAMES)
def test_round_trip_gives_identical_outputs(tmp_path, nir, name):
    generator = perturbed_tiny(name).eval()
    save_generator(generator, tmp_path / "checkpoint", nir_bits=10, training_step=1234)
    torch.manual_seed(99)  # loading must not depend on the random state
    loaded = load_generator(tmp_path / "checkpoint")
    assert loaded.config == generator.config
    assert not loaded.training
    with torch.no_grad():
        assert torch.equal(loaded(nir), generator(nir))


def test_load_needs_only_the_path(tmp_path):
    generator = perturbed_tiny("limmer-3-12-3-bp")
    save_generator(generator, tmp_path / "only-path", nir_bits=16, training_step=7, dataset_manifest_sha256="ab" * 32)
    loaded = load_generator(str(tmp_path / "only-path"))
    assert loaded.config.width == generator.config.width != parse_model_name("limmer-3-12-3-bp").width
    info = loaded.checkpoint_info
    assert info["model"]["name"] == "limmer-3-12-3-bp-w4"  # the width the network was built with
    assert parse_model_name(info["model"]["name"]) == loaded.config
    assert info["preprocessing"]["nir_bits"] == 16
    assert info["training_step"] == 7
    assert info["dataset_manifest_sha256"] == "ab" * 32


def test_saving_over_a_checkpoint_replaces_it_without_leftovers(tmp_path, nir):
    first, second = perturbed_tiny("johnson-6"), perturbed_tiny("honari-64-5")
    save_generator(first, tmp_path / "latest")
    save_generator(second, tmp_path / "latest", training_step=2)
    loaded = load_generator(tmp_path / "latest")
    assert loaded.config == second.config
    with torch.no_grad():
        assert torch.equal(loaded(nir), second.eval()(nir))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["latest"]
    assert sorted(path.name for path in (tmp_path / "latest").iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]


def test_extra_files_land_inside_the_checkpoint(tmp_path):
    def write_state(directory):
        (directory / "training_state").mkdir()
        (directory / "training_state" / "optimizer.pt").write_bytes(b"state")

    save_generator(perturbed_tiny("johnson-6"), tmp_path / "ckpt", write_extra_files=write_state)
    assert (tmp_path / "ckpt" / "training_state" / "optimizer.pt").read_bytes() == b"state"
    load_generator(tmp_path / "ckpt")


@pytest.fixture
def saved(tmp_path):
    return save_generator(perturbed_tiny("honari-64-5"), tmp_path / "ckpt")


def _error_message(path) -> str:
    with pytest.raises(CheckpointError) as error:
        load_generator(path)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_missing_directory(tmp_path):
    message = _error_message(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in message and CONFIG_FILE in message


def test_corrupt_config_json(saved):
    (saved / CONFIG_FILE).write_text('{"format_version": 1, "model": ')
    message = _error_message(saved)
    assert str(saved / CONFIG_FILE) in message and "invalid JSON" in message


def test_unknown_format_version(saved):
    document = json.loads((saved / CONFIG_FILE).read_text())
    document["format_version"] = 99
    (saved / CONFIG_FILE).write_text(json.dumps(document))
    message = _error_message(saved)
    assert "99" in message and str(saved / CONFIG_FILE) in message


@pytest.mark.parametrize(
    "model",
    [
        {"name": "resnet-9", "config": {"family": "resnet", "blocks": 9}},
        {"name": "honari-64-5", "config": {"family": "honari", "nc": 64}},
        {"name": "honari-64-5"},
    ],
    ids=["unknown-family", "unknown-field", "no-config"],
)
def test_bad_model_config(saved, model):
    document = json.loads((saved / CONFIG_FILE).read_text())
    document["model"] = model
    (saved / CONFIG_FILE).write_text(json.dumps(document))
    message = _error_message(saved)
    assert "bad model config" in message and str(saved / CONFIG_FILE) in message


def test_missing_weights(saved):
    (saved / WEIGHTS_FILE).unlink()
    message = _error_message(saved)
    assert WEIGHTS_FILE in message and "missing" in message


def test_corrupt_weights(saved):
    (saved / WEIGHTS_FILE).write_bytes(b"\x00garbage" * 10)
    message = _error_message(saved)
    assert str(saved / WEIGHTS_FILE) in message and "cannot load weights" in message


def test_weights_of_another_architecture(saved):
    # A config edited to a different width: shapes no longer match the stored tensors.
    document = json.loads((saved / CONFIG_FILE).read_text())
    document["model"]["config"]["base_channels"] = 8
    (saved / CONFIG_FILE).write_text(json.dumps(document))
    assert "cannot load weights" in _error_message(saved)


def test_a_checkpoint_whose_config_carries_the_old_conditional_field_loads(saved, nir):
    # Before `c` moved to the training configuration, every generator config stored it.
    document = json.loads((saved / CONFIG_FILE).read_text())
    document["model"]["config"]["conditional"] = True
    document["model"]["name"] = "honari-4-5-c"
    (saved / CONFIG_FILE).write_text(json.dumps(document))
    loaded = load_generator(saved)
    assert loaded.config == parse_model_name("honari-64-5").tiny()
    with torch.no_grad():
        assert torch.equal(loaded(nir), perturbed_tiny("honari-64-5")(nir))


def test_read_checkpoint_config_without_weights(saved):
    (saved / WEIGHTS_FILE).unlink()
    assert read_checkpoint_config(saved)["model"]["name"] == "honari-4-5"


@pytest.mark.parametrize("content", [
    b"\xff\xfe\x00", b"[" * 100_000 + b"]" * 100_000, b"[]", b'{"format_version": 1, "model": 5}',
    b'{"format_version": 1, "model": {"name": "x", "config": []}}',
    b'{"format_version": 1, "model": {"name": "x", "config": {}}, "preprocessing": {"nir_bits": "ten"}}',
    b'{"format_version": 1, "model": {"name": "x", "config": {}}, "preprocessing": {"nir_bits": 4000}}',
    b'{"format_version": 1, "model": {"name": "x", "config": {}}, "preprocessing": []}',
])
def test_a_malformed_config_is_one_checkpoint_error_naming_the_file(tmp_path, content):
    checkpoint = save_generator(parse_model_name("johnson-6").tiny().build(), tmp_path / "checkpoint")
    (checkpoint / CONFIG_FILE).write_bytes(content)
    for read in (read_checkpoint_config, load_generator):
        with pytest.raises(CheckpointError) as error:
            read(checkpoint)
        assert str(checkpoint / CONFIG_FILE) in str(error.value) and "\n" not in str(error.value)
