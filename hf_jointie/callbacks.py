"""Trainer callbacks shared by the architectures.

[`FreezeBackboneCallback`] freezes the pretrained backbone for the first epochs of training, as BiSPN does (Sect. 4.2:
"we freeze the encoder in the first 5 epochs and unfreeze it in the remaining epochs", following Shen et al. 2022):
the freshly initialised heads first learn on fixed features, so their early, large gradients do not disturb the
pretrained weights.
"""

from __future__ import annotations

from transformers import PreTrainedModel, TrainerCallback, TrainerControl, TrainerState, TrainingArguments


class FreezeBackboneCallback(TrainerCallback):
    """Freeze the parameters of `model.backbone_modules` while `state.epoch < epochs`, then unfreeze them.

    `epochs` defaults to the model config's `freeze_backbone_epochs` (0 when the config has none: the callback then
    does nothing). Frozen parameters get no gradient, so the `Trainer`'s optimiser (built over every parameter) skips
    them, weight decay included; they rejoin training, with their learning-rate schedule, when unfrozen. The check
    runs before every optimisation step, so fractional epochs work.
    """

    def __init__(self, epochs: float | None = None):
        if epochs is not None and epochs < 0:
            raise ValueError(f"`epochs` must be non-negative, got {epochs}.")
        self.epochs = epochs
        self._frozen: bool | None = None

    def _epochs(self, model: PreTrainedModel) -> float:
        if self.epochs is not None:
            return self.epochs
        return float(getattr(model.config, "freeze_backbone_epochs", 0.0) or 0.0)

    @staticmethod
    def _backbone_parameters(model: PreTrainedModel):
        names = getattr(model, "backbone_modules", None)
        if not names:
            raise TypeError(f"{type(model).__name__} names no `backbone_modules` to freeze.")
        for name in names:
            yield from model.get_submodule(name).parameters()

    def set_frozen(self, model: PreTrainedModel, frozen: bool) -> None:
        """Freeze (or unfreeze) the backbone of `model`."""
        for parameter in self._backbone_parameters(model):
            parameter.requires_grad_(not frozen)
        self._frozen = frozen

    def on_step_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, model=None, **kwargs
    ) -> None:
        if model is None:
            return
        model = getattr(model, "module", model)  # unwrap DistributedDataParallel
        epochs = self._epochs(model)
        frozen = epochs > 0 and (state.epoch or 0.0) < epochs
        if frozen != self._frozen and (frozen or self._frozen is not None):
            self.set_frozen(model, frozen)

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, model=None, **kwargs
    ) -> None:
        if model is not None and self._frozen:
            self.set_frozen(getattr(model, "module", model), False)


__all__ = ["FreezeBackboneCallback"]
