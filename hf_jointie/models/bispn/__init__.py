from .configuration_bispn import BispnConfig
from .modeling_bispn import BispnModel, BispnOutput, hungarian_match

__all__ = ["BispnConfig", "BispnModel", "BispnOutput", "hungarian_match"]
