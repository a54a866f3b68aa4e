/* y = x W^T for a few rows of x (bfloat16) and 4-bit weights on a GGUF grid.
 *
 * Built by native_build.py with -O3 -march=native -fopenmp, called from native_int4.py.
 * Why: torch's int4 kernel (_weight_int4pack_mm_for_cpu) costs 2.5x more for 8 rows than
 * for one (SmolLM2's 210 matrices: 12.1 vs 4.9 ms), while the weight bytes read are the
 * same. Here each group of 16 weights is widened to bfloat16 once and multiplied into all
 * rows with the CPU's bf16 dot-product instruction: 8.6 ms for 8 rows, 4.7 for one.
 *
 * Weight n, k is (c - 8) * scale + zero, with c in 0..15 and one scale and zero per
 * block of 32 along k (the same grid as torch's planes). Layout, for blocks of 16 output
 * rows (lanes) and pairs of inputs:
 *   codes  (N/16, K/2, 16) bytes: lane i of pair p holds c(n, 2p) | c(n, 2p + 1) << 4
 *   scales, zeros (N/16, K/32, 16) float32
 * so that a 16-byte load gives the 32 bf16 values one dot-product instruction takes.
 *
 * y[m, n] = sum_g scale[n, g] * sum_{k in g} x[m, k] (c - 8) + zero[n, g] * sum_{k in g} x[m, k]
 * Products of bf16 values are exact in float32 and sums are float32, so the result
 * differs from a float32 reference only by summation order and the final bf16 rounding.
 *
 * Needs AVX-512 BF16; other machines fail to compile and torch's kernel runs instead.
 */
#if !defined(__AVX512F__) || !defined(__AVX512BF16__)
#error "needs AVX-512 BF16"
#endif

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define MAX_ROWS 12
#define MAX_GROUPS 512 /* K up to 16384 */

/* 16 bytes of codes -> 32 bf16 values (c - 8) in the lane order of vdpbf16ps */
static inline __m512bh widen(const uint8_t *p, __m512i table) {
  __m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p));
  __m512i lo = _mm512_and_si512(b, _mm512_set1_epi32(0xF));
  __m512i hi = _mm512_slli_epi32(_mm512_srli_epi32(b, 4), 16);
  return (__m512bh)_mm512_permutexvar_epi16(_mm512_or_si512(lo, hi), table);
}

static inline void store_bf16(uint16_t *p, __m512 x) {
  __m512i u = _mm512_castps_si512(x);
  __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  u = _mm512_add_epi32(u, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7fff)));
  _mm256_storeu_si256((__m256i *)p, _mm512_cvtepi32_epi16(_mm512_srli_epi32(u, 16)));
}

/* One block of 16 outputs for M rows. M is a compile-time constant in each copy, so the
 * accumulators stay in registers. */
#define BLOCK(M)                                                                               \
  static void block_##M(const uint8_t *codes, const float *scales, const float *zeros,        \
                        const uint16_t *x, const float *xsum, void *y, int mode, long N,     \
                        long K, long blk, __m512i table) {                                   \
    long groups = K / 32;                                                                    \
    __m512 total[M];                                                                         \
    for (int m = 0; m < M; m++) total[m] = _mm512_setzero_ps();                              \
    const uint8_t *cb = codes + blk * (K / 2) * 16;                                          \
    for (long g = 0; g < groups; g++) {                                                      \
      __m512 part[M];                                                                        \
      for (int m = 0; m < M; m++) part[m] = _mm512_setzero_ps();                             \
      for (int p = 0; p < 16; p++) {                                                         \
        __m512bh w = widen(cb + (g * 16 + p) * 16, table);                                   \
        const uint16_t *xp = x + g * 32 + 2 * p;                                             \
        for (int m = 0; m < M; m++) {                                                        \
          int32_t pair;                                                                      \
          memcpy(&pair, xp + m * K, 4);                                                      \
          part[m] = _mm512_dpbf16_ps(part[m], w, (__m512bh)_mm512_set1_epi32(pair));         \
        }                                                                                    \
      }                                                                                      \
      __m512 s = _mm512_loadu_ps(scales + (blk * groups + g) * 16);                          \
      __m512 z = _mm512_loadu_ps(zeros + (blk * groups + g) * 16);                           \
      for (int m = 0; m < M; m++) {                                                          \
        total[m] = _mm512_fmadd_ps(part[m], s, total[m]);                                    \
        total[m] = _mm512_fmadd_ps(z, _mm512_set1_ps(xsum[m * groups + g]), total[m]);       \
      }                                                                                      \
    }                                                                                        \
    for (int m = 0; m < M; m++) {                                                            \
      long at = m * N + blk * 16;                                                            \
      if (mode == 0)                                                                         \
        store_bf16((uint16_t *)y + at, total[m]);                                            \
      else if (mode == 1)                                                                    \
        _mm512_storeu_ps((float *)y + at, total[m]);                                         \
      else                                                                                   \
        _mm512_storeu_ps((float *)y + at, _mm512_add_ps(_mm512_loadu_ps((float *)y + at),     \
                                                       total[m]));                           \
    }                                                                                        \
  }

BLOCK(1) BLOCK(2) BLOCK(3) BLOCK(4) BLOCK(5) BLOCK(6)
BLOCK(7) BLOCK(8) BLOCK(9) BLOCK(10) BLOCK(11) BLOCK(12)

typedef void (*block_fn)(const uint8_t *, const float *, const float *, const uint16_t *,
                         const float *, void *, int, long, long, long, __m512i);
static const block_fn BLOCKS[MAX_ROWS + 1] = {0,        block_1,  block_2, block_3, block_4,
                                              block_5,  block_6,  block_7, block_8, block_9,
                                              block_10, block_11, block_12};

/* x: (M, K) bf16 contiguous; y: (M, N) bf16 (mode 0), float32 (mode 1), or float32 that the
 * product is added to (mode 2: the planes of an 8-bit matrix sum before any rounding).
 * Returns 0, or 2 for an unsupported shape. */
int int4_matmul(const uint8_t *codes, const float *scales, const float *zeros, const uint16_t *x,
                void *y, int mode, long M, long N, long K) {
  if (M < 1 || M > MAX_ROWS || N % 16 || K % 32 || K / 32 > MAX_GROUPS) return 2;
  long groups = K / 32;
  float xsum[MAX_ROWS * MAX_GROUPS]; /* sum of each row over each block, for the zero term */
  for (long m = 0; m < M; m++)
    for (long g = 0; g < groups; g++) {
      const uint16_t *xg = x + m * K + g * 32;
      __m512 a = _mm512_castsi512_ps(_mm512_slli_epi32(
          _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)xg)), 16));
      __m512 b = _mm512_castsi512_ps(_mm512_slli_epi32(
          _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(xg + 16))), 16));
      xsum[m * groups + g] = _mm512_reduce_add_ps(_mm512_add_ps(a, b));
    }
  uint16_t values[32]; /* bf16 of c - 8 for c = 0..15 (the upper half repeats) */
  for (int c = 0; c < 32; c++) {
    float f = (float)((c & 15) - 8);
    uint32_t u;
    memcpy(&u, &f, 4);
    values[c] = (uint16_t)(u >> 16);
  }
  __m512i table = _mm512_loadu_si512(values);
  block_fn block = BLOCKS[M];
#pragma omp parallel for schedule(static)
  for (long blk = 0; blk < N / 16; blk++)
    block(codes, scales, zeros, x, xsum, y, mode, N, K, blk, table);
  return 0;
}
