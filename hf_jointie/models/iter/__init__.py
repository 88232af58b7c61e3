from .configuration_iter import IterConfig
from .modeling_iter import IterModel, IterOutput

__all__ = ["IterConfig", "IterModel", "IterOutput"]
