/*
 * steer.c: load a GGUF with llama.cpp's own API, attach expertsteer with a
 * .steer file at strength c, and generate greedily.
 *
 *   steer MODEL.gguf FILE.steer STRENGTH N_TOKENS PROMPT [hook|cvec|none]
 *
 * "hook" (default) steers through expertsteer's eval callback installed in
 * the context parameters; "cvec" hands llama.cpp the same vectors as a
 * control vector; "none" generates unsteered. Prints the generated text on
 * stdout and the token ids on stderr ("tokens: 1 2 3"). Exit code 2 means
 * expertsteer refused something (the message is printed).
 *
 * Build (see README "Use it from C"):
 *   cc steer.c -I$LLAMA/include -Itarget/release/include \
 *      -Ltarget/release -lexpertsteer_c -L$LLAMA/lib -lllama -lggml -lggml-cpu -lggml-rpc -lggml-base ... -rdynamic
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"
#include "expertsteer.h"

static int fail(const char *what, int code) {
    fprintf(stderr, "expertsteer: %s failed (%d): %s\n", what, code, es_last_error());
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s MODEL.gguf FILE.steer STRENGTH N_TOKENS PROMPT [hook|cvec|none]\n", argv[0]);
        return 1;
    }
    const char *model_path = argv[1], *steer_path = argv[2], *prompt = argv[5];
    float strength = strtof(argv[3], NULL);
    int n_gen = atoi(argv[4]);
    const char *mode = argc > 6 ? argv[6] : "hook";

    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model *model = llama_model_load_from_file(model_path, mp);
    if (!model) { fprintf(stderr, "cannot load %s\n", model_path); return 1; }
    const struct llama_vocab *vocab = llama_model_get_vocab(model);

    es_steer *steer = NULL;
    int rc = es_steer_open(steer_path, model, &steer);
    if (rc != ES_OK) return fail("es_steer_open", rc);

    es_hook *hook = NULL;
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 2048; cp.n_batch = 512; cp.n_ubatch = 512;
    cp.n_threads = 1; cp.n_threads_batch = 1;
    if (strcmp(mode, "hook") == 0) {
        if ((rc = es_hook_new(model, &hook)) != ES_OK) return fail("es_hook_new", rc);
        if ((rc = es_hook_install(hook, &cp)) != ES_OK) return fail("es_hook_install", rc);
        if ((rc = es_hook_set_steer(hook, ES_ALL_SEQS, steer, strength, ES_POSITIONS_ALL)) != ES_OK)
            return fail("es_hook_set_steer", rc);
    }
    cp.kv_unified = true;  /* same context shape on every path */
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, "cannot create a context\n"); return 1; }

    if (strcmp(mode, "cvec") == 0) {
        size_t len = es_steer_control_vector_len(steer);
        float *buf = malloc(len * sizeof(float));
        int32_t il0 = 0, il1 = 0;
        if ((rc = es_steer_control_vector(steer, strength, buf, len, &il0, &il1)) != ES_OK)
            return fail("es_steer_control_vector", rc);
        if (llama_set_adapter_cvec(ctx, buf, len, llama_model_n_embd(model), il0, il1) != 0) {
            fprintf(stderr, "llama.cpp rejected the control vector\n");
            return 1;
        }
        free(buf);
    }

    int n_prompt = -llama_tokenize(vocab, prompt, (int32_t)strlen(prompt), NULL, 0, true, false);
    llama_token *tokens = malloc((size_t)(n_prompt + n_gen) * sizeof(llama_token));
    llama_tokenize(vocab, prompt, (int32_t)strlen(prompt), tokens, n_prompt, true, false);

    struct llama_batch batch = llama_batch_get_one(tokens, n_prompt);
    int n_out = 0;
    for (int k = 0; k < n_gen; k++) {
        if (hook && (rc = es_hook_begin_batch(hook, &batch)) != ES_OK) return fail("es_hook_begin_batch", rc);
        if (llama_decode(ctx, batch) != 0) { fprintf(stderr, "decode failed\n"); return 1; }
        if (hook && (rc = es_hook_check(hook)) != ES_OK) return fail("es_hook_check", rc);
        const float *logits = llama_get_logits_ith(ctx, -1);
        llama_token best = 0;
        for (llama_token t = 1; t < llama_vocab_n_tokens(vocab); t++)
            if (logits[t] > logits[best]) best = t;
        if (llama_vocab_is_eog(vocab, best)) break;
        n_out++;
        char piece[256];
        int n = llama_token_to_piece(vocab, best, piece, sizeof piece, 0, false);
        if (n > 0) fwrite(piece, 1, (size_t)n, stdout);
        tokens[n_prompt + k] = best;
        batch = llama_batch_get_one(&tokens[n_prompt + k], 1);
    }
    printf("\n");
    fprintf(stderr, "tokens:");
    for (int k = 0; k < n_out; k++) fprintf(stderr, " %d", tokens[n_prompt + k]);
    fprintf(stderr, "\n");

    llama_free(ctx);
    es_hook_free(hook);   /* after the context that used it */
    es_steer_free(steer);
    llama_model_free(model);
    free(tokens);
    llama_backend_free();
    return 0;
}
