from .configuration_cascade_srn import CascadeSrnConfig
from .modeling_cascade_srn import (
    CascadeSrnModel,
    CascadeSrnOutput,
    SelectionRecurrentNetwork,
)

__all__ = ["CascadeSrnConfig", "CascadeSrnModel", "CascadeSrnOutput", "SelectionRecurrentNetwork"]
