"""The model name grammar of the paper (§4.2): `<family>-<width>[-<flags>][-w<channels>]`.

One function parses every name; each family's config class knows its own fields
(`from_name_parts`) and writes its canonical name (`.name`), which parses back to the same config.
`c` (conditional discriminator) is a training flag, not a generator one: names may carry it
(`estuary-16-isrc`) and `split_training_flags` parses it apart. The table below is the only
place a family name maps to code.
"""
from __future__ import annotations

import functools
import re
from dataclasses import asdict, fields

import torch

CONDITIONAL_FLAG = "c"
# Resource bounds, checked before any weight is allocated: a name or a checkpoint's config.json may ask
# for any size. Widths are at most MAX_WIDTH, counts of layers, blocks, scales and branches at most
# MAX_DEPTH (which also keeps the meta-device parameter count below fast), and the whole generator
# at most MAX_PARAMETERS (4 GB of float32 weights; unet-64-s has 54.4M).
MAX_WIDTH = 1024
MAX_DEPTH = 64
WIDTH_FIELDS = ("base_channels", "width", "filters")
MAX_PARAMETERS = 1_000_000_000
MAX_NAME_LENGTH = 100
# `-w<channels>`, always last: the width of families whose paper name does not carry it (johnson, limmer).
WIDTH_SUFFIX = re.compile(r"w(\d+)")


class ModelNameError(ValueError):
    """A model name that does not follow the grammar; the message lists what is valid."""


def _families() -> dict:
    # Imported here, not at module level: each family module imports this one for ModelNameError.
    from nircolor.models.estuary import EstuaryConfig
    from nircolor.models.honari import HonariConfig
    from nircolor.models.johnson import JohnsonConfig
    from nircolor.models.limmer import LimmerConfig
    from nircolor.models.unet import UNetConfig

    return {
        "estuary": EstuaryConfig,
        "unet": UNetConfig,
        "johnson": JohnsonConfig,
        "honari": HonariConfig,
        "limmer": LimmerConfig,
    }


GRAMMAR = (
    "estuary-<nc>[-<flags from i,s,r,c>] (e.g. estuary-16-isr), unet-<nc>-[i]s[c], "
    "johnson-<blocks>[-c][-w<width>], honari-<nc>-<branches>[-i][c], limmer-3-12-3-bp[c][-w<width>]"
)


def split_width_suffix(parts: list[str], default: int) -> tuple[list[str], int]:
    """(the name parts without a trailing `w<channels>`, the width it gives or `default`)."""
    match = WIDTH_SUFFIX.fullmatch(parts[-1]) if parts else None
    if match is None:
        return parts, default
    return parts[:-1], int(match.group(1))


def width_suffix(width: int, default: int) -> str:
    return "" if width == default else f"-w{width}"


def _flag_part(parts: list[str]) -> int | None:
    """Index of the last flag group (letters only) before an optional width suffix, if any."""
    end = len(parts) - 1 if parts and WIDTH_SUFFIX.fullmatch(parts[-1]) else len(parts)
    return end - 1 if end > 0 and parts[end - 1].isalpha() else None


def split_training_flags(name: str) -> tuple[str, bool]:
    """(the generator's name, whether the discriminator is conditional): `estuary-16-isrc` → (`estuary-16-isr`, True).

    `c` is one letter of the name's last flag group (`johnson-6-c`, `unet-64-sc`, `limmer-3-12-3-bpc`).
    """
    family, *parts = name.strip().lower().split("-")
    index = _flag_part(parts)
    if index is None or CONDITIONAL_FLAG not in parts[index]:
        return "-".join([family, *parts]), False
    flags = parts[index].replace(CONDITIONAL_FLAG, "", 1)
    parts[index : index + 1] = [flags] if flags else []
    return "-".join([family, *parts]), True


def training_name(generator_name: str, conditional: bool) -> str:
    """The name a training run goes by: the generator's name with `c` in its last flag group when conditional."""
    if not conditional:
        return generator_name
    family, *parts = generator_name.split("-")
    index = _flag_part(parts)
    if index is not None:
        parts[index] += CONDITIONAL_FLAG
    else:
        parts.insert(len(parts) - 1 if parts and WIDTH_SUFFIX.fullmatch(parts[-1]) else len(parts), CONDITIONAL_FLAG)
    return "-".join([family, *parts])


def parse_model_name(name: str):
    """Return the frozen generator config for a paper model name (case-insensitive; a `c` flag is parsed apart)."""
    if len(name) > MAX_NAME_LENGTH:  # quoted whole, it would flood the one error line
        raise ModelNameError(f"model name {name[:40]!r}… is {len(name)} characters long, more than any valid "
                             f"name ({MAX_NAME_LENGTH}); valid names: {GRAMMAR}")
    text, _ = split_training_flags(name)
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
        return check_config(families[family].from_name_parts(parts))
    except ModelNameError as error:
        raise ModelNameError(f"{error}; got {name!r}") from None
    except (ValueError, IndexError) as error:
        raise ModelNameError(f"invalid model name {name!r} ({error}); valid names: {GRAMMAR}") from None


def check_config(config):
    """`config` itself when its fields have their types and the network it builds fits the bounds."""
    for field in fields(config):
        value = getattr(config, field.name)
        if field.type in ("int", int):
            bound = MAX_WIDTH if field.name in WIDTH_FIELDS else MAX_DEPTH
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= bound:
                raise ModelNameError(f"{config.family} {field.name} must be an integer from 1 to {bound}, got {value!r}")
        elif field.type in ("bool", bool) and not isinstance(value, bool):
            raise ModelNameError(f"{config.family} {field.name} must be true or false, got {value!r}")
    parameters = _parameter_count(config)
    if parameters > MAX_PARAMETERS:
        raise ModelNameError(f"{config.name} would have {parameters / 1e9:.1f}G parameters, "
                             f"more than nircolor builds ({MAX_PARAMETERS / 1e9:.0f}G)")
    return config


@functools.lru_cache(maxsize=256)
def _parameter_count(config) -> int:
    # Built on PyTorch's meta device: shapes only, no memory.
    with torch.device("meta"):
        generator = config.build()
    return sum(parameter.numel() for parameter in generator.parameters())


def config_to_dict(config) -> dict:
    return {"family": config.family, **asdict(config)}


def config_from_dict(data: dict):
    """The config a checkpoint stores; a `conditional` field of checkpoints written before it moved to training is dropped."""
    data = dict(data)
    family = data.pop("family")
    data.pop("conditional", None)
    families = _families()
    if family not in families:
        raise ModelNameError(f"unknown model family {family!r}; valid names: {GRAMMAR}")
    return check_config(families[family](**data))


def build_generator(name_or_config):
    """Build a generator (Xavier-initialized) from a name or a config."""
    config = parse_model_name(name_or_config) if isinstance(name_or_config, str) else name_or_config
    return config.build()
