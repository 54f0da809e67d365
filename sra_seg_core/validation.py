"""Validation on the training device: every validation slice resized once and kept there, predicted in batches
that span volumes, the Dice counts computed there, one small copy to the host per validation.

The numbers are today's: the same resize (bilinear to the training size, as ``predict_probabilities``), the same
argmax of the softmax, the same nearest-neighbour return to each slice's own size, and Dice per volume and class with
:func:`~sra_seg_core.metrics.dice_score`'s convention (0 when the prediction is empty), averaged over volumes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F


class DeviceValidation:
    """volumes: objects with ``image`` (Z, Y, X) float32 in [0, 1] and ``label`` (Z, Y, X) uint8 (ValVolume)."""

    def __init__(self, volumes: Sequence, *, size: int, num_classes: int, device: torch.device):
        self.k, self.device, self.size = num_classes, device, size
        resized, self.labels, self.shapes = [], [], []
        for vol in volumes:
            x = torch.from_numpy(np.ascontiguousarray(vol.image, dtype=np.float32))[:, None].to(device)
            resized.append(F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False))
            self.labels.append(torch.from_numpy(np.ascontiguousarray(vol.label)).to(device))
            self.shapes.append(tuple(vol.image.shape[1:]))
        self.images = torch.cat(resized)                                   # (sum Z, 1, S, S)
        self.bounds = np.cumsum([0] + [len(r) for r in resized]).tolist()

    @torch.no_grad()
    def _classes(self, model: torch.nn.Module, batch_size: int, autocast: bool) -> torch.Tensor:
        out = []
        for start in range(0, len(self.images), batch_size):
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=autocast):
                logits = model(self.images[start:start + batch_size])[0]
            out.append(logits.float().softmax(dim=1).argmax(dim=1).to(torch.uint8))
        return torch.cat(out)                                              # (sum Z, S, S)

    @torch.no_grad()
    def dice(self, model: torch.nn.Module, *, batch_size: int = 16, autocast: bool = False) -> np.ndarray:
        """(K - 1,) mean Dice per foreground class over the volumes, float64."""
        was_training = model.training
        model.eval()
        try:
            hard = self._classes(model, batch_size, autocast)
        finally:
            model.train(was_training)
        k = self.k
        confusions = []
        for v, shape in enumerate(self.shapes):
            pred = hard[self.bounds[v]:self.bounds[v + 1]]
            native = F.interpolate(pred[:, None].float(), size=shape, mode="nearest-exact")[:, 0].long()
            pairs = native.flatten() * k + self.labels[v].flatten().long()
            confusions.append(torch.bincount(pairs, minlength=k * k).view(k, k))
        counts = torch.stack(confusions).cpu().numpy()                   # (V, pred, truth): the one host copy
        per_class = np.zeros(k - 1)
        for conf in counts:
            for c in range(1, k):
                n_pred, n_true, both = int(conf[c].sum()), int(conf[:, c].sum()), int(conf[c, c])
                per_class[c - 1] += 2.0 * both / (n_pred + n_true) if n_pred else 0.0
        return per_class / len(counts)
