/* CPU attention, stock or split-softmax, in one pass per query over its head group's keys.
 *
 * Built by native_attention.py with the machine's C compiler (-O3 -march=native -fopenmp)
 * and loaded with ctypes. Why: for one new token, torch's fused CPU kernel costs about
 * 40 us a layer for SmolLM2's 9 heads at 300 keys, and the split form needs a second set
 * of rows plus five small torch ops to mix the parts (about 80 us); here either takes
 * about 22 us. A pre-fill's split form runs two fused calls with masks in torch (6.7 ms a
 * layer for 8 rows of 97 new tokens) and 3.5 ms here. Each query reads its group's keys
 * and values once, and the split costs two running maxima and sums more than stock.
 *
 * For one query head with scores s (already scaled) over the visible keys and the system
 * span S = [s0, s1):
 *   stock: out = sum_t softmax(s)_t v_t
 *   split: pi = sigmoid(lse_S - lse_R), share = pi**k,
 *          out = share * o_S + (1 - share) * o_R     (o_X: softmax attention over X only)
 * A head that sees no key in S gets o_R, one that sees only S gets o_S, one that sees
 * nothing gets zeros (as torch's kernel does).
 *
 * Needs AVX-512F; other machines fail to compile and the Python side keeps torch's kernel.
 */
#if !defined(__AVX512F__)
#error "needs AVX-512F"
#endif

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define MAX_REP 16 /* query heads per key/value head */

/* bfloat16 is the top half of a float32: widen by shifting, narrow with round-to-nearest-even
 * (what torch's .to(torch.bfloat16) does; scores and outputs are finite). */
static inline __m512 load_bf16(const uint16_t *p) {
  __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}

static inline void store_bf16(uint16_t *p, __m512 x) {
  __m512i u = _mm512_castps_si512(x);
  __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  u = _mm512_add_epi32(u, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7fff)));
  _mm256_storeu_si256((__m256i *)p, _mm512_cvtepi32_epi16(_mm512_srli_epi32(u, 16)));
}

static inline __m512 load_f32(const float *p) { return _mm512_loadu_ps(p); }
static inline void store_f32(float *p, __m512 x) { _mm512_storeu_ps(p, x); }

/* exp(x) for x <= 0 (a score minus its part's maximum), about 1 ulp. Lanes below -87
 * (including -inf from masked keys) give exactly 0 so masked keys add nothing. */
static inline __m512 exp_nonpositive(__m512 x) {
  const __m512 floor_ = _mm512_set1_ps(-87.0f);
  __mmask16 live = _mm512_cmp_ps_mask(x, floor_, _CMP_GE_OQ);
  x = _mm512_max_ps(x, floor_);
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  /* r = x - n ln2, with ln2 in two parts so r keeps its low bits */
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_maskz_mov_ps(live, _mm512_scalef_ps(p, n));
}

static inline __mmask16 tail_mask(long n) { return (__mmask16)((1u << n) - 1u); }

static float max_of(const float *s, long n) {
  __m512 m = _mm512_set1_ps(-INFINITY);
  long t = 0;
  for (; t + 16 <= n; t += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(s + t));
  if (t < n) m = _mm512_max_ps(m, _mm512_mask_loadu_ps(m, tail_mask(n - t), s + t));
  return _mm512_reduce_max_ps(m);
}

/* s[t] <- exp(s[t] - m); returns the sum */
static float exp_and_sum(float *s, long n, float m) {
  __m512 sum = _mm512_setzero_ps(), mv = _mm512_set1_ps(m);
  long t = 0;
  for (; t + 16 <= n; t += 16) {
    __m512 e = exp_nonpositive(_mm512_sub_ps(_mm512_loadu_ps(s + t), mv));
    _mm512_storeu_ps(s + t, e);
    sum = _mm512_add_ps(sum, e);
  }
  if (t < n) {
    __mmask16 k = tail_mask(n - t);
    __m512 e = _mm512_maskz_mov_ps(k, exp_nonpositive(_mm512_sub_ps(_mm512_mask_loadu_ps(mv, k, s + t), mv)));
    _mm512_mask_storeu_ps(s + t, k, e);
    sum = _mm512_add_ps(sum, e);
  }
  return _mm512_reduce_add_ps(sum);
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
    enum { C = DIM / 16 };                                                                      \
    __m512 qv[MAX_REP][C];                                                                      \
    for (int r = 0; r < rep; r++)                                                               \
      for (int c = 0; c < C; c++)                                                               \
        qv[r][c] = _mm512_mul_ps(LOAD(q + r * q_head + 16 * c), _mm512_set1_ps(scl));           \
    for (long t = 0; t < T; t++) {                                                              \
      if (visible && !visible[t]) {                                                             \
        for (int r = 0; r < rep; r++) s[r * T + t] = -INFINITY;                                 \
        continue;                                                                               \
      }                                                                                         \
      __m512 kc[C];                                                                             \
      for (int c = 0; c < C; c++) kc[c] = LOAD(K + t * k_row + 16 * c);                         \
      for (int r = 0; r < rep; r++) {                                                           \
        __m512 a = _mm512_mul_ps(qv[r][0], kc[0]);                                              \
        for (int c = 1; c < C; c++) a = _mm512_fmadd_ps(qv[r][c], kc[c], a);                    \
        s[r * T + t] = _mm512_reduce_add_ps(a);                                                 \
      }                                                                                         \
    }                                                                                           \
    for (int r = 0; r < rep; r++) weights(s + r * T, T, s0, s1, k);                             \
    __m512 acc[MAX_REP][C];                                                                     \
    for (int r = 0; r < rep; r++)                                                               \
      for (int c = 0; c < C; c++) acc[r][c] = _mm512_setzero_ps();                              \
    for (long t = 0; t < T; t++) {                                                              \
      if (visible && !visible[t]) continue;                                                     \
      __m512 vc[C];                                                                             \
      for (int c = 0; c < C; c++) vc[c] = LOAD(V + t * v_row + 16 * c);                         \
      for (int r = 0; r < rep; r++) {                                                           \
        __m512 w = _mm512_set1_ps(s[r * T + t]);                                                \
        for (int c = 0; c < C; c++) acc[r][c] = _mm512_fmadd_ps(w, vc[c], acc[r][c]);           \
      }                                                                                         \
    }                                                                                           \
    for (int r = 0; r < rep; r++)                                                               \
      for (int c = 0; c < C; c++) STORE(out + r * out_head + 16 * c, acc[r][c]);                     \
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
 * Returns 0, or 1 when a buffer could not be allocated, 2 for an unsupported shape. */
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
