"""Where model files live and how they are checked before loading."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..errors import ModelError

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # privacy_filter/
PROJECT_DIR = PACKAGE_DIR.parent
# Installed (`pip install .`): the models are package data in privacy_filter/bundled_models. In the repository: models/.
_INSTALLED_MODELS_DIR = PACKAGE_DIR / "bundled_models"
BUNDLED_MODELS_DIR = _INSTALLED_MODELS_DIR if _INSTALLED_MODELS_DIR.is_dir() else PROJECT_DIR / "models"

# SHA-256 of the bundled MediaPipe selfie-segmentation models (see models/NOTICE).
SELFIE_MODELS: dict[str, tuple[str, tuple[int, int]]] = {
    # name: (sha256, (input width, input height))
    "selfie_segmentation_landscape.tflite": (
        "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd",
        (256, 144),
    ),
    "selfie_segmentation.tflite": (
        "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
        (256, 256),
    ),
}


# SHA-256 of the bundled people models (see models/NOTICE): name -> sha256.
PEOPLE_MODELS: dict[str, str] = {
    "face_detection_short_range.tflite": "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
    "face_detection_full_range_dense.tflite": "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3",
    "pose_detection.tflite": "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
    "pose_landmark_lite.tflite": "f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61",
    "pose_landmark_full.tflite": "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
    "movenet_multipose_lightning_256.tflite": "1ea86a1688fd1037d1124f0c609429559f35712ab38826cf5dbf01ac36b23fcb",
}


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verified_path(path: Path, expected_sha256: str, what: str) -> Path:
    """Return ``path`` if it exists and has the expected SHA-256, else raise ModelError."""
    if not path.is_file():
        raise ModelError(f"{what} not found at {path}")
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise ModelError(
            f"{what} at {path} is corrupt or not the expected file "
            f"(sha256 {actual[:12]}…, expected {expected_sha256[:12]}…); restore it from the repository"
        )
    return path
