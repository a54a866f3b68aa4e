/* CPU attention, stock or split-softmax, in one pass per query: the AVX2 + FMA copy of
 * native_attention.c, for CPUs without AVX-512 (AMD Zen 1-3, most laptops and VMs).
 *
 * Built by native_build.py with explicit -mavx2 -mfma -mf16c (never -march=native), so the
 * same library runs on any AVX2 CPU; AVX-512 machines run it under ASSISTANT_CPU_ISA=avx2.
 * The arithmetic is native_attention.c's with 8-float vectors instead of 16: the same
 * polynomial for exp, the same split (see there), so both files give the same results to
 * float32 summation order. Measured on a 2-core AMD EPYC (Zen 3), SmolLM2 one-token steps:
 * see docs/cpu_paths.md.
 */
#if !defined(__AVX2__) || !defined(__FMA__)
#error "needs AVX2 and FMA"
#endif

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define MAX_REP 16 /* query heads per key/value head */

/* bfloat16 is the top half of a float32: widen by shifting, narrow with round-to-nearest-even
 * (what torch's .to(torch.bfloat16) does; scores and outputs are finite). */
static inline __m256 load_bf16(const uint16_t *p) {
  __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

static inline void store_bf16(uint16_t *p, __m256 x) {
  __m256i u = _mm256_castps_si256(x);
  __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  u = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(odd, _mm256_set1_epi32(0x7fff))), 16);
  /* 8 values < 65536 in 32-bit lanes -> 8 16-bit ones: pack within lanes, then gather the halves */
  __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(u, u), 0xD8);
  _mm_storeu_si128((__m128i *)p, _mm256_castsi256_si128(packed));
}

static inline __m256 load_f32(const float *p) { return _mm256_loadu_ps(p); }
static inline void store_f32(float *p, __m256 x) { _mm256_storeu_ps(p, x); }

static inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

static inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/* exp(x) for x <= 0 (a score minus its part's maximum), about 1 ulp. Lanes below -87
 * (including -inf from masked keys) give exactly 0 so masked keys add nothing. 2^n is
 * built in the exponent bits (n >= -126 here, a normal float). */
static inline __m256 exp_nonpositive(__m256 x) {
  const __m256 floor_ = _mm256_set1_ps(-87.0f);
  __m256 live = _mm256_cmp_ps(x, floor_, _CMP_GE_OQ);
  x = _mm256_max_ps(x, floor_);
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_and_ps(live, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

/* the first n (< 8) floats of p, the rest `fill` */
static inline __m256 load_tail(const float *p, long n, float fill) {
  float buf[8];
  for (int i = 0; i < 8; i++) buf[i] = i < n ? p[i] : fill;
  return _mm256_loadu_ps(buf);
}

static float max_of(const float *s, long n) {
  __m256 m = _mm256_set1_ps(-INFINITY);
  long t = 0;
  for (; t + 8 <= n; t += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(s + t));
  if (t < n) m = _mm256_max_ps(m, load_tail(s + t, n - t, -INFINITY));
  return hmax(m);
}

/* s[t] <- exp(s[t] - m); returns the sum */
static float exp_and_sum(float *s, long n, float m) {
  __m256 sum = _mm256_setzero_ps(), mv = _mm256_set1_ps(m);
  long t = 0;
  for (; t + 8 <= n; t += 8) {
    __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(s + t), mv));
    _mm256_storeu_ps(s + t, e);
    sum = _mm256_add_ps(sum, e);
  }
  if (t < n) {
    float buf[8];
    __m256 e = exp_nonpositive(_mm256_sub_ps(load_tail(s + t, n - t, -INFINITY), mv));
    _mm256_storeu_ps(buf, e); /* the filled lanes are exp(-inf) = 0 */
    for (long i = 0; i < n - t; i++) s[t + i] = buf[i];
    sum = _mm256_add_ps(sum, e);
  }
  return hsum(sum);
}

static void scale(float *s, long n, float w) {
  for (long t = 0; t < n; t++) s[t] *= w;
}

/* Turn one head's scores s[0..T) into the final weights of its values, in place. */
static void weights(float *s, long T, long s0, long s1, float k) {
  float max_s = max_of(s + s0, s1 - s0);
  float max_r = fmaxf(max_of(s, s0), max_of(s + s1, T - s1));
  int has_s = max_s != -INFINITY, has_r = max_r != -INFINITY;
  float z_s = has_s ? exp_and_sum(s + s0, s1 - s0, max_s) : 0.0f;
  float z_r = has_r ? exp_and_sum(s, s0, max_r) + exp_and_sum(s + s1, T - s1, max_r) : 0.0f;
  float share = has_s ? 1.0f : 0.0f; /* one part only: all weight on it */
  if (has_s && has_r) {
    float pi = 1.0f / (1.0f + expf((max_r + logf(z_r)) - (max_s + logf(z_s))));
    /* k < 0 carries InstABoost's factor -k: the span's weights times -k, renormalised. */
    share = k == 1.0f ? pi : k < 0.0f ? -k * pi / (1.0f + (-k - 1.0f) * pi) : powf(pi, k);
  }
  float w_s = has_s ? share / z_s : 0.0f, w_r = has_r ? (1.0f - share) / z_r : 0.0f;
  scale(s + s0, s1 - s0, w_s); /* a part without visible keys holds -inf: weight 0 * -inf */
  scale(s, s0, w_r);           /* would be NaN, so those entries are cleared below */
  scale(s + s1, T - s1, w_r);
  if (!has_s)
    for (long t = s0; t < s1; t++) s[t] = 0.0f;
  if (!has_r) {
    for (long t = 0; t < s0; t++) s[t] = 0.0f;
    for (long t = s1; t < T; t++) s[t] = 0.0f;
  }
}

/* The query heads of one key/value head: scores, weights, weighted values. DIM is a
 * compile-time constant so the per-key loops unroll into registers. */
#define GROUP(NAME, ELEM, LOAD, STORE, DIM)                                                     \
  static void NAME(const ELEM *q, long q_head, const ELEM *K, long k_row, const ELEM *V,       \
                   long v_row, const uint8_t *visible, long T, long s0, long s1, float k,      \
                   float scl, int rep, float *s, ELEM *out, long out_head) {                                  \
    enum { C = DIM / 8 };                                                                      \
    __m256 qv[MAX_REP][C];                                                                      \
    for (int r = 0; r < rep; r++)                                                               \
      for (int c = 0; c < C; c++)                                                               \
        qv[r][c] = _mm256_mul_ps(LOAD(q + r * q_head + 8 * c), _mm256_set1_ps(scl));           \
    for (long t = 0; t < T; t++) {                                                              \
      if (visible && !visible[t]) {                                                             \
        for (int r = 0; r < rep; r++) s[r * T + t] = -INFINITY;                                 \
        continue;                                                                               \
      }                                                                                         \
      __m256 kc[C];                                                                             \
      for (int c = 0; c < C; c++) kc[c] = LOAD(K + t * k_row + 8 * c);                         \
      for (int r = 0; r < rep; r++) {                                                           \
        __m256 a = _mm256_mul_ps(qv[r][0], kc[0]);                                              \
        for (int c = 1; c < C; c++) a = _mm256_fmadd_ps(qv[r][c], kc[c], a);                    \
        s[r * T + t] = hsum(a);                                                 \
      }                                                                                         \
    }                                                                                           \
    for (int r = 0; r < rep; r++) weights(s + r * T, T, s0, s1, k);                             \
    __m256 acc[MAX_REP][C];                                                                     \
    for (int r = 0; r < rep; r++)                                                               \
      for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();                              \
    for (long t = 0; t < T; t++) {                                                              \
      if (visible && !visible[t]) continue;                                                     \
      __m256 vc[C];                                                                             \
      for (int c = 0; c < C; c++) vc[c] = LOAD(V + t * v_row + 8 * c);                         \
      for (int r = 0; r < rep; r++) {                                                           \
        __m256 w = _mm256_set1_ps(s[r * T + t]);                                                \
        for (int c = 0; c < C; c++) acc[r][c] = _mm256_fmadd_ps(w, vc[c], acc[r][c]);           \
      }                                                                                         \
    }                                                                                           \
    for (int r = 0; r < rep; r++)                                                               \
      for (int c = 0; c < C; c++) STORE(out + r * out_head + 8 * c, acc[r][c]);                     \
  }

GROUP(group_bf16_64, uint16_t, load_bf16, store_bf16, 64)
GROUP(group_bf16_128, uint16_t, load_bf16, store_bf16, 128)
GROUP(group_f32_64, float, load_f32, store_f32, 64)
GROUP(group_f32_128, float, load_f32, store_f32, 128)

/* Strides are in elements. q: (B, H, Tq, D) as (b, h, t) strides; k, v: (B, Hkv, T, D) as
 * (b, head, row) strides, the last dimension contiguous; visible: (B, Tq, T) bytes with
 * strides visible_b, visible_t (0: shared), or NULL for all; causal: query i sits at key
 * position T - Tq + i and sees no later key; starts/ends: (B,) span per row, or NULL for
 * stock attention; out: (B, H, Tq, D) contiguous. dtype 0 = bfloat16, 1 = float32.
 * Same interface as native_attention.c. Returns 0, or 1 when a buffer could not be allocated, 2 for an unsupported shape. */
int attention(int dtype, const void *q, long q_b, long q_h, long q_t, const void *k, long k_b,
              long k_h, long k_row, const void *v, long v_b, long v_h, long v_row,
              const uint8_t *visible, long visible_b, long visible_t, int causal,
              const int64_t *starts, const int64_t *ends, void *out, int B, int H, int Hkv,
              long Tq, long T, int D, float scl, float kexp) {
  if (Hkv <= 0 || H % Hkv != 0 || H / Hkv > MAX_REP || (D != 64 && D != 128)) return 2;
  int rep = H / Hkv, failed = 0;
  long size = dtype == 0 ? 2 : 4;
  /* Each (row, key/value head, query) is independent. torch's OpenMP pool is warm from the
   * matrix multiplies around this call, so even one decode row's three groups gain. Small
   * chunks spread the causal queries (later ones see more keys) over the threads. */
#pragma omp parallel for collapse(3) schedule(static, 4)
  for (int b = 0; b < B; b++) {
    for (int g = 0; g < Hkv; g++) {
      for (long i = 0; i < Tq; i++) {
        long keys = causal ? T - Tq + i + 1 : T;
        keys = keys < 0 ? 0 : keys;
        float *s = malloc(sizeof(float) * (size_t)rep * (size_t)(keys > 0 ? keys : 1));
        if (!s) {
          failed = 1;
          continue;
        }
        long s0 = starts ? starts[b] : 0, s1 = starts ? ends[b] : 0;
        s0 = s0 < 0 ? 0 : (s0 > keys ? keys : s0);
        s1 = s1 < s0 ? s0 : (s1 > keys ? keys : s1);
        const char *qp = (const char *)q + (b * q_b + (long)g * rep * q_h + i * q_t) * size;
        const char *kp = (const char *)k + (b * k_b + g * k_h) * size;
        const char *vp = (const char *)v + (b * v_b + g * v_h) * size;
        char *op = (char *)out + (((long)b * H + (long)g * rep) * Tq + i) * D * size;
        long oh = Tq * D;
        const uint8_t *vis = visible ? visible + b * visible_b + i * visible_t : NULL;
        if (dtype == 0 && D == 64)
          group_bf16_64((const uint16_t *)qp, q_h, (const uint16_t *)kp, k_row,
                        (const uint16_t *)vp, v_row, vis, keys, s0, s1, kexp, scl, rep, s,
                        (uint16_t *)op, oh);
        else if (dtype == 0)
          group_bf16_128((const uint16_t *)qp, q_h, (const uint16_t *)kp, k_row,
                         (const uint16_t *)vp, v_row, vis, keys, s0, s1, kexp, scl, rep, s,
                         (uint16_t *)op, oh);
        else if (D == 64)
          group_f32_64((const float *)qp, q_h, (const float *)kp, k_row, (const float *)vp,
                       v_row, vis, keys, s0, s1, kexp, scl, rep, s, (float *)op, oh);
        else
          group_f32_128((const float *)qp, q_h, (const float *)kp, k_row, (const float *)vp,
                        v_row, vis, keys, s0, s1, kexp, scl, rep, s, (float *)op, oh);
        free(s);
      }
    }
  }
  return failed;
}
