from .configuration_stsn import StsnConfig, needs_extended_bio
from .modeling_stsn import StsnModel, StsnOutput

__all__ = ["StsnConfig", "StsnModel", "StsnOutput", "needs_extended_bio"]
