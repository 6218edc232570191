"""The model name grammar (§4.2): names ↔ configs ↔ JSON-able dicts, and one-sentence errors for bad names."""
from __future__ import annotations

import json

import pytest

from models import ALL_NAMES, ModelNameError, parse_model_name
from models.names import GRAMMAR, config_from_dict, config_to_dict

FLAGGED_NAMES = ("estuary-16-isrc", "johnson-6-c", "unet-64-isc", "honari-64-5-ic", "honari-64-5-c", "limmer-3-12-3-bpc")


@pytest.mark.parametrize("name", ALL_NAMES + FLAGGED_NAMES)
def test_name_config_name_round_trip(name):
    config = parse_model_name(name)
    assert config.name == name
    assert parse_model_name(f"  {name.upper()} ") == config


@pytest.mark.parametrize("name", ALL_NAMES + FLAGGED_NAMES)
def test_config_dict_round_trip_through_json(name):
    config = parse_model_name(name)
    # Checkpoints store the dict as JSON, so the round trip must survive serialization.
    data = json.loads(json.dumps(config_to_dict(config)))
    assert data["family"] == name.split("-")[0]
    assert config_from_dict(data) == config


@pytest.mark.parametrize("name", ["johnson-6", "honari-64-5-i", "limmer-3-12-3-bp", "estuary-16-isrc"])
def test_tiny_config_survives_the_dict_round_trip(name):
    # Tiny widths are not always part of the name (johnson, limmer): only the dict keeps them.
    tiny = parse_model_name(name).tiny()
    restored = config_from_dict(config_to_dict(tiny))
    assert restored == tiny
    assert restored.conditional == parse_model_name(name).conditional


def test_conditional_flag_is_the_only_difference():
    plain, conditional = parse_model_name("honari-64-5-i"), parse_model_name("honari-64-5-ic")
    assert conditional.conditional and not plain.conditional
    assert config_to_dict(plain) | {"conditional": True} == config_to_dict(conditional)


@pytest.mark.parametrize(
    "name,grammar",
    [
        ("foo-3", GRAMMAR),
        ("", GRAMMAR),
        ("   ", GRAMMAR),
        ("estuary-x", "estuary-<nc>"),
        ("unet-64-q", "unet-<nc>-[i]s[c]"),
        ("johnson-six", "johnson-<blocks>[-c]"),
        ("honari-64", "honari-<nc>-<branches>[-i][c]"),
        ("honari-64-5-x", "honari-<nc>-<branches>[-i][c]"),
        ("honari-6-5-i", "honari"),
        ("limmer-3-12-3", "limmer-<scales>-<layers>-<fusion layers>-bp[c]"),
        ("limmer-3-12-3-bq", "limmer-<scales>-<layers>-<fusion layers>-bp[c]"),
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
