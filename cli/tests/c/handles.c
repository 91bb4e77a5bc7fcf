/*
 * handles.c: stale, double-freed and wrong-kind handles must be refused,
 * never read (tests/c_api.rs runs this under valgrind when it is installed).
 *
 *   handles MODEL.gguf FILE.steer
 *
 * Exit 0 and "ok" when every check holds; otherwise the number of the
 * failed check.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "llama.h"
#include "expertsteer.h"

#define CHECK(n, cond) do { if (!(cond)) { fprintf(stderr, "check %d failed: %s\n", n, es_last_error()); return n; } } while (0)

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s MODEL.gguf FILE.steer\n", argv[0]); return 100; }
    llama_backend_init();
    struct llama_model *model = llama_model_load_from_file(argv[1], llama_model_default_params());
    CHECK(1, model != NULL);

    /* A steering file read without a model, described, then freed twice. */
    es_steer *s = NULL;
    CHECK(2, es_steer_read(argv[2], &s) == ES_OK);
    const char *info = es_steer_info_json(s);
    CHECK(3, info != NULL && strstr(info, "\"method\"") != NULL);
    CHECK(4, es_steer_check_model(s, NULL, model) == ES_OK);
    es_steer_free(s);
    es_steer_free(s);                                   /* a no-op, not a double free */
    CHECK(5, isnan(es_steer_default_strength(s)));      /* stale: refused, not read */
    CHECK(6, es_steer_control_vector_len(s) == 0);
    CHECK(7, es_steer_info_json(s) == NULL);
    float buf[4]; int32_t a, b;
    CHECK(8, es_steer_control_vector(s, 0.1f, buf, 4, &a, &b) == ES_ERR_ARG);
    CHECK(9, strstr(es_last_error(), "not a live handle") != NULL);

    /* A hook freed twice, then used. */
    es_hook *h = NULL;
    CHECK(10, es_hook_new(model, &h) == ES_OK);
    es_hook_free(h);
    es_hook_free(h);
    CHECK(11, es_hook_check(h) == ES_ERR_ARG);
    CHECK(12, es_hook_set_generating(h, ES_ALL_SEQS, true) == ES_ERR_ARG);

    /* Wrong kinds: a steering file is not a hook, and freeing it as one does nothing. */
    es_steer *s2 = NULL;
    CHECK(13, es_steer_read(argv[2], &s2) == ES_OK);
    es_hook_free((es_hook *)s2);
    CHECK(14, es_hook_check((es_hook *)s2) == ES_ERR_ARG);
    CHECK(15, !isnan(es_steer_default_strength(s2)));  /* still alive */
    es_hook *h2 = NULL;
    CHECK(16, es_hook_new(model, &h2) == ES_OK);
    CHECK(17, es_hook_set_steer(h2, ES_ALL_SEQS, (es_steer *)h2, 0.1f, ES_POSITIONS_ALL) == ES_ERR_ARG);
    CHECK(18, es_hook_set_steer(h2, ES_ALL_SEQS, s2, 0.1f, ES_POSITIONS_ALL) == ES_OK);
    es_steer_free(s2);
    es_hook_free(h2);

    /* A host from a table with a NULL entry is refused by name. */
    es_host_fns fns;
    memset(&fns, 0, sizeof fns);
    es_host *host = NULL;
    CHECK(19, es_host_new(&fns, &host) == ES_ERR_HOST && host == NULL);
    CHECK(20, strstr(es_last_error(), "ggml_backend_buffer_is_host") != NULL);
    /* ... and from the real functions, accepted after the layout check. */
    fns.ggml_backend_buffer_is_host = ggml_backend_buffer_is_host;
    fns.ggml_backend_tensor_get = ggml_backend_tensor_get;
    fns.ggml_backend_tensor_set = ggml_backend_tensor_set;
    fns.llama_model_n_embd = llama_model_n_embd;
    fns.llama_model_n_layer = llama_model_n_layer;
    fns.ggml_init = ggml_init;
    fns.ggml_new_tensor_2d = ggml_new_tensor_2d;
    fns.ggml_set_name = ggml_set_name;
    fns.ggml_free = ggml_free;
    CHECK(21, es_host_new(&fns, &host) == ES_OK);
    es_hook *h3 = NULL;
    CHECK(22, es_hook_new_host(host, model, &h3) == ES_OK);
    es_hook_free(h3);
    es_host_free(host);
    es_host_free(host);
    CHECK(23, es_hook_new_host(host, model, &h3) == ES_ERR_ARG);

    es_hook_free(NULL); es_steer_free(NULL); es_host_free(NULL);
    llama_model_free(model);
    llama_backend_free();
    puts("ok");
    return 0;
}
