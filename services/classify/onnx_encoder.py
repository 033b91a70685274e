"""all-MiniLM-L6-v2 on ONNX Runtime, weights quantised to int8: the same encoder as `encoder.MiniLMEncoder`, several
times faster on the CPU.

The graph is written here, node by node, from the packaged weights (the same arithmetic as the numpy forward pass:
embeddings, six post-LayerNorm layers, erf GELU, mean pooling), so neither torch nor an exported file is needed.
`quantised=True` (the default) stores the weights of every matrix product as int8 per output channel and quantises the
activations on the fly (ONNX Runtime's dynamic quantisation): 4x smaller matrices and integer arithmetic. The float
graph reproduces the numpy encoder to 1e-5; the int8 one keeps a cosine above 0.97 to it on every held-out text
(tests/classify/test_onnx_encoder.py). The graph is built and quantised in memory when the encoder is first used
(about three seconds); nothing is written outside a temporary folder and nothing is downloaded."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from services.classify.encoder import Floats, MiniLMEncoder, _Weights, normalize

if TYPE_CHECKING:
    import onnx


def onnx_available() -> bool:
    """True when ONNX Runtime and onnx (part of the `[semantic]` extra) can be imported."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class _Graph:
    """Collects initialisers and nodes; `op` appends one node and returns the name of its output."""

    def __init__(self) -> None:
        self.initializers: list[Any] = []  # onnx.TensorProto (onnx ships no type stubs)
        self.nodes: list[Any] = []

    def const(self, name: str, value: npt.ArrayLike) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, kind: str, *inputs: str, **attributes: Any) -> str:
        from onnx import helper

        out = f"{kind.lower()}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(kind, list(inputs), [out], **attributes))
        return out

    def linear(self, x: str, weight: Floats, bias: Floats, name: str) -> str:
        return self.op("Add", self.op("MatMul", x, self.const(f"{name}.w", weight)), self.const(f"{name}.b", bias))

    def layer_norm(self, x: str, params: tuple[Floats, Floats], name: str, eps: float) -> str:
        gamma, beta = self.const(f"{name}.g", params[0]), self.const(f"{name}.b", params[1])
        return self.op("LayerNormalization", x, gamma, beta, axis=-1, epsilon=eps)


def minilm_graph(weights: _Weights, heads: int, eps: float) -> onnx.ModelProto:
    """The BERT forward pass and mean pooling as an ONNX model: (input_ids int64 (n, t), attention_mask float32
    (n, t)) -> pooled float32 (n, dim), not yet normalised."""
    from onnx import TensorProto, checker, helper

    g = _Graph()
    dim = weights.word.shape[1]
    size = dim // heads
    one = g.const("one", np.array(1, np.int64))
    width = g.op("Gather", g.op("Shape", "input_ids"), one, axis=0)
    positions = g.op("Range", g.const("zero", np.array(0, np.int64)), width, one)
    x = g.op("Gather", g.const("word", weights.word), "input_ids")
    x = g.op("Add", x, g.op("Gather", g.const("position", weights.position), positions))
    x = g.op("Add", x, g.const("token_type", weights.token_type[0]))  # single sentences: token type 0
    x = g.layer_norm(x, weights.emb_ln, "emb", eps)
    # Padding keys get a large negative score (HF adds float32's minimum; -1e9 gives the same softmax).
    ignored = g.op("Sub", g.const("f1", np.array(1.0, np.float32)), "attention_mask")
    bias = g.op("Mul", ignored, g.const("masked", np.array(-1e9, np.float32)))
    bias = g.op("Unsqueeze", bias, g.const("heads_axes", np.array([1, 2], np.int64)))  # (n, 1, 1, t)
    split = g.const("split", np.array([0, 0, heads, size], np.int64))
    merge = g.const("merge", np.array([0, 0, dim], np.int64))
    scale = g.const("scale", np.array(1.0 / np.sqrt(size), np.float32))
    half, root2 = g.const("half", np.array(0.5, np.float32)), g.const("root2", np.array(np.sqrt(2.0), np.float32))
    for i, layer in enumerate(weights.layers):
        qkv_w, qkv_b = np.split(layer.qkv_w, 3, axis=1), np.split(layer.qkv_b, 3)
        heads_of = [
            g.op("Reshape", g.linear(x, np.ascontiguousarray(w), b, f"l{i}.{part}"), split)
            for part, w, b in zip("qkv", qkv_w, qkv_b, strict=True)
        ]
        q = g.op("Transpose", heads_of[0], perm=[0, 2, 1, 3])
        k = g.op("Transpose", heads_of[1], perm=[0, 2, 3, 1])
        v = g.op("Transpose", heads_of[2], perm=[0, 2, 1, 3])
        scores = g.op("Add", g.op("Mul", g.op("MatMul", q, k), scale), bias)
        context = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)
        context = g.op("Reshape", g.op("Transpose", context, perm=[0, 2, 1, 3]), merge)
        attended = g.op("Add", g.linear(context, layer.attn_out_w, layer.attn_out_b, f"l{i}.attn"), x)
        x = g.layer_norm(attended, layer.attn_ln, f"l{i}.attn_ln", eps)
        inner = g.linear(x, layer.inter_w, layer.inter_b, f"l{i}.inter")
        gelu = g.op("Mul", g.op("Mul", inner, g.op("Add", g.op("Erf", g.op("Div", inner, root2)), "f1")), half)
        x = g.layer_norm(
            g.op("Add", g.linear(gelu, layer.out_w, layer.out_b, f"l{i}.out"), x), layer.out_ln, f"l{i}.out_ln", eps
        )
    tokens = g.const("tokens_axis", np.array([1], np.int64))
    mask = g.op("Unsqueeze", "attention_mask", g.const("hidden_axis", np.array([2], np.int64)))
    summed = g.op("ReduceSum", g.op("Mul", x, mask), tokens, keepdims=0)
    counted = g.op(
        "Max", g.op("ReduceSum", "attention_mask", tokens, keepdims=1), g.const("tiny", np.array(1e-9, np.float32))
    )
    g.nodes.append(helper.make_node("Div", [summed, counted], ["pooled"]))
    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["n", "t"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.FLOAT, ["n", "t"]),
        ],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["n", dim])],
        g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    checker.check_model(model)
    return model


@contextmanager
def _quiet_root_warnings() -> Iterator[None]:
    """The quantiser logs an advice to the root logger on every call; it is not about our model."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def quantise(model: onnx.ModelProto) -> bytes:
    """The model with every matrix product's weights in int8, one scale per output channel."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="journeyline-onnx-") as folder, _quiet_root_warnings():
        out = Path(folder) / "model.int8.onnx"
        quantize_dynamic(
            model,
            out,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            extra_options={"MatMulConstBOnly": True},  # the weights, not the attention's products
        )
        return out.read_bytes()


class OnnxMiniLMEncoder(MiniLMEncoder):
    """The numpy encoder's tokenisation and batching, its forward pass run by ONNX Runtime (int8 unless told)."""

    def __init__(self, model_dir: Path | None = None, *, quantised: bool = True, threads: int = 0) -> None:
        super().__init__(model_dir)
        self.quantised = quantised
        self.threads = threads  # 0: ONNX Runtime's default, one per core
        self._session: Any = None  # onnxruntime.InferenceSession, built on first use (under the base class's lock)

    def _read(self, root: Path) -> tuple[_Weights, Any]:
        weights, tokenizer = super()._read(root)
        import onnxruntime as ort

        model = minilm_graph(weights, self._heads, self._eps)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        serialised = quantise(model) if self.quantised else model.SerializeToString()
        self._session = ort.InferenceSession(serialised, options, providers=["CPUExecutionProvider"])
        return _drop_layers(weights), tokenizer

    def _forward(self, w: _Weights, ids: npt.NDArray[np.int64], mask: Floats) -> Floats:
        pooled = self._session.run(["pooled"], {"input_ids": ids, "attention_mask": mask})[0]
        return normalize(np.asarray(pooled, dtype=np.float32))


def _drop_layers(weights: _Weights) -> _Weights:
    """Once the session holds the model, keep only the (small) embedding shapes the batching reads."""
    return _Weights(
        word=weights.word[:0],
        position=weights.position[:0],
        token_type=weights.token_type[:0],
        emb_ln=weights.emb_ln,
        layers=(),
    )
