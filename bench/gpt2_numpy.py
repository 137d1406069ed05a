#!/usr/bin/python3
"""gpt2_numpy.py: the reference of `make bench`'s gpt2 rows: the same GPT-2
forward pass as gpt2_f32@1 (key/value cache, greedy decoding) in numpy
float32, whose matrix products go to the BLAS that Debian's numpy is
linked against (OpenBLAS where libopenblas is installed).

Usage: gpt2_numpy.py MODEL HEADS PROMPT_LEN NEW_TOKENS
Prints: decode_tokens_per_s prefill_s
"""
import json
import struct
import sys
import time

import numpy as np


def load(path):
    with open(path, "rb") as f:
        (hlen,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(hlen))
    base = 8 + hlen
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    w = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        w[name] = np.frombuffer(mm[base + b:base + end], dtype="<f4").reshape(e["shape"])
    return w


def layernorm(x, g, b):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + np.float32(1e-5)) * g + b


def gelu(x):
    return np.float32(0.5) * x * (np.float32(1) + np.tanh(
        np.float32(0.7978845608) * (x + np.float32(0.044715) * x * x * x)))


def step(w, heads, layers, ids, pos0, cache):
    d = w["wte.weight"].shape[1]
    hd = d // heads
    t = len(ids)
    x = w["wte.weight"][ids] + w["wpe.weight"][pos0:pos0 + t]
    for i in range(layers):
        p = "h.%d." % i
        h = layernorm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"])
        qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        k_all, v_all = cache[i]
        k_all[pos0:pos0 + t] = qkv[:, d:2 * d]
        v_all[pos0:pos0 + t] = qkv[:, 2 * d:]
        n = pos0 + t
        q = qkv[:, :d].reshape(t, heads, hd).transpose(1, 0, 2)
        k = k_all[:n].reshape(n, heads, hd).transpose(1, 2, 0)
        v = v_all[:n].reshape(n, heads, hd).transpose(1, 0, 2)
        sc = (q @ k) / np.float32(np.sqrt(hd))
        mask = np.arange(n)[None, :] > (pos0 + np.arange(t))[:, None]
        sc = np.where(mask[None], np.float32(-np.inf), sc)
        sc = np.exp(sc - sc.max(axis=-1, keepdims=True))
        sc /= sc.sum(axis=-1, keepdims=True)
        out = (sc @ v).transpose(1, 0, 2).reshape(t, d)
        x = x + out @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        h = layernorm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"])
        f = gelu(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
        x = x + f @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    x = layernorm(x[-1:], w["ln_f.weight"], w["ln_f.bias"])
    return int(np.argmax(x @ w["wte.weight"].T))


def main():
    w = load(sys.argv[1])
    heads, t, n = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    layers = 0
    while "h.%d.ln_1.weight" % layers in w:
        layers += 1
    d = w["wte.weight"].shape[1]
    cache = [(np.zeros((t + n, d), np.float32), np.zeros((t + n, d), np.float32))
             for _ in range(layers)]
    ids = list(range(1, t + 1))
    t0 = time.perf_counter()
    nxt = step(w, heads, layers, np.array(ids), 0, cache)
    t1 = time.perf_counter()
    for s in range(1, n):
        nxt = step(w, heads, layers, np.array([nxt]), t + s - 1, cache)
    t2 = time.perf_counter()
    print("%.3f %.4f" % ((n - 1) / (t2 - t1), t1 - t0))


if __name__ == "__main__":
    main()
