// Oracle for llama-quantize's file types: runs llama_model_quantize
// (libllama from node-llama-cpp's prebuilt binaries) without an importance
// matrix.
//
//   llama_quantize IN.gguf OUT.gguf FTYPE PURE NTHREAD
//
// FTYPE is a llama_ftype number (15 = Q4_K_M, …); PURE is 0 or 1.
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

// The parameter struct as llama.h declares it in this release (field order and
// types matter; the pointer fields stay NULL).
struct quantize_params {
  int32_t nthread;
  int ftype;
  int output_tensor_type;
  int token_embedding_type;
  bool allow_requantize;
  bool quantize_output_tensor;
  bool only_copy;
  bool pure;
  bool keep_split;
  bool dry_run;
  const void *imatrix;
  const void *kv_overrides;
  const void *tt_overrides;
  const int32_t *prune_layers;
  size_t max_buf_size;
};

struct quantize_params llama_model_quantize_default_params(void);
uint32_t llama_model_quantize(const char *fname_inp, const char *fname_out, const struct quantize_params *params);
void llama_backend_init(void);
typedef void (*log_callback)(int level, const char *text, void *user_data);
void llama_log_set(log_callback cb, void *user_data);

static void quiet(int level, const char *text, void *user_data) {
  (void)user_data;
  if (level >= 4 || getenv("LLAMA_QUANTIZE_VERBOSE")) fputs(text, stderr); // 4: GGML_LOG_LEVEL_ERROR
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: llama_quantize IN.gguf OUT.gguf FTYPE PURE NTHREAD\n");
    return 2;
  }
  llama_log_set(quiet, NULL);
  llama_backend_init();
  struct quantize_params p = llama_model_quantize_default_params();
  p.ftype = atoi(argv[3]);
  p.pure = atoi(argv[4]) != 0;
  p.nthread = atoi(argv[5]);
  uint32_t rc = llama_model_quantize(argv[1], argv[2], &p);
  if (rc != 0) fprintf(stderr, "llama_model_quantize failed (%u)\n", rc);
  return rc == 0 ? 0 : 1;
}
