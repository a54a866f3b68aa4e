/* One decode step of a Llama-layout model for one row, float32, in one call: the AVX2 path.
 *
 * On a 2-core AVX2 CPU a SmolLM2 step through torch ran about 1,000 small ops, each a
 * Python call and a dispatch of a few microseconds: more time than the weights' reads.
 * Here the layers run without returning to Python: per layer RMSNorm, the fused q/k/v
 * multiply, rotary q/k, the key/value cache write, attention (stock or split-softmax),
 * o-proj and the residual, RMSNorm, the fused gate/up multiply, SiLU * up, down-proj and
 * the residual; then the final RMSNorm. The head stays in Python (one call).
 *
 * The multiplies and attention are the existing kernels' own code, linked into this
 * library (native_int4_avx2.c's grid_matmul, native_attention_avx2.c's attention), so
 * their results are the same bits as the torch path's native calls; the small ops here
 * follow torch's formulas (tests/llm/test_native_step.py compares the logits).
 *
 * Built by native_build.py with -mavx2 -mfma -mf16c and those two sources; driven by
 * native_step.py.
 */
#if !defined(__AVX2__) || !defined(__FMA__)
#error "needs AVX2 and FMA"
#endif

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int grid_matmul(int bits, const uint8_t *codes, const float *scales, const float *zeros,
                const float *x, float *y, long M, long N, long K);
int attention(int dtype, const void *q, long q_b, long q_h, long q_t, const void *k, long k_b,
              long k_h, long k_row, const void *v, long v_b, long v_h, long v_row,
              const uint8_t *visible, long visible_b, long visible_t, int causal,
              const int64_t *starts, const int64_t *ends, void *out, int B, int H, int Hkv,
              long Tq, long T, int D, float scl, float kexp);

/* One matrix in native_int4_avx2.c's layout. */
typedef struct {
  const uint8_t *codes;
  const float *scales, *zeros;
  int64_t bits, out_features;
} Matrix;

/* One layer's weights (native_step.py's Layer mirrors this). */
typedef struct {
  const float *norm1;
  const float *norm2;
  double eps1, eps2;
  Matrix qkv, o, gate_up, down;
} Layer;

/* torch's float32 rms_norm: x * rsqrt(mean(x^2) + eps) * w (the sum in double: no worse
 * than torch's pairwise float sum, and the same for any order) */
static void rms_norm(const float *x, const float *w, double eps, float *y, long n) {
  double ss = 0.0;
  for (long i = 0; i < n; i++) ss += (double)x[i] * x[i];
  float r = 1.0f / sqrtf((float)(ss / n) + (float)eps);
  for (long i = 0; i < n; i++) y[i] = (x[i] * r) * w[i];
}

/* transformers' rotary: x * cos + rotate_half(x) * sin, rotate_half(x) = (-x2, x1) */
static void rotate(float *x, const float *cos, const float *sin, int heads, int d) {
  int half = d / 2;
  for (int h = 0; h < heads; h++) {
    float *p = x + (long)h * d;
    float tmp[256];
    for (int j = 0; j < d; j++) tmp[j] = p[j];
    for (int j = 0; j < half; j++) {
      volatile float a = tmp[j] * cos[j], b = -tmp[j + half] * sin[j]; /* no FMA: torch's */
      p[j] = a + b;                                                     /* two products */
    }
    for (int j = half; j < d; j++) {
      volatile float a = tmp[j] * cos[j], b = tmp[j - half] * sin[j];
      p[j] = a + b;
    }
  }
}

static int multiply(const Matrix *m, const float *x, float *y, long k) {
  return grid_matmul((int)m->bits, m->codes, m->scales, m->zeros, x, y, 1, m->out_features, k);
}

/* h: (hidden) the embedded token in, the last layer's output out; x_out: (hidden) the
 * final RMSNorm of it. rooms: per layer the key and value buffers (Hkv, capacity, D)
 * and the capacity, as int64 (k, v, capacity); `filled` positions are already cached and
 * this token's key and value go to position `filled`. cos, sin: (D) for this position.
 * split: per layer 1 where split-softmax applies (NULL: none), with the span s0..s1 and
 * the exponent kexp (negative: InstABoost's factor -kexp, see native_attention*.c). Returns 0, 1 when memory ran out, 2 for an unsupported shape. */
int decode_step(const Layer *layers, int n_layers, long hidden, long inter, int heads,
                int kv_heads, int d, float attn_scale, float *h, const int64_t *rooms,
                long filled, const float *cos, const float *sin, const uint8_t *split,
                const int64_t *span, float kexp, const float *final_norm, double final_eps,
                float *x_out) {
  if (d > 256 || d % 2 || kv_heads <= 0 || heads % kv_heads) return 2;
  long qn = (long)heads * d, kvn = (long)kv_heads * d;
  long width = hidden > qn ? hidden : qn;
  float *buf = malloc(sizeof(float) * (size_t)(2 * width + qn + 2 * kvn + 3 * inter + qn));
  if (!buf) return 1;
  float *x = buf, *tmp = x + width, *qkv = tmp + width, *gu = qkv + qn + 2 * kvn;
  float *act = gu + 2 * inter, *att = act + inter;
  int rc = 0;
  for (int i = 0; i < n_layers && rc == 0; i++) {
    const Layer *L = layers + i;
    rms_norm(h, L->norm1, L->eps1, x, hidden);
    if ((rc = multiply(&L->qkv, x, qkv, hidden))) break;
    float *q = qkv, *k = qkv + qn, *v = k + kvn;
    rotate(q, cos, sin, heads, d);
    rotate(k, cos, sin, kv_heads, d);
    float *k_room = (float *)(intptr_t)rooms[3 * i], *v_room = (float *)(intptr_t)rooms[3 * i + 1];
    long cap = (long)rooms[3 * i + 2];
    for (int g = 0; g < kv_heads; g++) {
      memcpy(k_room + ((long)g * cap + filled) * d, k + (long)g * d, sizeof(float) * d);
      memcpy(v_room + ((long)g * cap + filled) * d, v + (long)g * d, sizeof(float) * d);
    }
    int splits = split != NULL && split[i];
    rc = attention(1, q, qn, d, d, k_room, (long)kv_heads * cap * d, cap * d, d, v_room,
                   (long)kv_heads * cap * d, cap * d, d, NULL, 0, 0, 1, splits ? span : NULL,
                   splits ? span + 1 : NULL, att, 1, heads, kv_heads, 1, filled + 1, d,
                   attn_scale, splits ? kexp : 1.0f);
    if (rc) break;
    if ((rc = multiply(&L->o, att, tmp, qn))) break;
    for (long j = 0; j < hidden; j++) h[j] = h[j] + tmp[j];
    rms_norm(h, L->norm2, L->eps2, x, hidden);
    if ((rc = multiply(&L->gate_up, x, gu, hidden))) break;
    for (long j = 0; j < inter; j++) {
      float g = gu[j];
      act[j] = (g / (1.0f + expf(-g))) * gu[inter + j];
    }
    if ((rc = multiply(&L->down, act, tmp, inter))) break;
    for (long j = 0; j < hidden; j++) h[j] = h[j] + tmp[j];
  }
  if (rc == 0) rms_norm(h, final_norm, final_eps, x_out, hidden);
  free(buf);
  return rc;
}
