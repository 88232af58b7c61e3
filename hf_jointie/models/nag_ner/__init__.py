from .configuration_nag_ner import NagNerConfig
from .modeling_nag_ner import NagNerModel, NagNerOutput

__all__ = ["NagNerConfig", "NagNerModel", "NagNerOutput"]
