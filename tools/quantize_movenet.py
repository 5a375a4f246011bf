"""Derive quantised variants of the bundled MoveNet MultiPose (issue 24, item 4) with ai-edge-quantizer.

Not part of the product: run it in a separate environment (``pip install ai-edge-quantizer==0.10.0``: it pulls
ai-edge-litert and litert-lm-builder, no TensorFlow)::

    python tools/quantize_movenet.py OUT_DIR [--calibration EVAL_ROOT] [--variants NAME ...]

Variants (recipe names of ai-edge-quantizer 0.10.0):
  dynamic_int8  ``dynamic_wi8_afp32``: int8 channelwise weights, activations quantised on the fly by the kernel;
  weight_int8   ``weight_only_wi8_afp32``: int8 weights dequantised to float at load, float compute;
  fp16          ``add_weight_only_config(num_bits=16, algorithm_key=FLOAT_CASTING)``: fp16 weights, float compute;
  static_int8   ``static_wi8_ai8``: int8 weights and activations, calibrated on the TUNE half of the eval sets
                under --calibration (the first half of the eg1800 portraits by name, COCO at even positions);
  static_int8_conv      the same on the convolutions only (the decoding tail stays float);
  static_int8_backbone  the same on the MobileNetV2-FPN backbone only (heads and decoding float): 0.6x fp32's time
                        and the same people found, but not equal separation on the check half (RESULTS.md).
fp16 is exact for this model (its weights were fp16 values already): output bit-identical to fp32.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "models" / "movenet_multipose_lightning_256.tflite"
SIDE = 256


def letterbox_int(frame: np.ndarray) -> np.ndarray:
    """Same as privacy_filter.people.multipose.letterbox_int (copied: this script runs outside the product)."""
    height, width = frame.shape[:2]
    scale = SIDE / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    tensor = np.zeros((1, SIDE, SIDE, 3), np.int32)
    tensor[0, : size[1], : size[0]] = small[..., ::-1]
    return tensor


def calibration_set(eval_root: Path) -> list[dict[str, np.ndarray]]:
    """The TUNE half of benchmarks.only_you's sets, never the check half: the first half of the eg1800 portraits
    (sorted by name) and the COCO person photos at even positions."""
    portraits = sorted((eval_root / "eg1800_portrait_test" / "images").glob("*.*"))
    coco = sorted((eval_root / "coco128seg_person" / "images").glob("*.jpg"))[0::2]
    images = portraits[: len(portraits) // 2] + coco
    return [{"input": letterbox_int(cv2.imread(str(p)))} for p in images]


def with_signature(model: bytes) -> bytes:
    """The converted file has no SignatureDef; ai-edge-quantizer's calibrator runs a model by signature, so add
    one ("serving_default": input -> output) around the single subgraph. Only the static variant needs it."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    tree = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    graph = tree.subgraphs[0]

    def tensor_map(index: int, name: str):
        entry = schema.TensorMapT()
        entry.name, entry.tensorIndex = name, index
        return entry

    signature = schema.SignatureDefT()
    signature.signatureKey = "serving_default"
    signature.subgraphIndex = 0
    signature.inputs = [tensor_map(graph.inputs[0], "input")]
    signature.outputs = [tensor_map(graph.outputs[0], "output")]
    tree.signatureDefs = [signature]
    builder = flatbuffers.Builder(len(model) + 1024)
    builder.Finish(tree.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def quantize(variant: str, out: Path, calibration: list | None) -> Path:
    from ai_edge_quantizer import algorithm_manager, qtyping, quantizer, recipe

    source = SOURCE.read_bytes()
    q = quantizer.Quantizer(with_signature(source) if variant.startswith("static") else source)
    if variant == "dynamic_int8":
        q.load_quantization_recipe(recipe.dynamic_wi8_afp32())
    elif variant == "weight_int8":
        q.load_quantization_recipe(recipe.weight_only_wi8_afp32())
    elif variant == "fp16":
        q.add_weight_only_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED, num_bits=16,
                                 algorithm_key=algorithm_manager.AlgorithmName.FLOAT_CASTING)
    elif variant == "static_int8":
        q.load_quantization_recipe(recipe.static_wi8_ai8())
    elif variant == "static_int8_conv":  # int8 convolutions only: the decoding tail (argmax, gathers) stays float
        for op in (qtyping.TFLOperationName.CONV_2D, qtyping.TFLOperationName.DEPTHWISE_CONV_2D):
            q.add_static_config(regex=".*", operation_name=op, activation_num_bits=8, weight_num_bits=8)
    elif variant == "static_int8_backbone":  # int8 MobileNetV2-FPN backbone; the heads and the decoding stay float
        for op in (qtyping.TFLOperationName.CONV_2D, qtyping.TFLOperationName.DEPTHWISE_CONV_2D,
                   qtyping.TFLOperationName.ADD, qtyping.TFLOperationName.RESIZE_BILINEAR):
            q.add_static_config(regex=".*feature_extractor.*", operation_name=op, activation_num_bits=8,
                                weight_num_bits=8)
    else:
        raise SystemExit(f"unknown variant {variant}")
    result = None
    if q.need_calibration:
        if not calibration:
            raise SystemExit("static_int8 needs --calibration images")
        result = q.calibrate({"serving_default": calibration})
    path = out / f"movenet_multipose_lightning_256_{variant}.tflite"
    q.quantize(result).export_model(str(path), overwrite=True)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--variants", nargs="+", default=["dynamic_int8", "weight_int8", "fp16", "static_int8"])
    parser.add_argument("--calibration", type=Path, default=None,
                        help="eval root (/work/shared/eval): static_int8 calibrates on its TUNE half")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    calibration = calibration_set(args.calibration) if args.calibration else None
    for variant in args.variants:
        path = quantize(variant, args.out, calibration)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        print(f"{path.name}  {path.stat().st_size} bytes  sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
