"""The model runtime: one object per ``.tflite`` file, one verb.

::

    model = TFLiteModel(path)                   # LiteRT if ``ai_edge_litert`` imports, else OpenCV's cv2.dnn
    outputs = model.run(x)                      # x: 1xHxWxC float32 (NHWC) -> {output name: array}
    model.runtime                               # "LiteRT" or "cv2.dnn", for the startup line and the overlay

Both backends read the same file and return the same names and layouts (LiteRT's: NHWC for 4-D tensors), so
the code that decodes a model's output does not know which one ran. LiteRT (Google's own TFLite runtime with
XNNPACK) is about 3.5x faster than cv2.dnn on a 2-core AVX2 CPU and loads files cv2.dnn cannot (sparse
weights, DENSIFY); cv2.dnn is the fallback for a platform without an ``ai-edge-litert`` wheel.
``PRIVACY_FILTER_RUNTIME=cv2`` forces the fallback (to compare them, or to work around a LiteRT problem).

Mask R-CNN is not a ``.tflite`` file and stays on cv2.dnn (``mask_rcnn``).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from .errors import ModelError, native_stderr_silenced

LITERT = "LiteRT"
OPENCV = "cv2.dnn"
RUNTIME_ENV = "PRIVACY_FILTER_RUNTIME"

# Threads each model's interpreter may use. Two cores: see DEFAULT_THREADS' note in benchmarks/RESULTS.md.
DEFAULT_THREADS = 2


def _litert_interpreter() -> type | None:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except Exception:  # ImportError, or a wheel that does not load on this platform
        return None
    return Interpreter


def available_runtime() -> str:
    """The runtime new models get: LiteRT when it imports (and is not switched off), else cv2.dnn."""
    wanted = os.environ.get(RUNTIME_ENV, "").strip().lower()
    if wanted in ("cv2", "opencv", "cv2.dnn"):
        return OPENCV
    return LITERT if _litert_interpreter() is not None else OPENCV


class TFLiteModel:
    """A ``.tflite`` model: run(x: 1xHxWxC float32 NHWC) -> {output name: float32 array (NHWC if 4-D)}.

    ``input_size`` is the model's (width, height); ``output_names`` the names ``run`` returns. Not for
    two threads at once (each thread gets its own TFLiteModel); ``run``'s arrays are the caller's to keep.
    """

    def __init__(self, path: Path | str, runtime: str | None = None, threads: int = DEFAULT_THREADS) -> None:
        self.path = Path(path)
        self.runtime = runtime or available_runtime()
        self._lock = threading.Lock()
        try:
            if self.runtime == LITERT:
                self._open_litert(threads)
            elif self.runtime == OPENCV:
                self._open_opencv()
            else:
                raise ValueError(f"unknown runtime {self.runtime!r}")
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(f"cannot load model {self.path} with {self.runtime}: {_first_line(exc)}") from None

    def _open_litert(self, threads: int) -> None:
        interpreter_class = _litert_interpreter()
        if interpreter_class is None:
            raise ModelError("the LiteRT runtime (pip package ai-edge-litert) is not installed")
        # LiteRT prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." on fd 2: the user's stderr is
        # for our one-line messages (PRIVACY_FILTER_DEBUG=1 keeps it).
        with native_stderr_silenced():
            self._interpreter = interpreter_class(model_path=str(self.path), num_threads=max(1, threads))
            self._interpreter.allocate_tensors()
        (inp,) = self._interpreter.get_input_details()
        self._input_index = inp["index"]
        _, height, width, _ = (int(v) for v in inp["shape"])
        self.input_size = (width, height)
        self._outputs = [(d["name"], d["index"]) for d in self._interpreter.get_output_details()]
        self.output_names = tuple(name for name, _ in self._outputs)

    def _open_opencv(self) -> None:
        import cv2

        # ENGINE_CLASSIC: the new engine returns only the last operator's output of a multi-output model.
        self._net = cv2.dnn.readNetFromTFLite(str(self.path), engine=cv2.dnn.ENGINE_CLASSIC)
        self.output_names = tuple(self._net.getUnconnectedOutLayersNames())
        self.input_size = _tflite_input_size(self.path)

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """x: 1xHxWxC float32, NHWC, (W, H) = input_size -> {output name: array}, LiteRT's layout."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        with self._lock:
            if self.runtime == LITERT:
                self._interpreter.set_tensor(self._input_index, x)
                self._interpreter.invoke()
                return {name: self._interpreter.get_tensor(index) for name, index in self._outputs}
            self._net.setInput(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
            outputs = self._net.forward(list(self.output_names))
        return {
            name: (np.ascontiguousarray(out.transpose(0, 2, 3, 1)) if out.ndim == 4 else out)
            for name, out in zip(self.output_names, outputs, strict=True)
        }


def _tflite_input_size(path: Path) -> tuple[int, int]:
    """(width, height) of a TFLite file's first input: cv2.dnn reports no input shape before a forward pass."""
    shape = _flatbuffer_input_shape(path.read_bytes())
    return shape[2], shape[1]


def _flatbuffer_input_shape(buffer: bytes) -> list[int]:
    """The shape of subgraph 0's first input tensor, read directly from the TFLite flatbuffer.

    Just enough of the flatbuffer format (tables, vtables, vectors) to follow Model.subgraphs[0].inputs[0]
    -> tensors[i].shape, so the cv2.dnn fallback needs no extra package."""

    def u32(pos: int) -> int:
        return int.from_bytes(buffer[pos : pos + 4], "little")

    def i32(pos: int) -> int:
        return int.from_bytes(buffer[pos : pos + 4], "little", signed=True)

    def field(table: int, index: int) -> int | None:
        vtable = table - i32(table)
        vtable_size = int.from_bytes(buffer[vtable : vtable + 2], "little")
        offset_pos = vtable + 4 + 2 * index
        if offset_pos >= vtable + vtable_size:
            return None
        offset = int.from_bytes(buffer[offset_pos : offset_pos + 2], "little")
        return table + offset if offset else None

    def vector(pos: int) -> tuple[int, int]:
        start = pos + u32(pos)
        return start + 4, u32(start)

    def table_at(vector_start: int, i: int) -> int:
        pos = vector_start + 4 * i
        return pos + u32(pos)

    model = u32(0)
    subgraphs_start, _ = vector(field(model, 2))  # Model: version, operator_codes, subgraphs
    subgraph = table_at(subgraphs_start, 0)
    tensors_start, _ = vector(field(subgraph, 0))  # SubGraph: tensors, inputs, outputs
    inputs_start, _ = vector(field(subgraph, 1))
    tensor = table_at(tensors_start, i32(inputs_start))
    shape_start, rank = vector(field(tensor, 0))  # Tensor: shape
    return [i32(shape_start + 4 * k) for k in range(rank)]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__
