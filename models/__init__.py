"""Shared model code: every generator of the paper, the discriminator, losses, checkpoints."""
from nircolor.models.checkpoint import CheckpointError, load_generator, read_checkpoint_config, save_generator
from nircolor.models.common import Generator, count_parameters
from nircolor.models.discriminator import Discriminator, DiscriminatorConfig
from nircolor.models.names import ModelNameError, build_generator, parse_model_name
from nircolor.models.zoo import ALL_NAMES, PAPER_MODELS, TABLE3_NAMES

__all__ = [
    "ALL_NAMES", "PAPER_MODELS", "TABLE3_NAMES", "CheckpointError", "Discriminator",
    "DiscriminatorConfig", "Generator", "ModelNameError", "build_generator", "count_parameters",
    "load_generator", "parse_model_name", "read_checkpoint_config", "save_generator",
]
