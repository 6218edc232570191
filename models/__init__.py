"""Shared model code: every generator of the paper, the discriminator, losses, checkpoints."""
from models.checkpoint import CheckpointError, load_generator, read_checkpoint_config, save_generator
from models.common import Generator, count_parameters
from models.discriminator import Discriminator, DiscriminatorConfig
from models.names import ModelNameError, build_generator, parse_model_name
from models.zoo import ALL_NAMES, PAPER_MODELS, TABLE3_NAMES

__all__ = [
    "ALL_NAMES", "PAPER_MODELS", "TABLE3_NAMES", "CheckpointError", "Discriminator",
    "DiscriminatorConfig", "Generator", "ModelNameError", "build_generator", "count_parameters",
    "load_generator", "parse_model_name", "read_checkpoint_config", "save_generator",
]
