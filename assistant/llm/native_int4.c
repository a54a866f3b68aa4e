/* y = x W^T for a few rows of x (bfloat16) and 4- or 8-bit weights on a GGUF grid.
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
 * 8-bit weights (Q8_0: q * scale, q in -127..127, zero 0) keep one int8 per weight, 32
 * bytes per lane pair block; whole numbers up to 127 are exact in bf16. The 8-bit head
 * read once this way takes 1.4 ms for one row, where torch's kernel needs it as two 4-bit
 * planes (2.3 ms).
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

/* 32 bytes of 8-bit codes (lane i's pair at bytes 2i, 2i + 1) -> 32 bf16 values q: whole
 * numbers up to 127 are exact in bf16 */
static inline __m512bh widen8(const uint8_t *p) {
  __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
  __m512 hi = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 16))));
  return _mm512_cvtne2ps_pbh(hi, lo);
}

static inline void store_bf16(uint16_t *p, __m512 x) {
  __m512i u = _mm512_castps_si512(x);
  __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  u = _mm512_add_epi32(u, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7fff)));
  _mm256_storeu_si256((__m256i *)p, _mm512_cvtepi32_epi16(_mm512_srli_epi32(u, 16)));
}

/* One block of 16 outputs for M rows. M is a compile-time constant in each copy, so the
 * accumulators stay in registers. */
#define BLOCK(M, BITS, WIDEN)                                                                  \
  static void block_##M##_##BITS(const uint8_t *codes, const float *scales, const float *zeros,        \
                        const uint16_t *x, const float *xsum, uint16_t *y, long N, long K,   \
                        long blk, __m512i table) {                                           \
    long groups = K / 32;                                                                    \
    __m512 total[M];                                                                         \
    for (int m = 0; m < M; m++) total[m] = _mm512_setzero_ps();                              \
    const uint8_t *cb = codes + blk * (K / 2) * 4 * BITS; /* 16 or 32 bytes a lane pair */  \
    for (long g = 0; g < groups; g++) {                                                      \
      __m512 part[M];                                                                        \
      for (int m = 0; m < M; m++) part[m] = _mm512_setzero_ps();                             \
      for (int p = 0; p < 16; p++) {                                                         \
        __m512bh w = WIDEN(cb + (g * 16 + p) * 4 * BITS, table);                             \
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
    for (int m = 0; m < M; m++) store_bf16(y + m * N + blk * 16, total[m]);                  \
  }

#define WIDEN4(p, table) widen(p, table)
#define WIDEN8(p, table) widen8(p)
#define BLOCKS_OF(BITS)                                                                        \
  BLOCK(1, BITS, WIDEN##BITS) BLOCK(2, BITS, WIDEN##BITS) BLOCK(3, BITS, WIDEN##BITS)          \
  BLOCK(4, BITS, WIDEN##BITS) BLOCK(5, BITS, WIDEN##BITS) BLOCK(6, BITS, WIDEN##BITS)          \
  BLOCK(7, BITS, WIDEN##BITS) BLOCK(8, BITS, WIDEN##BITS) BLOCK(9, BITS, WIDEN##BITS)          \
  BLOCK(10, BITS, WIDEN##BITS) BLOCK(11, BITS, WIDEN##BITS) BLOCK(12, BITS, WIDEN##BITS)
BLOCKS_OF(4)
BLOCKS_OF(8)

typedef void (*block_fn)(const uint8_t *, const float *, const float *, const uint16_t *,
                         const float *, uint16_t *, long, long, long, __m512i);
static const block_fn BLOCKS4[MAX_ROWS + 1] = {
    0, block_1_4, block_2_4, block_3_4, block_4_4, block_5_4, block_6_4,
    block_7_4, block_8_4, block_9_4, block_10_4, block_11_4, block_12_4};
static const block_fn BLOCKS8[MAX_ROWS + 1] = {
    0, block_1_8, block_2_8, block_3_8, block_4_8, block_5_8, block_6_8,
    block_7_8, block_8_8, block_9_8, block_10_8, block_11_8, block_12_8};

/* bits: 4 (codes as above) or 8 (q in -127..127 as int8, 32 bytes per lane pair block:
 * lane i's two codes at bytes 2i and 2i + 1; weight = q * scale + zero).
 * x: (M, K) bf16 contiguous; y: (M, N) bf16. Returns 0, or 2 for an unsupported shape. */
int grid_matmul(int bits, const uint8_t *codes, const float *scales, const float *zeros,
                const uint16_t *x, uint16_t *y, long M, long N, long K) {
  if (M < 1 || M > MAX_ROWS || N % 16 || K % 32 || K / 32 > MAX_GROUPS) return 2;
  if (bits != 4 && bits != 8) return 2;
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
  block_fn block = bits == 4 ? BLOCKS4[M] : BLOCKS8[M];
#pragma omp parallel for schedule(static)
  for (long blk = 0; blk < N / 16; blk++)
    block(codes, scales, zeros, x, xsum, y, N, K, blk, table);
  return 0;
}
