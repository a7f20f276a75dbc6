// Oracle for the ggml block quantizers: runs ggml_quantize_chunk (libggml-base
// from node-llama-cpp's prebuilt binaries) on float32 files.
//
//   ggml_quantize [--time REPEAT] TYPE N_PER_ROW IN.f32 OUT.bin [TYPE N_PER_ROW IN.f32 OUT.bin ...]
//
// TYPE is a ggml type id (GGUF's numbering). With --time, each job is run
// REPEAT times on one thread and "TYPE ns_per_run" is printed per job: the
// best run's thread CPU time, so other load on the machine does not count.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

// The few declarations needed from ggml.h (the enum is passed as an int).
size_t ggml_quantize_chunk(int type, const float *src, void *dst, int64_t start, int64_t nrows,
                           int64_t n_per_row, const float *imatrix);
size_t ggml_row_size(int type, int64_t ne);

static void *read_all(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) { perror(path); exit(1); }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  void *buf = malloc(n > 0 ? (size_t)n : 1);
  if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) { perror(path); exit(1); }
  fclose(f);
  *size = (size_t)n;
  return buf;
}

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(int argc, char **argv) {
  int first = 1;
  int repeat = 0;
  if (argc > 2 && argv[1][0] == '-' && argv[1][1] == '-') {
    repeat = atoi(argv[2]);
    first = 3;
  }
  if ((argc - first) % 4 != 0 || argc == first) {
    fprintf(stderr, "usage: ggml_quantize [--time REPEAT] TYPE N_PER_ROW IN.f32 OUT.bin ...\n");
    return 2;
  }
  for (int a = first; a < argc; a += 4) {
    int type = atoi(argv[a]);
    int64_t n_per_row = atoll(argv[a + 1]);
    size_t bytes;
    float *src = read_all(argv[a + 2], &bytes);
    int64_t n = (int64_t)(bytes / 4);
    if (n_per_row <= 0 || n % n_per_row != 0) {
      fprintf(stderr, "%s: %lld values are not rows of %lld\n", argv[a + 2], (long long)n, (long long)n_per_row);
      return 2;
    }
    int64_t nrows = n / n_per_row;
    size_t out_bytes = ggml_row_size(type, n_per_row) * (size_t)nrows;
    void *dst = calloc(out_bytes ? out_bytes : 1, 1);
    size_t written = 0;
    if (repeat > 0) {
      double best = 0;
      for (int r = 0; r < repeat; r++) {
        double t0 = now_ns();
        written = ggml_quantize_chunk(type, src, dst, 0, nrows, n_per_row, NULL);
        double t = now_ns() - t0;
        if (r == 0 || t < best) best = t;
      }
      printf("%d %.0f\n", type, best);
    } else {
      written = ggml_quantize_chunk(type, src, dst, 0, nrows, n_per_row, NULL);
    }
    FILE *f = fopen(argv[a + 3], "wb");
    if (!f || fwrite(dst, 1, written, f) != written) { perror(argv[a + 3]); return 1; }
    fclose(f);
    free(src);
    free(dst);
  }
  return 0;
}
