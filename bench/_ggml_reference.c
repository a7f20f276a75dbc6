// Times ggml's reference quantizers (ggml_quantize_chunk in libggml-base.so)
// on one thread, on float32 read from a file, and writes their output so a
// caller can check it byte for byte.
//
//   gcc -O2 -o ggml_ref bench/_ggml_reference.c -L<dir> -lggml-base -Wl,-rpath,<dir>
//   ggml_ref <type id> <input.f32> <output> <runs> [cpu|wall]
//
// Prints the fastest run's seconds: thread CPU time (the default; what one
// thread costs on a shared machine) or wall-clock time.

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// From ggml.h: the one entry point used, declared here so no header is needed.
size_t ggml_quantize_chunk(int type, const float *src, void *dst, int64_t start, int64_t nrows,
                           int64_t n_per_row, const float *imatrix);
size_t ggml_row_size(int type, int64_t ne);

static clockid_t clock_id = CLOCK_THREAD_CPUTIME_ID;

static double now(void) {
  struct timespec t;
  clock_gettime(clock_id, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc != 5 && argc != 6) {
    fprintf(stderr, "usage: %s <type id> <input.f32> <output> <runs> [cpu|wall]\n", argv[0]);
    return 2;
  }
  if (argc == 6 && strcmp(argv[5], "wall") == 0) clock_id = CLOCK_MONOTONIC;
  int type = atoi(argv[1]);
  int runs = atoi(argv[4]);
  FILE *f = fopen(argv[2], "rb");
  if (!f) return perror(argv[2]), 1;
  fseek(f, 0, SEEK_END);
  long bytes = ftell(f);
  fseek(f, 0, SEEK_SET);
  int64_t n = bytes / 4, row = 4096;
  if (n % row != 0) row = 32;
  float *x = malloc(bytes);
  if (fread(x, 1, bytes, f) != (size_t)bytes) return perror("read"), 1;
  fclose(f);
  size_t out_bytes = ggml_row_size(type, row) * (n / row);
  uint8_t *y = malloc(out_bytes);
  double *ts = malloc(sizeof(double) * (runs > 0 ? runs : 1));
  for (int r = 0; r < runs; r++) {
    double t0 = now();
    ggml_quantize_chunk(type, x, y, 0, n / row, row, NULL);
    ts[r] = now() - t0;
  }
  if (runs == 0) ggml_quantize_chunk(type, x, y, 0, n / row, row, NULL);
  FILE *o = fopen(argv[3], "wb");
  if (!o || fwrite(y, 1, out_bytes, o) != out_bytes) return perror(argv[3]), 1;
  fclose(o);
  qsort(ts, runs, sizeof(double), cmp);
  printf("%.9f\n", runs > 0 ? ts[0] : 0.0);
  return 0;
}
