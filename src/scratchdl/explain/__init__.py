"""Looking inside trained image models: saliency, Grad-CAM, class visualization, adversarial
examples and feature views, each on any `nn.Module` that maps images to class scores.

Everything here works on tensors and modules only (no runs, no files): `workbench/explain.py`
loads trained runs and draws the figures, `tasks/classify.py` trains against PGD with
`attacks.pgd`. Each piece is proven equal to its captum twin in tests/test_explain_*.py.
"""

from scratchdl.explain.attacks import fgsm, pgd
from scratchdl.explain.classviz import class_visualization
from scratchdl.explain.features import embed_2d, feature_maps, first_layer_filters, penultimate
from scratchdl.explain.gradcam import find_layer, grad_cam, layer_names
from scratchdl.explain.pixels import PixelModel
from scratchdl.explain.saliency import integrated_gradients, smoothgrad, vanilla_gradient

__all__ = [
    "PixelModel",
    "class_visualization",
    "embed_2d",
    "feature_maps",
    "find_layer",
    "first_layer_filters",
    "fgsm",
    "grad_cam",
    "integrated_gradients",
    "layer_names",
    "penultimate",
    "pgd",
    "smoothgrad",
    "vanilla_gradient",
]
