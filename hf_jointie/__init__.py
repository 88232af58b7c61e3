"""hf_jointie: joint named-entity recognition and relation extraction as native `transformers` models.

Importing the package registers every architecture with `AutoConfig` / `AutoModel` and the `"joint-ie"` task with the
pipeline registry, so `AutoModel.from_pretrained(saved_dir)` and `pipeline("joint-ie", model=saved_dir)` just work.
"""

from transformers import AutoConfig, AutoModel
from transformers.pipelines import PIPELINE_REGISTRY

from .configuration_utils import JointIEConfig
from .data import FEATURES, encode_labels, encode_words, label_sets, load_jointie_dataset, normalize_example
from .metrics import compute_joint_ie_metrics
from .modeling_utils import JointIEPreTrainedModel
from .models.bispn import BispnConfig, BispnModel
from .models.cascade_srn import CascadeSrnConfig, CascadeSrnModel
from .models.iter import IterConfig, IterModel
from .models.nag_ner import NagNerConfig, NagNerModel
from .models.stsn import StsnConfig, StsnModel
from .outputs import EntityPrediction, JointIEOutput, JointIEPrediction, RelationPrediction
from .pipeline import JointIEPipeline

#: model_type -> (config class, model class) of every architecture the package ships (one line each).
ARCHITECTURES = {
    "bispn": (BispnConfig, BispnModel),
    "cascade_srn": (CascadeSrnConfig, CascadeSrnModel),
    "iter": (IterConfig, IterModel),
    "nag_ner": (NagNerConfig, NagNerModel),
    "stsn": (StsnConfig, StsnModel),
}


def _register() -> None:
    """Register every architecture and the pipeline. `register_for_auto_class` is deliberately not called: it makes
    `save_pretrained` copy the modeling file as remote code, which cannot work for a package with relative imports;
    a checkpoint is loaded by `import hf_jointie` plus the Auto classes instead."""
    for model_type, (config_class, model_class) in ARCHITECTURES.items():
        AutoConfig.register(model_type, config_class, exist_ok=True)
        AutoModel.register(config_class, model_class, exist_ok=True)
    PIPELINE_REGISTRY.register_pipeline("joint-ie", pipeline_class=JointIEPipeline, pt_model=AutoModel, type="text")


_register()

__version__ = "0.1.0"

__all__ = [
    "ARCHITECTURES",
    "FEATURES",
    "BispnConfig",
    "BispnModel",
    "CascadeSrnConfig",
    "CascadeSrnModel",
    "EntityPrediction",
    "IterConfig",
    "IterModel",
    "JointIEConfig",
    "JointIEOutput",
    "JointIEPipeline",
    "JointIEPreTrainedModel",
    "JointIEPrediction",
    "NagNerConfig",
    "NagNerModel",
    "RelationPrediction",
    "StsnConfig",
    "StsnModel",
    "compute_joint_ie_metrics",
    "encode_labels",
    "encode_words",
    "label_sets",
    "load_jointie_dataset",
    "normalize_example",
]
