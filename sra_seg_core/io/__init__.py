"""Reading and writing images and label maps in the formats clinics and datasets use.

=====================  ===============================  =========================================================
format                 names                            through
=====================  ===============================  =========================================================
NIfTI-1 / NIfTI-2      ``.nii``, ``.nii.gz``            nibabel (:mod:`.nifti`)
NRRD, MetaImage        ``.nrrd .nhdr .mha .mhd``        SimpleITK (:mod:`.itk`)
DICOM                  a series folder, or ``.dcm``     SimpleITK / GDCM (:mod:`.dicom`)
pictures (2-D)         ``.png .jpg .jpeg .tif .tiff``   SimpleITK; output rules in :mod:`.raster`
=====================  ===============================  =========================================================

Everything comes back as :class:`~sra_seg_core.image.Image` — array ``(Z, Y, X)`` = ``[k, j, i]`` and the NIfTI RAS+
affine — so geometry survives any conversion. Problems with a file raise :class:`~sra_seg_core.errors.InputError`
naming it; writes are atomic.
"""

from sra_seg_core.io.formats import SUPPORTED_SUFFIXES, is_supported, list_images, strip_suffix
from sra_seg_core.io.grey import GREY_RULES
from sra_seg_core.io.info import ImageInfo
from sra_seg_core.io.labels import GEOMETRY_TOLERANCE_MM, read_label
from sra_seg_core.io.readwrite import MAX_PIXELS, read_image, read_info, write_image

__all__ = [
    "GEOMETRY_TOLERANCE_MM",
    "GREY_RULES",
    "MAX_PIXELS",
    "SUPPORTED_SUFFIXES",
    "ImageInfo",
    "is_supported",
    "list_images",
    "read_image",
    "read_info",
    "read_label",
    "strip_suffix",
    "write_image",
]
