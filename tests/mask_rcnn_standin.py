"""Stand-in weights for the seed's Mask R-CNN, so its exact graph runs end-to-end without the real model.

The real ``frozen_inference_graph.pb`` (TF model zoo, ~65 MB) cannot be had on the build machines. OpenCV's
``cv2.dnn.readNetFromTensorflow(pb, pbtxt)`` takes the *topology* from the text graph and looks up every
weight by name among the ``Const`` nodes of the binary graph. So a binary GraphDef that holds only ``Const``
nodes -- one per tensor the text graph reads but does not define -- with the real names, shapes and dtypes
is enough for the real ``.pbtxt`` to load and run, and to produce outputs of the real shapes
(``detection_out_final`` 1x1xNx7, ``detection_masks`` Nx90x15x15).

Shapes come from the graph itself: input channels are propagated node by node from the 3-channel image,
output depths are the Inception-v2 / Faster R-CNN head depths of the real model (``_DEPTHS``), kernel sizes
come from the layer names (``Conv2d_1a_7x7``). The structural constants (concat axes, crop sizes, the
preprocessing scale, reshape shapes...) carry the real model's values. The weights are random (He-scaled,
seeded) with batch norm set to identity, so activations stay in a sane range; optionally the second-stage
class bias favours "person" so that the net reports people and the mask path is exercised.

The GraphDef protobuf is encoded by hand (varints and length-delimited fields), no TensorFlow or protobuf.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

PBTXT_NAME = "mask_rcnn_inception_v2_coco_2018_01_28.pbtxt"

# Output depth of every weight-bearing layer of the real model, keyed by its scope after "InceptionV2/"
# (feature extractor, slim inception_v2 with depth_multiplier 1) or by its full scope (box predictors).
_DEPTHS: dict[str, int] = {
    "Conv2d_1a_7x7": 64,  # separable: depthwise x8 then pointwise to 64
    "Conv2d_2b_1x1": 64,
    "Conv2d_2c_3x3": 192,
    # Mixed_3b: 64 + 64 + 96 + 32 = 256
    "Mixed_3b/Branch_0/Conv2d_0a_1x1": 64,
    "Mixed_3b/Branch_1/Conv2d_0a_1x1": 64,
    "Mixed_3b/Branch_1/Conv2d_0b_3x3": 64,
    "Mixed_3b/Branch_2/Conv2d_0a_1x1": 64,
    "Mixed_3b/Branch_2/Conv2d_0b_3x3": 96,
    "Mixed_3b/Branch_2/Conv2d_0c_3x3": 96,
    "Mixed_3b/Branch_3/Conv2d_0b_1x1": 32,
    # Mixed_3c: 64 + 96 + 96 + 64 = 320
    "Mixed_3c/Branch_0/Conv2d_0a_1x1": 64,
    "Mixed_3c/Branch_1/Conv2d_0a_1x1": 64,
    "Mixed_3c/Branch_1/Conv2d_0b_3x3": 96,
    "Mixed_3c/Branch_2/Conv2d_0a_1x1": 64,
    "Mixed_3c/Branch_2/Conv2d_0b_3x3": 96,
    "Mixed_3c/Branch_2/Conv2d_0c_3x3": 96,
    "Mixed_3c/Branch_3/Conv2d_0b_1x1": 64,
    # Mixed_4a: 160 + 96 + 320 (max pool) = 576
    "Mixed_4a/Branch_0/Conv2d_0a_1x1": 128,
    "Mixed_4a/Branch_0/Conv2d_1a_3x3": 160,
    "Mixed_4a/Branch_1/Conv2d_0a_1x1": 64,
    "Mixed_4a/Branch_1/Conv2d_0b_3x3": 96,
    "Mixed_4a/Branch_1/Conv2d_1a_3x3": 96,
    # Mixed_4b: 224 + 96 + 128 + 128 = 576
    "Mixed_4b/Branch_0/Conv2d_0a_1x1": 224,
    "Mixed_4b/Branch_1/Conv2d_0a_1x1": 64,
    "Mixed_4b/Branch_1/Conv2d_0b_3x3": 96,
    "Mixed_4b/Branch_2/Conv2d_0a_1x1": 96,
    "Mixed_4b/Branch_2/Conv2d_0b_3x3": 128,
    "Mixed_4b/Branch_2/Conv2d_0c_3x3": 128,
    "Mixed_4b/Branch_3/Conv2d_0b_1x1": 128,
    # Mixed_4c: 192 + 128 + 128 + 128 = 576
    "Mixed_4c/Branch_0/Conv2d_0a_1x1": 192,
    "Mixed_4c/Branch_1/Conv2d_0a_1x1": 96,
    "Mixed_4c/Branch_1/Conv2d_0b_3x3": 128,
    "Mixed_4c/Branch_2/Conv2d_0a_1x1": 96,
    "Mixed_4c/Branch_2/Conv2d_0b_3x3": 128,
    "Mixed_4c/Branch_2/Conv2d_0c_3x3": 128,
    "Mixed_4c/Branch_3/Conv2d_0b_1x1": 128,
    # Mixed_4d: 160 + 160 + 160 + 96 = 576
    "Mixed_4d/Branch_0/Conv2d_0a_1x1": 160,
    "Mixed_4d/Branch_1/Conv2d_0a_1x1": 128,
    "Mixed_4d/Branch_1/Conv2d_0b_3x3": 160,
    "Mixed_4d/Branch_2/Conv2d_0a_1x1": 128,
    "Mixed_4d/Branch_2/Conv2d_0b_3x3": 160,
    "Mixed_4d/Branch_2/Conv2d_0c_3x3": 160,
    "Mixed_4d/Branch_3/Conv2d_0b_1x1": 96,
    # Mixed_4e: 96 + 192 + 192 + 96 = 576
    "Mixed_4e/Branch_0/Conv2d_0a_1x1": 96,
    "Mixed_4e/Branch_1/Conv2d_0a_1x1": 128,
    "Mixed_4e/Branch_1/Conv2d_0b_3x3": 192,
    "Mixed_4e/Branch_2/Conv2d_0a_1x1": 160,
    "Mixed_4e/Branch_2/Conv2d_0b_3x3": 192,
    "Mixed_4e/Branch_2/Conv2d_0c_3x3": 192,
    "Mixed_4e/Branch_3/Conv2d_0b_1x1": 96,
    # Mixed_5a (second stage): 192 + 256 + 576 (max pool) = 1024
    "Mixed_5a/Branch_0/Conv2d_0a_1x1": 128,
    "Mixed_5a/Branch_0/Conv2d_1a_3x3": 192,
    "Mixed_5a/Branch_1/Conv2d_0a_1x1": 192,
    "Mixed_5a/Branch_1/Conv2d_0b_3x3": 256,
    "Mixed_5a/Branch_1/Conv2d_1a_3x3": 256,
    # Mixed_5b: 352 + 320 + 224 + 128 = 1024
    "Mixed_5b/Branch_0/Conv2d_0a_1x1": 352,
    "Mixed_5b/Branch_1/Conv2d_0a_1x1": 192,
    "Mixed_5b/Branch_1/Conv2d_0b_3x3": 320,
    "Mixed_5b/Branch_2/Conv2d_0a_1x1": 160,
    "Mixed_5b/Branch_2/Conv2d_0b_3x3": 224,
    "Mixed_5b/Branch_2/Conv2d_0c_3x3": 224,
    "Mixed_5b/Branch_3/Conv2d_0b_1x1": 128,
    # Mixed_5c: 352 + 320 + 224 + 128 = 1024
    "Mixed_5c/Branch_0/Conv2d_0a_1x1": 352,
    "Mixed_5c/Branch_1/Conv2d_0a_1x1": 192,
    "Mixed_5c/Branch_1/Conv2d_0b_3x3": 320,
    "Mixed_5c/Branch_2/Conv2d_0a_1x1": 192,
    "Mixed_5c/Branch_2/Conv2d_0b_3x3": 224,
    "Mixed_5c/Branch_2/Conv2d_0c_3x3": 224,
    "Mixed_5c/Branch_3/Conv2d_0b_1x1": 128,
    # Heads. RPN: 3x3 conv to 512, 12 anchors (4 scales x 3 ratios) -> 12*2 scores, 12*4 box codes.
    "Conv": 512,
    "FirstStageBoxPredictor/ClassPredictor": 24,
    "FirstStageBoxPredictor/BoxEncodingPredictor": 48,
    # Second stage: 90 classes + background; one box per class.
    "SecondStageBoxPredictor/ClassPredictor": 91,
    "SecondStageBoxPredictor/BoxEncodingPredictor": 360,
    # Mask head: 3x3 conv to 256 (2**int((log2(1024) + log2(90)) / 2)), then 3x3 conv to 90 class masks.
    "SecondStageBoxPredictor/Conv": 256,
    "SecondStageBoxPredictor/Conv_1": 90,
}
_KERNELS = {"Conv": 3, "SecondStageBoxPredictor/Conv": 3, "SecondStageBoxPredictor/Conv_1": 3}
_DEPTHWISE_MULTIPLIER = 8  # Conv2d_1a_7x7: min(depth(64) // 3, 8)

# Structural constants of the real frozen graph (values that shape the computation, not learned).
_INT_CONSTS: dict[str, list[int] | int] = {
    "CropAndResize/crop_size": [14, 14],
    "CropAndResize_1/crop_size": [14, 14],
    "SecondStageBoxPredictor/AvgPool/reduction_indices": [1, 2],
    "SecondStageBoxPredictor/Reshape_1/shape": [-1, 1, 91],
    "SecondStageBoxPredictor_1/ResizeBilinear/size": [15, 15],
    "SecondStageBoxPredictor_1/transpose/perm": [0, 3, 1, 2],
}
_FLOAT_CONSTS: dict[str, float] = {
    "Preprocessor/mul/x": 2.0 / 255.0,  # the model maps uint8 [0, 255] to [-1, 1]
    "Preprocessor/sub/y": 1.0,
}
PERSON_LOGIT_INDEX = 1  # second-stage classifier logits: 0 = background, 1 = person (COCO id 1)

DT_FLOAT, DT_INT32 = 1, 3


# ---------------------------------------------------------------- text graph (only what we need of it)

def parse_text_graph(text: str) -> list[dict]:
    """Nodes of a TF text GraphDef as dicts: name, op, inputs (list of names, ``^`` = control input)."""
    nodes = []
    for block in re.split(r"^node \{\n", text, flags=re.MULTILINE)[1:]:
        name = re.search(r'^  name: "([^"]+)"', block, re.MULTILINE)
        op = re.search(r'^  op: "([^"]+)"', block, re.MULTILINE)
        if name is None or op is None:
            raise ValueError("malformed node in text graph")
        inputs = re.findall(r'^  input: "([^"]+)"', block, re.MULTILINE)
        nodes.append({"name": name.group(1), "op": op.group(1), "inputs": inputs})
    return nodes


def _scope(weight_name: str) -> str:
    """'.../InceptionV2/Mixed_3b/Branch_1/Conv2d_0b_3x3/weights' -> 'Mixed_3b/Branch_1/Conv2d_0b_3x3'."""
    scope = weight_name.rsplit("/", 1)[0]
    return scope.split("InceptionV2/")[-1]


def _kernel(scope: str) -> int:
    if scope in _KERNELS:
        return _KERNELS[scope]
    match = re.search(r"_(\d+)x(\d+)$", scope)
    if match:
        kh, kw = int(match.group(1)), int(match.group(2))
        if kh != kw:
            raise ValueError(f"non-square kernel in {scope}")
        return kh
    return 1  # predictors are 1x1 convolutions


def weight_shapes(nodes: list[dict]) -> dict[str, tuple[int, ...]]:
    """Shape of every learned tensor the graph reads, from channel propagation through the topology."""
    defined = {node["name"] for node in nodes}
    channels: dict[str, int] = {}
    shapes: dict[str, tuple[int, ...]] = {}

    def put(name: str, shape: tuple[int, ...]) -> None:
        if name in defined:
            raise ValueError(f"{name} is defined in the text graph, not a weight")
        if shapes.setdefault(name, shape) != shape:  # shared weights (mask branch) must agree
            raise ValueError(f"inconsistent shapes for {name}: {shapes[name]} vs {shape}")

    for node in nodes:
        op, name, inputs = node["op"], node["name"], [i.split(":")[0] for i in node["inputs"]]
        data = [i for i in inputs if not i.startswith("^")]
        c_in = channels.get(data[0]) if data else None
        if op == "Placeholder":
            channels[name] = 3
        elif op == "DepthwiseConv2dNative":
            k = _kernel(_scope(data[1]))
            put(data[1], (k, k, c_in, _DEPTHWISE_MULTIPLIER))
            channels[name] = c_in * _DEPTHWISE_MULTIPLIER
        elif op in ("Conv2D", "MatMul"):
            scope = _scope(data[1])
            if scope not in _DEPTHS:
                raise ValueError(f"no known depth for {scope}")
            if c_in is None:
                raise ValueError(f"unknown input channels for {name}")
            depth = _DEPTHS[scope]
            if op == "MatMul":
                put(data[1], (c_in, depth))
            else:
                k = _kernel(scope)
                put(data[1], (k, k, c_in, depth))
            channels[name] = depth
        elif op == "FusedBatchNorm":
            for param in data[1:5]:
                put(param, (c_in,))
            channels[name] = c_in
        elif op == "BiasAdd":
            put(data[1], (c_in,))
            channels[name] = c_in
        elif op == "ConcatV2":
            parts = [channels.get(i) for i in data if i not in _INT_CONSTS and not i.endswith("/axis")]
            if None in parts:
                raise ValueError(f"unknown input channels for {name}")
            channels[name] = sum(parts)
        elif op in ("Mul", "Sub", "Relu", "Relu6", "MaxPool", "AvgPool", "Mean", "Flatten",
                    "CropAndResize", "ResizeBilinear") and c_in is not None:
            channels[name] = c_in
    return shapes


def standin_consts(pbtxt: Path, seed: int = 0, person_logit: float | None = 6.0) -> dict[str, np.ndarray]:
    """name -> numpy array for every Const the text graph ``pbtxt`` reads but does not define."""
    nodes = parse_text_graph(Path(pbtxt).read_text())
    return _const_values(nodes, np.random.default_rng(seed), person_logit)


def _const_values(nodes: list[dict], rng: np.random.Generator, person_logit: float | None) -> dict:
    defined = {node["name"] for node in nodes}
    wanted = []
    for node in nodes:
        for raw in node["inputs"]:
            name = raw.split(":")[0]
            if not name.startswith("^") and name not in defined and name not in wanted:
                wanted.append(name)
    shapes = weight_shapes(nodes)
    values: dict[str, np.ndarray] = {}
    for name in wanted:
        if name in _FLOAT_CONSTS:
            values[name] = np.array(_FLOAT_CONSTS[name], np.float32)
        elif name in _INT_CONSTS:
            values[name] = np.array(_INT_CONSTS[name], np.int32)
        elif name.endswith("/axis"):
            values[name] = np.array(3, np.int32)  # concat along NHWC channels
        elif name in shapes:
            values[name] = _init(name, shapes[name], rng, person_logit)
        else:
            raise ValueError(f"no value known for {name}")
    return values


def _init(name: str, shape: tuple[int, ...], rng: np.random.Generator, person_logit: float | None):
    """Random but tame: He-scaled kernels, identity batch norm, small box regressions."""
    leaf = name.rsplit("/", 1)[-1]
    if leaf in ("gamma", "moving_variance"):
        return np.ones(shape, np.float32)
    if leaf in ("beta", "moving_mean"):
        return np.zeros(shape, np.float32)
    if leaf == "biases":
        bias = np.zeros(shape, np.float32)
        if name.startswith("SecondStageBoxPredictor/ClassPredictor") and person_logit is not None:
            bias[PERSON_LOGIT_INDEX] = person_logit
        return bias
    fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    if name.endswith("depthwise_weights"):
        fan_in = shape[0] * shape[1]
    scale = np.sqrt(2.0 / fan_in)
    if "BoxEncodingPredictor" in name:
        scale *= 0.05  # boxes stay close to their anchors / proposals instead of flying off
    elif name.startswith("SecondStageBoxPredictor/ClassPredictor"):
        scale *= 0.1  # features are mostly positive: at full scale one random class wins every box
    return (rng.standard_normal(shape, dtype=np.float32) * np.float32(scale)).astype(np.float32)


# ---------------------------------------------------------------- protobuf wire format by hand

def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 -> ten-byte two's complement, as protobuf does
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _field_varint(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _field_bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encode_tensor(array: np.ndarray) -> bytes:
    """TensorProto: dtype=1, tensor_shape=2 (TensorShapeProto.dim=2, Dim.size=1), tensor_content=4,
    float_val=5 / int_val=7 (packed) for scalars, the way TensorFlow itself writes them."""
    dtype = {np.dtype(np.float32): DT_FLOAT, np.dtype(np.int32): DT_INT32}[array.dtype]
    shape = b"".join(_field_bytes(2, _field_varint(1, size)) for size in array.shape)
    out = _field_varint(1, dtype) + _field_bytes(2, shape)
    if array.ndim == 0:
        if dtype == DT_FLOAT:
            out += _field_bytes(5, array.astype("<f4").tobytes())
        else:
            out += _field_bytes(7, _varint(int(array)))
    else:
        out += _field_bytes(4, array.astype(array.dtype.newbyteorder("<")).tobytes())
    return out


def encode_const_node(name: str, array: np.ndarray) -> bytes:
    """NodeDef: name=1, op=2, attr=5 (map entry key=1, value=2 AttrValue: type=6, tensor=8)."""
    dtype = DT_FLOAT if array.dtype == np.float32 else DT_INT32
    attr_dtype = _field_bytes(5, _field_bytes(1, b"dtype") + _field_bytes(2, _field_varint(6, dtype)))
    attr_value = _field_bytes(5, _field_bytes(1, b"value") + _field_bytes(2, _field_bytes(8, encode_tensor(array))))
    return _field_bytes(1, name.encode()) + _field_bytes(2, b"Const") + attr_dtype + attr_value


def encode_graph(consts: dict[str, np.ndarray]) -> bytes:
    """GraphDef: node=1 (repeated NodeDef)."""
    return b"".join(_field_bytes(1, encode_const_node(name, array)) for name, array in consts.items())


# ---------------------------------------------------------------- entry points

def write_standin_pb(pbtxt: Path, out: Path, seed: int = 0, person_logit: float | None = 6.0) -> Path:
    """Write a stand-in ``frozen_inference_graph.pb`` for the text graph ``pbtxt`` to ``out``.

    person_logit: bias added to the second-stage "person" logit so the random net reports people
        (None: all-zero biases, scores are then near 1/91 and the net reports nothing).
    """
    consts = standin_consts(pbtxt, seed, person_logit)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(encode_graph(consts))
    os.replace(tmp, out)
    return out


def shared_dir() -> Path:
    """The shared data folder: $PRIVACY_FILTER_SHARED or ../shared next to the repository."""
    env = os.environ.get("PRIVACY_FILTER_SHARED")
    return Path(env) if env else Path(__file__).resolve().parent.parent.parent / "shared"


def real_pbtxt() -> Path:
    """The real OpenCV text graph in ../shared/models/mask-rcnn-coco/."""
    return shared_dir() / "models" / "mask-rcnn-coco" / PBTXT_NAME


_CACHE: dict[tuple, Path] = {}


def cached_standin_dir(tmp_path_factory, person_logit: float | None = 6.0) -> Path:
    """A model folder (stand-in .pb + real .pbtxt + labels) made once per pytest session."""
    key = (person_logit,)
    if key not in _CACHE:
        import shutil

        folder = tmp_path_factory.mktemp("mask-rcnn-standin")
        source = real_pbtxt().parent
        shutil.copy(source / PBTXT_NAME, folder / PBTXT_NAME)
        shutil.copy(source / "object_detection_classes_coco.txt", folder / "object_detection_classes_coco.txt")
        write_standin_pb(folder / PBTXT_NAME, folder / "frozen_inference_graph.pb", person_logit=person_logit)
        _CACHE[key] = folder
    return _CACHE[key]
