"""The model name grammar (§4.2): names ↔ configs ↔ JSON-able dicts, and one-sentence errors for bad names."""
from __future__ import annotations

import json

import pytest

from nircolor.models import ALL_NAMES, ModelNameError, parse_model_name
from nircolor.models.estuary import EstuaryConfig
from nircolor.models.honari import HonariConfig
from nircolor.models.johnson import JohnsonConfig
from nircolor.models.limmer import LimmerConfig
from nircolor.models.names import GRAMMAR, config_from_dict, config_to_dict, split_training_flags, training_name
from nircolor.models.unet import UNetConfig

# Training names: `c` (conditional discriminator) in the last flag group, parsed apart from the generator.
FLAGGED_NAMES = {
    "estuary-16-isrc": "estuary-16-isr", "estuary-16-c": "estuary-16", "johnson-6-c": "johnson-6",
    "unet-64-isc": "unet-64-is", "unet-64-sc": "unet-64-s", "honari-64-5-ic": "honari-64-5-i",
    "honari-64-5-c": "honari-64-5", "limmer-3-12-3-bpc": "limmer-3-12-3-bp", "johnson-1-c-w4": "johnson-1-w4",
    "limmer-3-12-3-bpc-w4": "limmer-3-12-3-bp-w4",
}
# Every family at its paper sizes, its test size and a few widths and flags in between.
EVERY_CONFIG = (
    *(parse_model_name(name) for name in ALL_NAMES),
    *(parse_model_name(name).tiny() for name in ALL_NAMES),
    EstuaryConfig(8, residual=True), EstuaryConfig(12, inception=True, skip=True),
    UNetConfig(base_channels=4), UNetConfig(base_channels=16, inception=True),
    JohnsonConfig(), JohnsonConfig(blocks=1, base_channels=4), JohnsonConfig(blocks=9, base_channels=64),
    HonariConfig(base_channels=4, branches=2), HonariConfig(base_channels=16, branches=5, inception=True),
    LimmerConfig(), LimmerConfig(width=4), LimmerConfig(scales=2, layers=3, fusion_layers=1, width=8),
)


@pytest.mark.parametrize("config", EVERY_CONFIG, ids=lambda config: config.name)
def test_every_config_name_parses_back_to_the_same_config(config):
    assert parse_model_name(config.name) == config
    assert parse_model_name(f"  {config.name.upper()} ") == config
    assert split_training_flags(config.name) == (config.name, False)


@pytest.mark.parametrize("config", EVERY_CONFIG, ids=lambda config: config.name)
def test_conditional_training_names_round_trip_to_the_same_generator(config):
    name = training_name(config.name, conditional=True)
    assert split_training_flags(name) == (config.name, True)
    assert parse_model_name(name) == config


@pytest.mark.parametrize("name", ALL_NAMES)
def test_paper_names_are_canonical(name):
    assert parse_model_name(name).name == name


@pytest.mark.parametrize("name,generator", FLAGGED_NAMES.items())
def test_the_conditional_flag_is_parsed_apart(name, generator):
    assert split_training_flags(name) == (generator, True)
    assert parse_model_name(name).name == generator
    assert training_name(generator, True) == name
    assert "conditional" not in config_to_dict(parse_model_name(name))


def test_tiny_widths_are_in_the_name():
    assert parse_model_name("johnson-6").tiny().name == "johnson-1-w4"
    assert parse_model_name("limmer-3-12-3-bp").tiny().name == "limmer-3-12-3-bp-w4"
    assert parse_model_name("johnson-6-w32") == parse_model_name("johnson-6")  # the default width is implied


@pytest.mark.parametrize("config", EVERY_CONFIG, ids=lambda config: config.name)
def test_config_dict_round_trip_through_json(config):
    # Checkpoints store the dict as JSON, so the round trip must survive serialization.
    data = json.loads(json.dumps(config_to_dict(config)))
    assert data["family"] == config.name.split("-")[0]
    assert config_from_dict(data) == config


def test_a_stored_config_from_before_the_flag_moved_still_loads():
    # Checkpoints written when generator configs carried `conditional` keep loading.
    data = config_to_dict(parse_model_name("honari-64-5-i")) | {"conditional": True}
    assert config_from_dict(data) == parse_model_name("honari-64-5-i")


@pytest.mark.parametrize(
    "name,grammar",
    [
        ("foo-3", GRAMMAR),
        ("", GRAMMAR),
        ("   ", GRAMMAR),
        ("estuary-x", "estuary-<nc>"),
        ("unet-64-q", "unet-<nc>-[i]s[c]"),
        ("johnson-six", "johnson-<blocks>[-c][-w<width>]"),
        ("johnson-6-w", "johnson-<blocks>[-c][-w<width>]"),
        ("estuary-16-cc", "estuary-<nc>"),
        ("honari-64", "honari-<nc>-<branches>[-i][c]"),
        ("honari-64-5-x", "honari-<nc>-<branches>[-i][c]"),
        ("honari-6-5-i", "honari"),
        ("limmer-3-12-3", "limmer-<scales>-<layers>-<fusion layers>-bp[c][-w<width>]"),
        ("limmer-3-12-3-bq", "limmer-<scales>-<layers>-<fusion layers>-bp[c][-w<width>]"),
        ("limmer-3-12-3-bp-w0", "limmer-<scales>-<layers>-<fusion layers>-bp[c][-w<width>]"),
    ],
)
def test_bad_names_say_what_is_valid_in_one_sentence(name, grammar):
    with pytest.raises(ModelNameError) as error:
        parse_model_name(name)
    message = str(error.value)
    assert grammar in message
    assert "\n" not in message
    if name.strip():
        assert repr(name) in message  # names the offending input


def test_grammar_names_every_family():
    for family in ("estuary", "unet", "johnson", "honari", "limmer"):
        assert f"{family}-" in GRAMMAR


def test_unknown_family_in_a_stored_config_is_a_name_error():
    with pytest.raises(ModelNameError, match="unknown model family 'resnet'"):
        config_from_dict({"family": "resnet", "blocks": 9})


@pytest.mark.parametrize(
    "name, reason",
    [
        ("unet-99999-s", "base_channels must be an integer from 1 to 1024"),
        ("johnson-99999", "blocks must be an integer from 1 to 64"),
        ("limmer-1000-1000-1000-bp", "scales must be an integer from 1 to 64"),
        ("unet-512-s", "would have 3.5G parameters"),  # every field in range, the whole too big
        ("estuary-1024-isr", "G parameters"),
    ],
)
def test_a_name_whose_network_would_exhaust_memory_is_refused_before_building(name, reason):
    with pytest.raises(ModelNameError, match=reason):
        parse_model_name(name)


@pytest.mark.parametrize(
    "data, reason",
    [
        ({"family": "unet", "base_channels": -3, "inception": False}, "from 1 to 1024, got -3"),
        ({"family": "unet", "base_channels": "64", "inception": False}, "got '64'"),
        ({"family": "unet", "base_channels": True, "inception": False}, "got True"),
        ({"family": "estuary", "base_channels": 16, "skip": "yes"}, "skip must be true or false"),
        ({"family": "limmer", "scales": 3, "layers": 10**9, "fusion_layers": 3}, "layers must be"),
    ],
)
def test_a_stored_config_with_wrong_types_or_sizes_is_a_name_error(data, reason):
    with pytest.raises(ModelNameError, match=reason):
        config_from_dict(data)


def test_the_largest_paper_networks_are_within_the_bounds():
    for name in ("unet-64-is", "estuary-32-isr", "johnson-9", "limmer-3-12-3-bp", "honari-64-5-i"):
        assert parse_model_name(name).name == name
