/* y = x W^T for a few float32 rows of x and 4- or 8-bit weights on a GGUF grid: the AVX2
 * copy of native_int4.c, for CPUs without bf16 dot products (AMD Zen 1-3, most laptops).
 *
 * Built by native_build.py with explicit -mavx2 -mfma -mf16c (never -march=native), called
 * from native_int4.py. Without bf16 units the model runs in float32 (loader.pick_dtype),
 * so this takes float32 rows: each block of 32 codes is widened to float32 once and
 * multiplied into every row with FMAs. A decode step then reads half a byte per weight
 * instead of four, and nothing is rounded but float32 sums: the logits are the dense
 * model's to summation order.
 *
 * Measured against the other route (llama.cpp's for Q4_1 x Q8_1: rows rounded to int8 per
 * block, products summed in integers by vpmaddubsw + vpmaddwd): that one ran a step's 211
 * matrices in 0.67x the time for one row (equal for 8 rows), but the rounding moved
 * SmolLM2's logits by up to 0.14 of their spread (0.08 with centred codes) and changed the
 * greedy answer of tests/llm/test_real_model.py, so float FMAs it is.
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

#define MAX_ROWS 12
#define MAX_GROUPS 512 /* K up to 16384 */

static inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/* 16 bytes of packed nibbles -> the 32 codes 0..15 as floats, k order */
static inline void widen4(const uint8_t *p, __m256 w[4]) {
  __m128i v = _mm_loadu_si128((const __m128i *)p);
  __m128i lo = _mm_and_si128(v, _mm_set1_epi8(0x0F)), hi = _mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(0x0F));
  w[0] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo));
  w[1] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_unpackhi_epi64(lo, lo)));
  w[2] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi));
  w[3] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_unpackhi_epi64(hi, hi)));
}

/* 32 int8 codes -> floats */
static inline void widen8(const uint8_t *p, __m256 w[4]) {
  for (int j = 0; j < 4; j++)
    w[j] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p + 8 * j))));
}

/* One output n for M rows. M is a compile-time constant in each copy, so the
 * accumulators stay in registers. */
#define OUTPUT(M, BITS)                                                                       \
  static void output_##M##_##BITS(const uint8_t *codes, const float *scales, const float *zeros, \
                                   const float *x, const float *sx, float *y, long N, long K,    \
                                   long n) {                                                    \
    long groups = K / 32;                                                                      \
    __m256 acc[M];                                                                             \
    float zsum[M];                                                                             \
    for (int m = 0; m < M; m++) {                                                              \
      acc[m] = _mm256_setzero_ps();                                                            \
      zsum[m] = 0.0f;                                                                          \
    }                                                                                          \
    const float *sc = scales + n * groups, *ze = zeros + n * groups;                           \
    for (long g = 0; g < groups; g++) {                                                        \
      __m256 w[4];                                                                             \
      if (BITS == 4)                                                                           \
        widen4(codes + (n * groups + g) * 16, w);                                              \
      else                                                                                     \
        widen8(codes + n * K + g * 32, w);                                                     \
      __m256 s = _mm256_set1_ps(sc[g]);                                                        \
      for (int m = 0; m < M; m++) {                                                            \
        const float *xp = x + m * K + g * 32;                                                  \
        __m256 part = _mm256_mul_ps(w[0], _mm256_loadu_ps(xp));                                \
        part = _mm256_fmadd_ps(w[1], _mm256_loadu_ps(xp + 8), part);                           \
        part = _mm256_fmadd_ps(w[2], _mm256_loadu_ps(xp + 16), part);                          \
        part = _mm256_fmadd_ps(w[3], _mm256_loadu_ps(xp + 24), part);                          \
        acc[m] = _mm256_fmadd_ps(part, s, acc[m]);                                             \
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

typedef void (*output_fn)(const uint8_t *, const float *, const float *, const float *,
                          const float *, float *, long, long, long);
static const output_fn OUTPUTS4[MAX_ROWS + 1] = {
    0, output_1_4, output_2_4, output_3_4, output_4_4, output_5_4, output_6_4,
    output_7_4, output_8_4, output_9_4, output_10_4, output_11_4, output_12_4};
static const output_fn OUTPUTS8[MAX_ROWS + 1] = {
    0, output_1_8, output_2_8, output_3_8, output_4_8, output_5_8, output_6_8,
    output_7_8, output_8_8, output_9_8, output_10_8, output_11_8, output_12_8};

/* bits: 4 or 8 (layouts above). x: (M, K) float32 contiguous; y: (M, N) float32.
 * Returns 0, or 2 for an unsupported shape. The same signature as native_int4.c's. */
int grid_matmul(int bits, const uint8_t *codes, const float *scales, const float *zeros,
                const float *x, float *y, long M, long N, long K) {
  if (M < 1 || M > MAX_ROWS || N % 16 || K % 32 || K / 32 > MAX_GROUPS) return 2;
  if (bits != 4 && bits != 8) return 2;
  long groups = K / 32;
  float sums[MAX_ROWS * MAX_GROUPS]; /* each row's sum over each block, for the zero term */
  for (long m = 0; m < M; m++)
    for (long g = 0; g < groups; g++) {
      const float *xg = x + m * K + g * 32;
      __m256 t = _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(xg), _mm256_loadu_ps(xg + 8)),
                               _mm256_add_ps(_mm256_loadu_ps(xg + 16), _mm256_loadu_ps(xg + 24)));
      sums[m * groups + g] = hsum(t);
    }
  output_fn out = bits == 4 ? OUTPUTS4[M] : OUTPUTS8[M];
  const float *sp = sums;
#pragma omp parallel for schedule(static)
  for (long n = 0; n < N; n++) out(codes, scales, zeros, x, sp, y, N, K, n);
  return 0;
}
