#!/usr/bin/python3
"""gpt2_ref.py: an independent float64 GPT-2 forward pass in numpy, the
reference tests/test_gpt2.c checks gpt2_f32@1 against.

It shares nothing with the C: its own safetensors reader, the textbook
GPT-2 formulas (Radford et al. 2019; the Hugging Face GPT2Model layout),
numpy's float64 arithmetic in whatever order numpy likes.

Usage: gpt2_ref.py MODEL HEADS JOB.json
JOB.json: {"prompts": [[ids...], ...], "path": [[ids...], ...]}
"path" is the C kernel's generated ids for each prompt: the reference
feeds them (teacher forcing) so that its logits at each step are those of
the same sequence.  Prints JSON: for each prompt, per step the arg max,
the top-two gap and the largest |logit|, and the last step's logits.
"""
import json
import struct
import sys

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + hlen])
    data = raw[8 + hlen:]
    tensors = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        if e["dtype"] != "F32":
            continue
        b, end = e["data_offsets"]
        a = np.frombuffer(data[b:end], dtype="<f4").astype(np.float64)
        tensors[name] = a.reshape(e["shape"])
    return tensors


def layernorm(x, g, b, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def gelu(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


def forward(w, heads, ids):
    """Logits of every position of the sequence `ids` (no cache)."""
    t = len(ids)
    d = w["wte.weight"].shape[1]
    hd = d // heads
    x = w["wte.weight"][ids] + w["wpe.weight"][:t]
    layer = 0
    while "h.%d.ln_1.weight" % layer in w:
        p = "h.%d." % layer
        h = layernorm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"])
        qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        q, k, v = qkv[:, :d], qkv[:, d:2 * d], qkv[:, 2 * d:]
        out = np.zeros((t, d))
        for hh in range(heads):
            s = slice(hh * hd, (hh + 1) * hd)
            sc = q[:, s] @ k[:, s].T / np.sqrt(hd)
            sc = np.where(np.tril(np.ones((t, t))) > 0, sc, -np.inf)
            sc = np.exp(sc - sc.max(axis=1, keepdims=True))
            sc /= sc.sum(axis=1, keepdims=True)
            out[:, s] = sc @ v[:, s]
        x = x + out @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        h = layernorm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"])
        f = gelu(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
        x = x + f @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
        layer += 1
    x = layernorm(x, w["ln_f.weight"], w["ln_f.bias"])
    return x @ w["wte.weight"].T


def main():
    w = read_safetensors(sys.argv[1])
    heads = int(sys.argv[2])
    with open(sys.argv[3]) as f:
        job = json.load(f)
    result = []
    for prompt, path in zip(job["prompts"], job["path"]):
        seq = list(prompt) + list(path[:-1])
        logits = forward(w, heads, np.array(seq, dtype=np.int64))
        steps = []
        for s in range(len(path)):
            row = logits[len(prompt) - 1 + s]
            top = np.sort(row)[::-1]
            steps.append({"argmax": int(np.argmax(row)),
                          "gap": float(top[0] - top[1]),
                          "scale": float(np.abs(row).max())})
        result.append({"steps": steps,
                       "last": [float(v) for v in logits[len(seq) - 1]]})
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
