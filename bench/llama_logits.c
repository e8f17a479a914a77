// llama_logits: llama.cpp's greedy continuation of each prompt with its full next-token logits, for
// bench/parity_llama_cpp.py. Built against the llama.cpp of bench/llama_cpp.sh; never part of Forge.
//
//   llama_logits MODEL.gguf N_GEN OUT.bin < prompts.txt      (one prompt per line, \n written as \\n)
// OUT.bin: for each prompt: int32 n_prompt, int32 n_gen, int32 n_vocab, int32 tokens[n_prompt + n_gen],
// then float32 logits[(n_gen) * n_vocab]: row i is the distribution that chose generated token i.
#include "llama.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void unescape(char *s) {
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p == '\\' && p[1] == 'n') { *o++ = '\n'; p++; }
        else if (*p == '\\' && p[1] == '\\') { *o++ = '\\'; p++; }
        else if (*p != '\n') *o++ = *p;
    }
    *o = 0;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: %s MODEL.gguf N_GEN OUT.bin < prompts\n", argv[0]); return 2; }
    int n_gen = atoi(argv[2]);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) { fprintf(stderr, "cannot load %s\n", argv[1]); return 1; }
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    int n_vocab = llama_vocab_n_tokens(vocab);
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 1024; cp.n_batch = 1024; cp.n_threads = 2; cp.n_threads_batch = 2;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    FILE *out = fopen(argv[3], "wb");
    static char line[65536];
    llama_token tokens[2048];
    while (fgets(line, sizeof line, stdin)) {
        unescape(line);
        if (!*line) continue;
        int n = llama_tokenize(vocab, line, (int)strlen(line), tokens, 1024, true, true);
        if (n < 0) { fprintf(stderr, "prompt too long\n"); return 1; }
        llama_memory_clear(llama_get_memory(ctx), true);
        float *rows = malloc((size_t)n_gen * n_vocab * sizeof(float));
        if (llama_decode(ctx, llama_batch_get_one(tokens, n))) { fprintf(stderr, "decode failed\n"); return 1; }
        for (int i = 0; i < n_gen; i++) {
            const float *logits = llama_get_logits_ith(ctx, -1);
            memcpy(rows + (size_t)i * n_vocab, logits, n_vocab * sizeof(float));
            int best = 0;
            for (int v = 1; v < n_vocab; v++) if (logits[v] > logits[best]) best = v;
            tokens[n + i] = best;
            if (llama_decode(ctx, llama_batch_get_one(&tokens[n + i], 1))) { fprintf(stderr, "decode failed\n"); return 1; }
        }
        int32_t header[3] = {n, n_gen, n_vocab};
        fwrite(header, sizeof header, 1, out);
        fwrite(tokens, sizeof(llama_token), n + n_gen, out);
        fwrite(rows, sizeof(float), (size_t)n_gen * n_vocab, out);
        free(rows);
    }
    fclose(out);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
