from .configuration_cascade_srn import CascadeSrnConfig
from .modeling_cascade_srn import CascadeSrnModel, CascadeSrnOutput
from .srn import SelectionRecurrentNetwork

__all__ = ["CascadeSrnConfig", "CascadeSrnModel", "CascadeSrnOutput", "SelectionRecurrentNetwork"]
