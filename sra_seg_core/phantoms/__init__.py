"""Phantom generator: realistic stand-ins for the data sets the product works on, made without downloading anything.

- :mod:`~sra_seg_core.phantoms.cardiac`: short-axis cine MRI stacks with RV / Myo / LV labels (ACDC layout).
- :mod:`~sra_seg_core.phantoms.fundus`: colour fundus photographs with vessel masks (FIVES layout).

Each comes in a ``"real"`` and a ``"synthetic"`` rendering of the same anatomy, so the real/synthetic domain gap can be
studied with known labels.
"""

from sra_seg_core.phantoms.cardiac import acdc_info, cardiac_case, write_acdc
from sra_seg_core.phantoms.fundus import fundus_case, write_fives
from sra_seg_core.phantoms.rendering import STYLES

__all__ = ["STYLES", "acdc_info", "cardiac_case", "fundus_case", "write_acdc", "write_fives"]
