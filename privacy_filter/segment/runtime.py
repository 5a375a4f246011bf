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

from ..errors import ModelError, native_stderr_silenced

LITERT = "LiteRT"
OPENCV = "cv2.dnn"
RUNTIME_ENV = "PRIVACY_FILTER_RUNTIME"

# Threads each LiteRT interpreter may use (read when a model is opened). ONE, chosen by measurement on 2 cores
# (benchmarks/RESULTS.md, "Threads"): the model already runs on its own worker thread (concurrent.Lookahead)
# while the main thread composites the previous frame and the reader thread decodes the next, so our own
# threads fill both cores; a second XNNPACK thread competes with them. Alone it would halve the inference
# (AVX2: ~3 vs ~5.5 ms, landscape model), but inside the pipeline it brings no FPS measurably, costs CPU
# (inference 2.65 vs 1.62 CPU-ms under load) and is slower whenever the other core is busy (2.98 vs 1.63 ms
# median), as it is under compositing, a video call, or the several models per frame of a people stage.
DEFAULT_THREADS = 1

# OpenCV's own threads (``cv2.setNumThreads``) while the pipeline runs its own three (``concurrent.Lookahead``
# with models on LiteRT): ONE, i.e. every OpenCV call works on the thread that makes it. The reader, the
# segmentation worker and the compositing thread already keep both cores busy, so OpenCV's pool worker finds
# no idle core to speed a call up with and mostly spins in its active wait between calls. Measured on the
# 2-core AVX2 box (AMD EPYC) with the whole default pipeline, runs taking turns (benchmarks/RESULTS.md, stop
# 19): the pool worker burnt ~0.9 CPU-ms a frame while the compositing thread's own CPU did not change without
# it (-5 % CPU-ms a frame at 640x480 and 1280x720, same FPS); at a paced 30 FPS camera, where it spins after
# every call, -20 % (32 -> 26 CPU-ms a frame at 1280x720, latency p95 not worse). Not applied when a model runs
# on cv2.dnn (the fallback runtime, Mask R-CNN): cv2.dnn's inference is itself spread over OpenCV's threads.
PIPELINE_OPENCV_THREADS = 1


def _litert_interpreter() -> type | None:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except Exception:  # ImportError, or a wheel that does not load on this platform
        return None
    return Interpreter


# What PRIVACY_FILTER_RUNTIME may say (any case); unset or empty: LiteRT if it imports, else cv2.dnn.
RUNTIME_VALUES = {"cv2": OPENCV, "opencv": OPENCV, "cv2.dnn": OPENCV, "litert": LITERT}


def runtime_env_problem() -> str | None:
    """Why PRIVACY_FILTER_RUNTIME cannot be followed (a value it does not know: a typo must not be ignored in
    silence), or None."""
    wanted = os.environ.get(RUNTIME_ENV, "").strip()
    if not wanted or wanted.lower() in RUNTIME_VALUES:
        return None
    return f"{RUNTIME_ENV}={wanted!r} is not a runtime; use cv2 (OpenCV's cv2.dnn) or litert, or unset it"


def available_runtime() -> str:
    """The runtime new models get: LiteRT when it imports (and is not switched off), else cv2.dnn."""
    wanted = os.environ.get(RUNTIME_ENV, "").strip().lower()
    if RUNTIME_VALUES.get(wanted) == OPENCV:
        return OPENCV
    return LITERT if _litert_interpreter() is not None else OPENCV


class TFLiteModel:
    """A ``.tflite`` model: run(x: 1xHxWxC float32 NHWC) -> {output name: float32 array (NHWC if 4-D)}.

    ``input_size`` is the model's (width, height); ``output_names`` the names ``run`` returns. Not for
    two threads at once (each thread gets its own TFLiteModel); ``run``'s arrays are the caller's to keep.
    """

    def __init__(self, path: Path | str, runtime: str | None = None, threads: int | None = None) -> None:
        self.path = Path(path)
        self.threads = max(1, int(DEFAULT_THREADS if threads is None else threads))
        self._lock = threading.Lock()
        if runtime is not None:
            self.runtime = runtime
            self._open(runtime)
            return
        # No runtime asked for: the best that loads this file. LiteRT first; a file (or a platform) where
        # LiteRT fails still runs on cv2.dnn, and the startup line names the runtime, so the user sees it.
        first = available_runtime()
        try:
            self.runtime = first
            self._open(first)
        except ModelError as first_error:
            if first == OPENCV:
                raise
            try:
                self.runtime = OPENCV
                self._open(OPENCV)
            except ModelError as second_error:
                raise ModelError(f"{first_error}; nor with {OPENCV}: {getattr(second_error, 'reason', second_error)}"
                                 ) from None

    def _open(self, runtime: str) -> None:
        """Open the file in ``runtime``; ModelError (one line) if it does not load."""
        try:
            if runtime == LITERT:
                self._open_litert(self.threads)
            elif runtime == OPENCV:
                self._open_opencv()
            else:
                raise ValueError(f"unknown runtime {runtime!r}")
        except Exception as exc:
            reason = str(exc) if isinstance(exc, ModelError) else _first_line(exc)
            error = ModelError(f"cannot load model {self.path} with {runtime}: {reason}")
            error.reason = reason  # type: ignore[attr-defined]
            raise error from None

    def describe(self) -> str:
        """The runtime in a few words, for the startup line and the ``f`` overlay: "LiteRT, 1 thread"."""
        if self.runtime == LITERT:
            return f"{LITERT}, {self.threads} thread{'s' if self.threads > 1 else ''}"
        import cv2

        return f"{OPENCV}, {cv2.getNumThreads()} threads"

    def _open_litert(self, threads: int) -> None:
        interpreter_class = _litert_interpreter()
        if interpreter_class is None:
            raise ModelError("the pip package ai-edge-litert is not installed")
        # allocate_tensors prints "INFO: Created TensorFlow Lite XNNPACK delegate" on descriptor 2: not ours.
        with native_stderr_silenced():
            self._interpreter = interpreter_class(model_path=str(self.path), num_threads=threads)
            self._interpreter.allocate_tensors()
        (inp,) = self._interpreter.get_input_details()
        self._input_index = inp["index"]
        # The dtype the file declares: float32 for the MediaPipe models, int32 for MoveNet MultiPose (RGB 0-255).
        self._input_dtype = np.dtype(inp["dtype"])
        _, height, width, _ = (int(v) for v in inp["shape"])
        self.input_size = (width, height)
        self._outputs = [(d["name"], d["index"]) for d in self._interpreter.get_output_details()]
        self.output_names = tuple(name for name, _ in self._outputs)

    def _open_opencv(self) -> None:
        import cv2

        # ENGINE_CLASSIC: the new engine returns only the last operator's output of a multi-output model.
        with native_stderr_silenced():
            self._net = cv2.dnn.readNetFromTFLite(str(self.path), engine=cv2.dnn.ENGINE_CLASSIC)
        names = tuple(self._net.getUnconnectedOutLayersNames())
        shape, ordered = _flatbuffer_io(self.path.read_bytes())
        self.input_size = (shape[2], shape[1])
        # The model's own output order (LiteRT's), so that both runtimes list the same names alike.
        self.output_names = tuple(ordered) if sorted(ordered) == sorted(names) else names

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """x: 1xHxWxC NHWC, (W, H) = input_size -> {output name: array}, LiteRT's layout.

        x is cast to the input dtype the file declares (float32, or int32 for MoveNet: pass whole numbers then,
        the cast truncates); cv2.dnn always takes float32."""
        with self._lock:
            if self.runtime == LITERT:
                x = np.ascontiguousarray(x, dtype=self._input_dtype)
                self._interpreter.set_tensor(self._input_index, x)
                self._interpreter.invoke()
                return {name: self._interpreter.get_tensor(index) for name, index in self._outputs}
            x = np.asarray(x, dtype=np.float32)
            self._net.setInput(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
            outputs = self._net.forward(list(self.output_names))
        return {
            name: (np.ascontiguousarray(out.transpose(0, 2, 3, 1)) if out.ndim == 4 else out)
            for name, out in zip(self.output_names, outputs, strict=True)
        }


def _flatbuffer_io(buffer: bytes) -> tuple[list[int], list[str]]:
    """(shape of subgraph 0's first input, names of its outputs in order), read from the TFLite flatbuffer:
    cv2.dnn reports no input shape before a forward pass, and lists its outputs in its own order.

    Just enough of the flatbuffer format (tables, vtables, vectors, strings) to follow
    Model.subgraphs[0].inputs[0] -> tensors[i].shape and .outputs[k] -> tensors[j].name, so the cv2.dnn
    fallback needs no extra package."""

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

    def vector(pos: int | None) -> tuple[int, int]:
        if pos is None:  # field() found no such field: one the cv2.dnn fallback needs
            raise ValueError("a required field is missing from the model file")
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
    outputs_start, outputs = vector(field(subgraph, 2))
    tensor = table_at(tensors_start, i32(inputs_start))
    shape_start, rank = vector(field(tensor, 0))  # Tensor: shape, type, buffer, name
    names = []
    for k in range(outputs):
        name_start, length = vector(field(table_at(tensors_start, i32(outputs_start + 4 * k)), 3))
        names.append(buffer[name_start : name_start + length].decode("utf-8", "replace"))
    return [i32(shape_start + 4 * k) for k in range(rank)], names


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__
