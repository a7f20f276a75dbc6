// Times ggml's reference quantizers (ggml_quantize_chunk in libggml-base.so)
// on one thread, on float32 read from a file, and writes their output so a
// caller can check it byte for byte.
//
//   gcc -O2 -o ggml_ref bench/_ggml_reference.c -L<dir> -l:libggml-base.so -Wl,-rpath,<dir>
//   ggml_ref <type id> <input.f32> <output>   writes the quantized bytes
//   ggml_ref serve <input.f32>                 reads "<type id> <cpu|wall>" lines from stdin and
//                                              answers each with the seconds one call took, the
//                                              call repeated for at least 0.2 s (so a caller can
//                                              interleave it with its own runs)

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// From ggml.h: the entry points used, declared here so no header is needed.
size_t ggml_quantize_chunk(int type, const float *src, void *dst, int64_t start, int64_t nrows,
                           int64_t n_per_row, const float *imatrix);
size_t ggml_row_size(int type, int64_t ne);

static double now(clockid_t id) {
  struct timespec t;
  clock_gettime(id, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  int serve = argc == 3 && strcmp(argv[1], "serve") == 0;
  if (!serve && argc != 4) {
    fprintf(stderr, "usage: %s <type id> <input.f32> <output> | %s serve <input.f32>\n", argv[0], argv[0]);
    return 2;
  }
  const char *path = serve ? argv[2] : argv[2];
  FILE *f = fopen(path, "rb");
  if (!f) return perror(path), 1;
  fseek(f, 0, SEEK_END);
  long bytes = ftell(f);
  fseek(f, 0, SEEK_SET);
  int64_t n = bytes / 4, row = 4096;
  if (n % row != 0) row = 32;
  float *x = malloc(bytes);
  if (fread(x, 1, bytes, f) != (size_t)bytes) return perror("read"), 1;
  fclose(f);
  // Large enough for every type used here (Q8_0 is the largest, 34 bytes a block of 32).
  uint8_t *y = malloc((size_t)(n / 32 + 1) * 34);
  if (!serve) {
    int type = atoi(argv[1]);
    ggml_quantize_chunk(type, x, y, 0, n / row, row, NULL);
    size_t out_bytes = ggml_row_size(type, row) * (n / row);
    FILE *o = fopen(argv[3], "wb");
    if (!o || fwrite(y, 1, out_bytes, o) != out_bytes) return perror(argv[3]), 1;
    fclose(o);
    return 0;
  }
  char line[64], clock_name[16];
  int type;
  while (fgets(line, sizeof line, stdin)) {
    if (sscanf(line, "%d %15s", &type, clock_name) != 2) break;
    clockid_t id = strcmp(clock_name, "wall") == 0 ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID;
    double t0 = now(id), t;
    int k = 0;
    do {
      ggml_quantize_chunk(type, x, y, 0, n / row, row, NULL);
      k++;
    } while ((t = now(id) - t0) < 0.2);
    printf("%.9f\n", t / k);
    fflush(stdout);
  }
  return 0;
}
