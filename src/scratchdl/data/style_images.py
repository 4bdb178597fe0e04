"""Style and content images for neural style transfer.

`starry-night`: Van Gogh's The Starry Night (1889, public domain), the JPEG that Debian's
`opencv-doc` ships as an OpenCV sample. `scratchdl data fetch starry-night` takes the system
copy if the package is installed, else `apt-get download opencv-doc` and extracts that one
file (`dpkg-deb --fsys-tarfile | tar`, no root needed) into the cache, pinned by SHA-256.
Content images come from scikit-image (bundled): astronaut, chelsea, coffee.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from scratchdl.data.cache import atomic_write_bytes, data_home, sha256_bytes, sha256_file
from scratchdl.data.registry import DatasetSpec, ImageArrays, register_dataset
from scratchdl.errors import UserError

DEB_PATH = "usr/share/doc/opencv-doc/examples/data/starry_night.jpg"
STARRY_SHA256 = "accda7a19a90f22a4a922fdc8c230167d7abf5f80882171e2cee125c5f12481d"
CONTENT_IMAGES = ("astronaut", "chelsea", "coffee")


class StyleImage(DatasetSpec):
    """One image file out of a Debian package, hash-pinned and cached."""

    def __init__(self, name: str, description: str, package: str, path: str, sha256: str):
        self.name, self.description = name, description
        self.package, self.path, self.sha256 = package, path, sha256

    @property
    def cache_file(self) -> Path:
        return data_home() / "style" / Path(self.path).name

    @property
    def system_file(self) -> Path:
        return Path(os.environ.get("SCRATCHDL_DEBIAN_ROOT", "/")) / self.path

    @property
    def sources(self) -> list[str]:
        return [f"cache {self.cache_file}", f"system /{self.path}",
                f"Debian package {self.package} (apt-get download, one file extracted)"]

    def is_present(self) -> bool:
        return self.cache_file.is_file()

    def size_bytes(self) -> int | None:
        return self.cache_file.stat().st_size if self.is_present() else None

    def _verified(self, data: bytes, where: str) -> bytes:
        digest = sha256_bytes(data)
        if digest != self.sha256:
            raise UserError(f"{where} has SHA-256 {digest[:16]}..., expected "
                            f"{self.sha256[:16]}...: delete it and run "
                            f"`scratchdl data fetch {self.name}`")
        return data

    def fetch(self) -> str:
        if self.is_present() and sha256_file(self.cache_file) == self.sha256:
            return f"{self.name}: present at {self.cache_file} (SHA-256 verified)"
        if self.system_file.is_file():
            data = self._verified(self.system_file.read_bytes(), str(self.system_file))
        else:
            data = self._verified(self._from_deb(), f"{self.package}'s {Path(self.path).name}")
        atomic_write_bytes(self.cache_file, data)
        return f"{self.name}: cached at {self.cache_file} (SHA-256 verified)"

    def _from_deb(self) -> bytes:
        how = f"install it (`apt-get install {self.package}`) and run `scratchdl data fetch " \
              f"{self.name}` again"
        if os.environ.get("SCRATCHDL_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
            raise UserError(f"{self.name}: downloads are disabled (SCRATCHDL_OFFLINE); {how}")
        if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
            raise UserError(f"{self.name} comes from Debian package {self.package}: {how}")
        with tempfile.TemporaryDirectory() as tmp:
            try:
                subprocess.run(["apt-get", "download", self.package], cwd=tmp, check=True,
                               capture_output=True, timeout=900)
                deb = next(Path(tmp).glob(f"{self.package}_*.deb"))
                tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True,
                                     capture_output=True, timeout=900).stdout
                subprocess.run(["tar", "-x", f"./{self.path}"], cwd=tmp, input=tar,
                               check=True, capture_output=True, timeout=900)
                return (Path(tmp) / self.path).read_bytes()
            except (OSError, StopIteration, subprocess.SubprocessError) as e:
                raise UserError(f"could not get {self.package} ({type(e).__name__}); "
                                f"{how}") from None

    def image(self) -> np.ndarray:
        """uint8 [H, W, 3], verified; UserError saying how to fetch it if absent."""
        from PIL import Image

        if not self.is_present():
            raise UserError(f"style image {self.name} is not cached: run "
                            f"`scratchdl data fetch {self.name}`")
        self._verified(self.cache_file.read_bytes(), str(self.cache_file))
        with Image.open(self.cache_file) as im:
            return np.asarray(im.convert("RGB"))

    def load_arrays(self) -> ImageArrays:
        raise UserError(f"{self.name} is a single style image, not a classification set: use "
                        "it with `scratchdl run style-transfer`")


def content_image(name: str) -> np.ndarray:
    """A bundled skimage photo as uint8 [H, W, 3]."""
    if name not in CONTENT_IMAGES:
        raise UserError(f"content image: expected one of {', '.join(CONTENT_IMAGES)} or a "
                        f"path to a PNG/JPEG file, got {name!r}")
    import skimage.data

    return getattr(skimage.data, name)()


STARRY_NIGHT = register_dataset(StyleImage(
    "starry-night", "Van Gogh, The Starry Night (752x600 JPEG, style image)", "opencv-doc",
    DEB_PATH, STARRY_SHA256,
))
