/* y = x W^T for a few float32 rows of x and 4- or 8-bit weights on a GGUF grid: the AVX2
 * copy of native_int4.c, for CPUs without bf16 dot products (AMD Zen 1-3, most laptops).
 *
 * Built by native_build.py with explicit -mavx2 -mfma -mf16c (never -march=native), called
 * from native_int4.py. Without bf16 units the model runs in float32 (loader.pick_dtype),
 * so this takes float32 rows. Each row is rounded to int16 per block of 32 (its largest
 * magnitude at 32767), each block of codes is widened to int16 once, and vpmaddwd sums
 * 16 products per instruction in integers; the block's sum is scaled back in float32.
 * The zero term uses the rows' exact float sums. A decode step reads half a byte per
 * weight instead of four.
 *
 * Measured routes (SmolLM2, one thread, CPU time per decode step with the native step):
 * float32 FMAs on codes widened to float32 (the first version) 15.9 ms, this one 12.9.
 * int16 rounding moves the bundled model's logits by 0.001 of their spread against the
 * dense float32 model (the float route 1e-5, torch's bfloat16 path 0.07). llama.cpp's
 * Q4_1 x Q8_1 route (rows rounded to int8) moved them by up to 0.14 and changed the
 * greedy answer of tests/llm/test_real_model.py: 256 times coarser than int16.
 *
 * Weight n, k is c * scale + zero (c in 0..15; native_int4.pack folds torch's "- 8" into
 * zero) or, for 8 bits, q * scale (q in -127..127). Layout, row-major by output:
 *   4 bits: codes (N, K/32, 16) bytes: byte j of block b holds c(n, 32b + j) in its low
 *           nibble and c(n, 32b + 16 + j) in its high one;
 *   8 bits: codes (N, K) int8;
 *   scales, zeros (N, K/32) float32.
 * y[m, n] = sum_b scale[n, b] sum_{k in b} c x[m, k] + zero[n, b] sum_{k in b} x[m, k]
 */
#if !defined(__AVX2__) || !defined(__FMA__)
#error "needs AVX2 and FMA"
#endif

#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>

#define MAX_ROWS 12
#define MAX_GROUPS 512 /* K up to 16384 */

static inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/* 16 bytes of packed nibbles -> the 32 codes 0..15 as int16, k order (two vectors of 16) */
static inline void widen4(const uint8_t *p, __m256i w[2]) {
  __m128i v = _mm_loadu_si128((const __m128i *)p);
  w[0] = _mm256_cvtepu8_epi16(_mm_and_si128(v, _mm_set1_epi8(0x0F)));
  w[1] = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(0x0F)));
}

/* 32 int8 codes -> int16 */
static inline void widen8(const uint8_t *p, __m256i w[2]) {
  w[0] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p));
  w[1] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(p + 16)));
}

/* One output n for M rows. M is a compile-time constant in each copy, so the
 * accumulators stay in registers. xq: the rows as int16 (M, K); dx: their step per block
 * (M, K/32); sx: their exact float sum per block, for the zero term. */
#define OUTPUT(M, BITS)                                                                       \
  static void output_##M##_##BITS(const uint8_t *codes, const float *scales, const float *zeros, \
                                   const int16_t *xq, const float *dx, const float *sx,         \
                                   float *y, long N, long K, long n) {                          \
    long groups = K / 32;                                                                      \
    __m256 acc[M];                                                                             \
    float zsum[M];                                                                             \
    for (int m = 0; m < M; m++) {                                                              \
      acc[m] = _mm256_setzero_ps();                                                            \
      zsum[m] = 0.0f;                                                                          \
    }                                                                                          \
    const float *sc = scales + n * groups, *ze = zeros + n * groups;                           \
    for (long g = 0; g < groups; g++) {                                                        \
      __m256i w[2];                                                                            \
      if (BITS == 4)                                                                           \
        widen4(codes + (n * groups + g) * 16, w);                                              \
      else                                                                                     \
        widen8(codes + n * K + g * 32, w);                                                     \
      for (int m = 0; m < M; m++) {                                                            \
        const int16_t *xp = xq + m * K + g * 32;                                               \
        __m256i isum = _mm256_add_epi32(                                                       \
            _mm256_madd_epi16(w[0], _mm256_loadu_si256((const __m256i *)xp)),                  \
            _mm256_madd_epi16(w[1], _mm256_loadu_si256((const __m256i *)(xp + 16))));          \
        acc[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum),                                     \
                                 _mm256_set1_ps(sc[g] * dx[m * groups + g]), acc[m]);          \
        if (BITS == 4) zsum[m] += ze[g] * sx[m * groups + g];                                  \
      }                                                                                        \
    }                                                                                          \
    for (int m = 0; m < M; m++) y[m * N + n] = hsum(acc[m]) + zsum[m];                         \
  }

#define OUTPUTS_OF(BITS)                                                                       \
  OUTPUT(1, BITS) OUTPUT(2, BITS) OUTPUT(3, BITS) OUTPUT(4, BITS) OUTPUT(5, BITS)         \
  OUTPUT(6, BITS) OUTPUT(7, BITS) OUTPUT(8, BITS) OUTPUT(9, BITS) OUTPUT(10, BITS)        \
  OUTPUT(11, BITS) OUTPUT(12, BITS)
OUTPUTS_OF(4)
OUTPUTS_OF(8)

typedef void (*output_fn)(const uint8_t *, const float *, const float *, const int16_t *,
                          const float *, const float *, float *, long, long, long);
static const output_fn OUTPUTS4[MAX_ROWS + 1] = {
    0, output_1_4, output_2_4, output_3_4, output_4_4, output_5_4, output_6_4,
    output_7_4, output_8_4, output_9_4, output_10_4, output_11_4, output_12_4};
static const output_fn OUTPUTS8[MAX_ROWS + 1] = {
    0, output_1_8, output_2_8, output_3_8, output_4_8, output_5_8, output_6_8,
    output_7_8, output_8_8, output_9_8, output_10_8, output_11_8, output_12_8};

/* 32 floats -> int16 on the block's own step (its largest magnitude at 32767); returns the step */
static inline float quantise(const float *x, int16_t *q) {
  __m256 v[4], mx = _mm256_setzero_ps();
  const __m256 abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  for (int j = 0; j < 4; j++) {
    v[j] = _mm256_loadu_ps(x + 8 * j);
    mx = _mm256_max_ps(mx, _mm256_and_ps(v[j], abs));
  }
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  float top = _mm_cvtss_f32(m4);
  float step = top / 32767.0f;
  __m256 inv = _mm256_set1_ps(top > 0.0f ? 32767.0f / top : 0.0f);
  for (int j = 0; j < 4; j += 2) {
    __m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(v[j], inv));
    __m256i b = _mm256_cvtps_epi32(_mm256_mul_ps(v[j + 1], inv));
    __m256i p = _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xD8);
    _mm256_storeu_si256((__m256i *)(q + 8 * j), p);
  }
  return step;
}

/* bits: 4 or 8 (layouts above). x: (M, K) float32 contiguous; y: (M, N) float32.
 * Returns 0, or 2 for an unsupported shape. The same signature as native_int4.c's. */
int grid_matmul(int bits, const uint8_t *codes, const float *scales, const float *zeros,
                const float *x, float *y, long M, long N, long K) {
  if (M < 1 || M > MAX_ROWS || N % 16 || K % 32 || K / 32 > MAX_GROUPS) return 2;
  if (bits != 4 && bits != 8) return 2;
  long groups = K / 32;
  float sums[MAX_ROWS * MAX_GROUPS]; /* each row's exact sum over each block, for the zero term */
  float steps[MAX_ROWS * MAX_GROUPS]; /* each row's int16 step per block */
  int16_t *xq = malloc(sizeof(int16_t) * (size_t)(M * K));
  if (!xq) return 1;
  for (long m = 0; m < M; m++)
    for (long g = 0; g < groups; g++) {
      const float *xg = x + m * K + g * 32;
      __m256 t = _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(xg), _mm256_loadu_ps(xg + 8)),
                               _mm256_add_ps(_mm256_loadu_ps(xg + 16), _mm256_loadu_ps(xg + 24)));
      sums[m * groups + g] = hsum(t);
      steps[m * groups + g] = quantise(xg, xq + m * K + g * 32);
    }
  output_fn out = bits == 4 ? OUTPUTS4[M] : OUTPUTS8[M];
  const float *sp = sums, *dp = steps;
  const int16_t *qp = xq;
#pragma omp parallel for schedule(static)
  for (long n = 0; n < N; n++) out(codes, scales, zeros, qp, dp, sp, y, N, K, n);
  free(xq);
  return 0;
}
