"""The model name grammar of the paper (§4.2): `<family>-<width>[-<flags>]`.

One function parses every name; each family's config class knows its own fields
(`from_name_parts`) and writes its canonical name (`.name`). The table below is the only
place a family name maps to code.
"""
from __future__ import annotations

from dataclasses import asdict


class ModelNameError(ValueError):
    """A model name that does not follow the grammar; the message lists what is valid."""


def _families() -> dict:
    # Imported here so each family module can import this one for ModelNameError.
    from models.estuary import EstuaryConfig
    from models.honari import HonariConfig
    from models.johnson import JohnsonConfig
    from models.limmer import LimmerConfig
    from models.unet import UNetConfig

    return {
        "estuary": EstuaryConfig,
        "unet": UNetConfig,
        "johnson": JohnsonConfig,
        "honari": HonariConfig,
        "limmer": LimmerConfig,
    }


GRAMMAR = (
    "estuary-<nc>[-<flags from i,s,r,c>] (e.g. estuary-16-isr), unet-<nc>-[i]s[c], "
    "johnson-<blocks>[-c], honari-<nc>-<branches>[-i][c], limmer-3-12-3-bp"
)


def parse_model_name(name: str):
    """Return the frozen config for a paper model name (case-insensitive)."""
    text = name.strip().lower()
    if not text:
        raise ModelNameError(f"empty model name; valid names: {GRAMMAR}")
    family, _, rest = text.partition("-")
    families = _families()
    if family not in families:
        raise ModelNameError(
            f"unknown model family {family!r} in {name!r}; valid names: {GRAMMAR}"
        )
    parts = rest.split("-") if rest else []
    try:
        return families[family].from_name_parts(parts)
    except ModelNameError:
        raise
    except (ValueError, IndexError) as error:
        raise ModelNameError(f"invalid model name {name!r} ({error}); valid names: {GRAMMAR}") from None


def config_to_dict(config) -> dict:
    return {"family": config.family, **asdict(config)}


def config_from_dict(data: dict):
    data = dict(data)
    family = data.pop("family")
    families = _families()
    if family not in families:
        raise ModelNameError(f"unknown model family {family!r}; valid names: {GRAMMAR}")
    return families[family](**data)


def build_generator(name_or_config):
    """Build a generator (Xavier-initialized) from a name or a config."""
    config = parse_model_name(name_or_config) if isinstance(name_or_config, str) else name_or_config
    return config.build()
