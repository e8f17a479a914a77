#!/usr/bin/env python3
"""The Hugging Face `tokenizers` side of Forge's tokenizer parity tests.

  encode TOKENIZER_JSON TEXTS_JSON [--special]   ids of each text (add_special_tokens=False); with
                                                 --special, special tokens written in the text are
                                                 recognised, otherwise they are encoded as text
  train OUT_JSON VOCAB TEXT_FILE...              trains a byte-level BPE (GPT-2 pre-tokenizer, bytes
                                                 alphabet, <|endoftext|> special) and saves it
  gemma-style OUT_JSON SPM_JSON                  rebuilds a SentencePiece tokenizer.json (vocab, merges, added
                                                 tokens) the way transformers' GemmaConverter assembles one, and
                                                 saves it with tokenizers' own writer
Prints JSON on stdout.
"""
import json, sys
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

cmd = sys.argv[1]
if cmd == "encode":
    tok = Tokenizer.from_file(sys.argv[2])
    texts = json.load(open(sys.argv[3], encoding="utf-8"))
    tok.encode_special_tokens = "--special" not in sys.argv
    print(json.dumps([tok.encode(t, add_special_tokens=False).ids for t in texts]))
elif cmd == "train":
    out, vocab, files = sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train(files, trainer)
    tok.save(out)
    print(json.dumps({"vocab": tok.get_vocab_size()}))
elif cmd == "gemma-style":
    out, src = sys.argv[2], json.load(open(sys.argv[3], encoding="utf-8"))
    m = src["model"]
    tok = Tokenizer(models.BPE(m["vocab"], [tuple(x) for x in m["merges"]], unk_token=m["unk_token"], fuse_unk=True,
                               byte_fallback=True, dropout=None))
    tok.normalizer = normalizers.Replace(" ", "\u2581")
    tok.pre_tokenizer = pre_tokenizers.Split(" ", "merged_with_previous")
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.add_tokens([AddedToken(a["content"], normalized=False, special=a["special"]) for a in src["added_tokens"]])
    tok.save(out)
    print(json.dumps({"vocab": tok.get_vocab_size()}))
else:
    sys.exit(f"unknown command {cmd}")
