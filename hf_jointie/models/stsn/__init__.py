from .configuration_stsn import StsnConfig
from .modeling_stsn import StsnModel, StsnOutput

__all__ = ["StsnConfig", "StsnModel", "StsnOutput"]
