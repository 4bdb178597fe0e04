"""Procedural data: seeded scene compositing for the detection and segmentation sets."""

from scratchdl.data.procedural.compositor import Compositor, Scene, render_set
from scratchdl.data.procedural.sprites import PHOTO_CUTOUTS, SPRITES

__all__ = ["PHOTO_CUTOUTS", "SPRITES", "Compositor", "Scene", "render_set"]
