#!/usr/bin/env python3
"""Writes the quantization exactness fixture the Swift tests read (Tests/ForgeTests/Fixtures/quantize/).

1. A tiny Llama-shaped GGUF in F16, written by the reference writer (the `gguf` package): 8 layers of width 256,
   vocabulary 64, untied output, head size 8, FFN 32, so that the mixes' layer rules, the Q6_K output, the K-quant
   fallbacks (rows of 32: Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0) and the F16 fallback (rows of 16) all occur.
   Values: normal(0, 0.02) with outliers, an all-zero row, constant positive and all-negative rows.
2. An importance matrix for it in llama-imatrix's GGUF layout (random heavy-tailed column weights).
3. llama-quantize (built by bench/llama_cpp.sh from the same source package as the other benches) quantizes it to
   every type Forge writes, --pure Q4_K_M, and with the importance matrix to the types it changes; the SHA-256 of
   each output file and of each tensor's data is stored.

The test (QuantizationTests) quantizes the same input with Forge and compares every hash.
Usage: python3 bench/quantize_fixture.py
"""
import hashlib, json, os, subprocess, sys, tempfile

import numpy as np
import gguf

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
out_dir = os.path.join(root, "Tests/ForgeTests/Fixtures/quantize")
TYPES = ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "F16", "BF16", "F32"]
IMATRIX_TYPES = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K_S", "Q4_K_M", "Q5_K_M", "Q6_K"]
IMATRIX = "tiny-llama.imatrix.gguf"


def build_input(path):
    rng = np.random.default_rng(16)
    L, C, V, H, KV, D, F = 8, 256, 64, 2, 1, 8, 32
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("tiny-quantize-fixture")
    w.add_block_count(L)
    w.add_context_length(128)
    w.add_embedding_length(C)
    w.add_feed_forward_length(F)
    w.add_head_count(H)
    w.add_head_count_kv(KV)
    w.add_key_length(D)
    w.add_value_length(D)
    w.add_rope_dimension_count(D)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(V)
    w.add_file_type(1)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list([f"<t{i}>" for i in range(V)])
    w.add_token_types([1] * V)
    w.add_token_merges([])

    def mat(rows, cols, salt):
        x = rng.normal(0, 0.02, size=(rows, cols)).astype(np.float32)
        idx = rng.integers(0, x.size, size=max(1, x.size // 500))
        x.flat[idx] *= 40  # outliers
        if salt == 0:
            x[0] = 0  # an all-zero row: d = 0 blocks
        elif salt == 1:
            x[0] = np.abs(x[0]) + 0.05  # all positive: K-quant minimum clamped to 0
        elif salt == 2:
            x[0] = -np.abs(x[0]) - 0.01  # all negative
        return x.astype(np.float16)

    def vec(n):
        return (1 + rng.normal(0, 0.1, size=n)).astype(np.float32)

    w.add_tensor("token_embd.weight", mat(V, C, 0))
    w.add_tensor("output_norm.weight", vec(C))
    w.add_tensor("output.weight", mat(V, C, 1))
    for l in range(L):
        p = f"blk.{l}."
        w.add_tensor(p + "attn_norm.weight", vec(C))
        w.add_tensor(p + "attn_q.weight", mat(H * D, C, l % 3))
        w.add_tensor(p + "attn_k.weight", mat(KV * D, C, (l + 1) % 3))
        w.add_tensor(p + "attn_v.weight", mat(KV * D, C, (l + 2) % 3))
        w.add_tensor(p + "attn_output.weight", mat(C, H * D, 3))
        w.add_tensor(p + "ffn_norm.weight", vec(C))
        w.add_tensor(p + "ffn_gate.weight", mat(F, C, l % 3))
        w.add_tensor(p + "ffn_up.weight", mat(F, C, 3))
        w.add_tensor(p + "ffn_down.weight", mat(C, F, (l + 1) % 3))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def build_imatrix(src, path):
    """An importance matrix in llama-imatrix's GGUF layout for every matrix llama-imatrix would cover (not the token
    embedding or the output): in_sum2 random positive (heavy-tailed, as real activations are), 512 rows counted."""
    rng = np.random.default_rng(17)
    r = gguf.GGUFReader(src)
    w = gguf.GGUFWriter(path, "llama")
    w.add_string("general.type", "imatrix")
    w.add_array("imatrix.datasets", ["fixture"])
    w.add_uint32("imatrix.chunk_count", 1)
    w.add_uint32("imatrix.chunk_size", 512)
    for t in r.tensors:
        if len(t.shape) < 2 or t.name in ("token_embd.weight", "output.weight"):
            continue
        cols = int(t.shape[0])
        w.add_tensor(t.name + ".in_sum2", (rng.exponential(1.0, size=(1, cols)) ** 2 * 512).astype(np.float32))
        w.add_tensor(t.name + ".counts", np.array([[512.0]], dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def tensor_hashes(path):
    r = gguf.GGUFReader(path)
    return {t.name: {"type": t.tensor_type.name, "sha256": hashlib.sha256(bytes(t.data.tobytes())).hexdigest()} for t in r.tensors}


def main():
    bindir = subprocess.check_output(["bash", os.path.join(root, "bench/llama_cpp.sh")], text=True).strip().splitlines()[-1]
    quantize = os.path.join(bindir, "llama-quantize")
    os.makedirs(out_dir, exist_ok=True)
    src = os.path.join(out_dir, "tiny-llama.f16.gguf")
    build_input(src)
    build_imatrix(src, os.path.join(out_dir, IMATRIX))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        runs = [(t, [t]) for t in TYPES] + [("pure-Q4_K_M", ["Q4_K_M"])] + [("imatrix-" + t, [t]) for t in IMATRIX_TYPES]
        for name, args in runs:
            out = os.path.join(tmp, name + ".gguf")
            flags = ["--pure"] if name.startswith("pure-") else []
            if name.startswith("imatrix-"):
                flags = ["--imatrix", IMATRIX]  # relative: the path is recorded in the file (quantize.imatrix.file)
            subprocess.run([quantize] + flags + [os.path.basename(src), out] + args + ["2"], check=True, capture_output=True,
                           cwd=out_dir)
            data = open(out, "rb").read()
            results[name] = {"file_sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "tensors": tensor_hashes(out)}
            print(f"{name}: {len(data)} bytes", file=sys.stderr)
    version = os.path.basename(os.path.dirname(bindir.rstrip("/").rsplit("/build", 1)[0] + "/x"))
    json.dump({"generator": "bench/quantize_fixture.py", "llama_cpp": version, "input": os.path.basename(src),
               "input_sha256": hashlib.sha256(open(src, "rb").read()).hexdigest(), "outputs": results},
              open(os.path.join(out_dir, "llama_quantize.json"), "w"), indent=1, sort_keys=True)
    print(f"wrote {out_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
