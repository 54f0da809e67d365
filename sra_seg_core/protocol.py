"""The two training / evaluation protocols: ``reference`` (the authors' released protocol) and ``studio`` (ours).

``train.protocol`` picks one; every place that differs asks :func:`protocol_choices` instead of testing the name.

``reference`` reproduces UTSA-VIRLab/SRA-Seg (``ACDC_SA_BCP.py``, ``FIVES_SA_BCP.py``, ``dataloaders/dataset.py``,
``test_ACDC.py``, ``code/test_FIVES.py``; BCP's ``utils/val_2d.py``):

* slices go to the training size with an order-0 ``scipy.ndimage.zoom``, images and labels alike, in training,
  validation and test; predictions go back to native size the same way;
* augmentation runs per slice at native size *before* that zoom: with p = 0.5 ``np.rot90`` by k = 0..3 then
  ``np.flip`` on a random axis, else with p = 0.5 ``ndimage.rotate`` by a whole number of degrees in -20..19,
  order 0, same size;
* the ACDC box corner is drawn from 0..H-h inclusive (``torch.randint(0, H - h + 1)``; FIVES: 0..H-h-1);
* the labelled stream drops its last incomplete batch of each epoch (``TwoStreamBatchSampler`` + ``grouper``);
* the "SA" term, when on, is the released one (:func:`sra_seg_core.alignment.reference_sa_loss`): ImageNet
  ViT-B/16 classifier logits of the raw images, no gradient to the network;
* fp32 throughout (the released code has no autocast);
* a single-image case (FIVES) is scored with medpy on its (1, H, W) volume, as ``test_FIVES.py`` calls it.

It is the released protocol, not the released run bit for bit: the random draws are ours (derived from the seed, the
stage and the iteration, not Python's and NumPy's global generators), and the unlabelled stream continues its
own permutations where the released ``TwoStreamBatchSampler`` starts a fresh shuffle every labelled epoch (the same
distribution of batches).

``studio`` keeps the choices made before this protocol existed, for these reasons: bilinear resizing of images
(an order-0 zoom aliases thin structures such as vessels and drops whole rows on up-sampling), augmentation on the
device after resizing (one batched ``grid_sample`` instead of per-slice CPU work, continuous angles with bilinear
images), every labelled slice used every epoch, the DINOv2 alignment loss that trains the student, bf16 autocast on
CUDA (``train.amp``), and (1, H, W) images scored as 2-D (a 3-D surface makes every pixel of one slice a surface
pixel).
"""

from __future__ import annotations

from dataclasses import dataclass

PROTOCOLS = ("studio", "reference")


@dataclass(frozen=True)
class ProtocolChoices:
    """What a protocol decides. ``resize``: ``bilinear`` (studio) or ``zoom0`` (order-0 scipy zoom, both ways)."""

    name: str
    resize: str
    augment_native: bool        # augment each slice at its own size before resizing (CPU, per slice)
    integer_angles: bool        # rotation angle a whole number of degrees, nearest neighbour
    corner_inclusive: bool      # box corner from 0..H-h (True) or 0..H-h-1
    drop_last: bool             # the labelled stream drops its last incomplete batch of each epoch
    reference_sa: bool          # SA = the released gradient-free ViT-B/16 logit distance
    amp_allowed: bool           # bf16 autocast allowed at all
    flat_as_2d: bool            # score a (1, H, W) case as a 2-D image


def protocol_choices(name: str, *, corner_inclusive: bool | None = None) -> ProtocolChoices:
    """The choices of protocol ``name``. ``corner_inclusive`` None: the protocol's (reference: ACDC's inclusive
    range); the ``fives`` preset sets False, the released FIVES code's range."""
    if name not in PROTOCOLS:
        from sra_seg_core.errors import ConfigError

        raise ConfigError(f"train.protocol must be one of {', '.join(PROTOCOLS)}, not '{name}'")
    ref = name == "reference"
    return ProtocolChoices(
        name=name, resize="zoom0" if ref else "bilinear", augment_native=ref, integer_angles=ref,
        corner_inclusive=ref if corner_inclusive is None else bool(corner_inclusive), drop_last=ref,
        reference_sa=ref, amp_allowed=not ref, flat_as_2d=not ref,
    )


def config_choices(config) -> ProtocolChoices:
    """:func:`protocol_choices` for a :class:`~sra_seg_core.config.RunConfig` or its plain-dict form (a checkpoint's
    saved config; configs written before the protocol existed are ``studio``)."""
    if isinstance(config, dict):
        train, blend = config.get("train", {}), config.get("blend", {})
        return protocol_choices(train.get("protocol", "studio"), corner_inclusive=blend.get("corner_inclusive"))
    return protocol_choices(config.train.protocol, corner_inclusive=config.blend.corner_inclusive)
