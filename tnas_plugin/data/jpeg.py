"""Reading and writing the SEE frame files: 8-bit grey JPEGs, one per 33 ms frame."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import SEEDataError

JPEG_QUALITY = 95


def frame_name(index: int) -> str:
    """File name of frame ``index`` (``00000.jpg``, ...), as in the released SEE."""
    return f"{index:05d}.jpg"


def write_jpeg(image: np.ndarray, path: Path) -> None:
    """Write a (H, W) uint8 image as a grey JPEG (deterministic bytes for the same pixels)."""
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8), mode="L").save(path, quality=JPEG_QUALITY)


def read_frames(files: Sequence[Path], size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode ``files`` to a (T, H, W) uint8 array, resized to ``size`` = (H, W) if given.

    Colour frames are converted to grey (SEE's event frames carry equal R, G and B). Raises
    ``SEEDataError`` naming the file that is missing, unreadable or of a different size than the first.
    """
    frames, first = [], None
    for path in files:
        try:
            with Image.open(path) as img:
                img = img.convert("L")
                stored = (img.height, img.width)
                if size is not None and img.size != (size[1], size[0]):
                    img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
                frame = np.asarray(img)
        except FileNotFoundError:
            raise SEEDataError(path, "missing JPEG") from None
        except (UnidentifiedImageError, OSError, SyntaxError) as exc:
            raise SEEDataError(path, f"corrupt JPEG ({exc})") from None
        first = first or stored
        if stored != first:  # compared as stored: resizing must not hide a mixed-size sequence
            raise SEEDataError(path, f"frame size {stored} differs from the sequence's {first}")
        frames.append(frame)
    return np.stack(frames)
