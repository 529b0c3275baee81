// See CKernels.h. Written so the compiler vectorises every loop without -ffast-math (which would break the
// rounding trick below and NaN handling): reductions keep 16 independent partial sums, branches are selects.
#include "CKernels.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__linux__)
#define TG_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define TG_CLONES
#endif

// e^x by range reduction: x = n·ln2 + r with |r| ≤ ln2/2 (ln2 split into an exact head and a small tail),
// e^x = 2^n · p(r) with Cephes' degree-7 polynomial; n = round(x·log2 e) by adding 1.5·2^23, which leaves the
// rounded integer in the low mantissa bits. Relative error ≤ 2 ulp for x in [-87.3, 88.3]; outside that the
// callers' fix-up gives 0, subnormals or infinity. NaN propagates through the selects below.
static inline float exp_core(float x) {
    float c = x < -87.33655f ? -87.33655f : (x > 88.37626f ? 88.37626f : x);
    float t = c * 1.44269504f + 12582912.0f;
    float n = t - 12582912.0f;
    float r = c - n * 0.693359375f - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    int32_t ti, mi;
    float magic = 12582912.0f;
    memcpy(&ti, &t, 4);
    memcpy(&mi, &magic, 4);
    int32_t bits = (ti - mi + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    float y = p * scale;
    y = x != x ? x : y;  // NaN in, NaN out
    return y;
}

// Outside the core's range: exact limits, and subnormal results through two half-range factors.
static float exp_edge(float x) {
    if (x > 88.72284f) return INFINITY;
    if (x < -103.97208f) return 0.0f;
    float h = exp_core(x * 0.5f);
    return h * h;
}

static inline int in_core_range(float x) { return x >= -87.33655f && x <= 88.37626f; }

// 1 when x needs exp_edge: outside the core's range and not NaN. Written as integer arithmetic on the comparisons
// so the loops below OR it into lane flags without branches and stay vectorised.
static inline int needs_edge(float x) { return (x < -87.33655f) | (x > 88.37626f); }

// Each block of 16 is finished (edge lanes included) before it is stored, so y may alias x.
TG_CLONES float tg_exp_sum(const float *x, float *y, int64_t n, float shift) {
    float acc[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        float e[16];
        int edge = 0;
        for (int l = 0; l < 16; l++) {
            float v = x[i + l] - shift;
            e[l] = exp_core(v);
            edge |= needs_edge(v);
        }
        // Rare: arguments outside the core range (e.g. -inf logits of masked positions) get their exact value.
        if (edge) {
            for (int l = 0; l < 16; l++) {
                float v = x[i + l] - shift;
                if (!in_core_range(v) && v == v) e[l] = exp_edge(v);
            }
        }
        for (int l = 0; l < 16; l++) {
            y[i + l] = e[l];
            acc[l] += e[l];
        }
    }
    float s = 0;
    for (; i < n; i++) {
        float v = x[i] - shift;
        float e = in_core_range(v) || v != v ? exp_core(v) : exp_edge(v);
        y[i] = e;
        s += e;
    }
    for (int l = 0; l < 16; l++) s += acc[l];
    return s;
}

// Blocks of 16 like tg_exp_sum: each block is read whole before it is written, so y may alias x and the loop stays
// vectorised in place (a plain loop over a possibly aliased y runs scalar: the compiler's overlap check fails).
TG_CLONES void tg_exp(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        float e[16];
        int edge = 0;
        for (int l = 0; l < 16; l++) {
            e[l] = exp_core(x[i + l]);
            edge |= needs_edge(x[i + l]);
        }
        if (edge) {
            for (int l = 0; l < 16; l++) {
                if (!in_core_range(x[i + l]) && x[i + l] == x[i + l]) e[l] = exp_edge(x[i + l]);
            }
        }
        for (int l = 0; l < 16; l++) y[i + l] = e[l];
    }
    for (; i < n; i++) {
        float v = x[i];
        y[i] = in_core_range(v) || v != v ? exp_core(v) : exp_edge(v);
    }
}

// σ(x) = 1 / (1 + e^{−x}); e^{−x} saturates to +inf or 0 at the extremes, giving exactly 0 or 1.
static inline float sigmoid_core(float x) {
    float v = -x;
    float e = v != v ? v : (in_core_range(v) ? exp_core(v) : (v > 0 ? INFINITY : 0.0f));
    return 1.0f / (1.0f + e);
}

// tanh(x) = 1 − 2 / (e^{2x} + 1); absolute error ≤ 2·10⁻⁷, exactly ±1 at the extremes.
static inline float tanh_core(float x) {
    float v = 2.0f * x;
    float e = v != v ? v : (in_core_range(v) ? exp_core(v) : (v > 0 ? INFINITY : 0.0f));
    return 1.0f - 2.0f / (e + 1.0f);
}

// In blocks of 16, as tg_exp: y may alias x and the in-place call stays vectorised.
TG_CLONES void tg_sigmoid(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        float t[16];
        for (int l = 0; l < 16; l++) t[l] = sigmoid_core(x[i + l]);
        for (int l = 0; l < 16; l++) y[i + l] = t[l];
    }
    for (; i < n; i++) y[i] = sigmoid_core(x[i]);
}

TG_CLONES void tg_tanh(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        float t[16];
        for (int l = 0; l < 16; l++) t[l] = tanh_core(x[i + l]);
        for (int l = 0; l < 16; l++) y[i + l] = t[l];
    }
    for (; i < n; i++) y[i] = tanh_core(x[i]);
}

// GELU in GPT-2's tanh form: y = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³), tanh as tg_tanh's.
static inline float gelu_u(float v) { return 0.7978845608028654f * (v + 0.044715f * v * v * v); }

static inline float gelu_core(float v) { return 0.5f * v * (1.0f + tanh_core(gelu_u(v))); }

// dy·GELU'(x): GELU'(x) = ½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²), t = tanh u.
static inline float gelu_backward_core(float v, float g) {
    float t = tanh_core(gelu_u(v));
    float du = 0.7978845608028654f * (1.0f + 3.0f * 0.044715f * v * v);
    return g * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
}

// In blocks of 16, as tg_exp: y may alias x (and dx dy) and the in-place call stays vectorised.
TG_CLONES void tg_gelu(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        float t[16];
        for (int l = 0; l < 16; l++) t[l] = gelu_core(x[i + l]);
        for (int l = 0; l < 16; l++) y[i + l] = t[l];
    }
    for (; i < n; i++) y[i] = gelu_core(x[i]);
}

TG_CLONES void tg_gelu_backward(const float *x, const float *dy, float *dx, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        float t[16];
        for (int l = 0; l < 16; l++) t[l] = gelu_backward_core(x[i + l], dy[i + l]);
        for (int l = 0; l < 16; l++) dx[i + l] = t[l];
    }
    for (; i < n; i++) dx[i] = gelu_backward_core(x[i], dy[i]);
}

TG_CLONES float tg_max(const float *x, int64_t n) {
    float acc[16];
    for (int l = 0; l < 16; l++) acc[l] = -INFINITY;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int l = 0; l < 16; l++) acc[l] = x[i + l] > acc[l] ? x[i + l] : acc[l];
    }
    float m = -INFINITY;
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    for (int l = 0; l < 16; l++) m = acc[l] > m ? acc[l] : m;
    return m;
}

// Not contracted: no clone fuses d·d into the sum, so every CPU gives the same bits.
#pragma STDC FP_CONTRACT OFF
TG_CLONES double tg_squared_distance(const float *x, const float *y, int64_t n) {
    double acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int l = 0; l < 8; l++) {
            double d = (double)x[i + l] - (double)y[i + l];
            acc[l] += d * d;
        }
    }
    double s = 0;
    for (; i < n; i++) {
        double d = (double)x[i] - (double)y[i];
        s += d * d;
    }
    for (int l = 0; l < 8; l++) s += acc[l];
    return s;
}
#pragma STDC FP_CONTRACT ON

// The LSTM cell's element-wise products, not contracted into FMAs: the bits of the Swift expressions they replace.
#pragma STDC FP_CONTRACT OFF

static inline float cell_state(float f, float c_prev, float i, float g) { return f * c_prev + i * g; }
static inline float cell_output(float o, float tanh_c) { return o * tanh_c; }
#pragma STDC FP_CONTRACT ON

TG_CLONES void tg_lstm_cell_forward(float *restrict gates, const float *restrict c_prev, float *restrict c,
                                    float *restrict tanh_c, float *restrict h, int64_t B, int64_t H) {
    for (int64_t b = 0; b < B; b++) {
        float *g = gates + b * 4 * H;
        for (int64_t j = 0; j < 3 * H; j++) g[j] = sigmoid_core(g[j]);
        for (int64_t j = 3 * H; j < 4 * H; j++) g[j] = tanh_core(g[j]);
        const float *cp = c_prev + b * H;
        float *cb = c + b * H, *tb = tanh_c + b * H, *hb = h + b * H;
        for (int64_t j = 0; j < H; j++) cb[j] = cell_state(g[H + j], cp[j], g[j], g[3 * H + j]);
        for (int64_t j = 0; j < H; j++) tb[j] = tanh_core(cb[j]);
        for (int64_t j = 0; j < H; j++) hb[j] = cell_output(g[2 * H + j], tb[j]);
    }
}

/// Σ x_i·y_i in double: eight running sums, then the tail, then the eight in order.
static inline double dot_in_double(const float *x, const float *y, int64_t n) {
    double acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int l = 0; l < 8; l++) acc[l] += (double)x[i + l] * (double)y[i + l];
    }
    double s = 0;
    for (; i < n; i++) s += (double)x[i] * (double)y[i];
    for (int l = 0; l < 8; l++) s += acc[l];
    return s;
}

TG_CLONES double tg_sum_squares(const float *x, int64_t n) { return dot_in_double(x, x, n); }

TG_CLONES void tg_softmax_input_gradient(const float *p, const float *d, int64_t n, float scale, float *out) {
    float inner = (float)dot_in_double(d, p, n);
    for (int64_t i = 0; i < n; i++) out[i] = scale * p[i] * (d[i] - inner);
}

TG_CLONES void tg_scale(float *y, float a, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] *= a;
}

TG_CLONES void tg_attend_cached(const float *q, const float *k, const float *v, int64_t positions, int64_t heads,
                                int64_t width, float *scores, float *out) {
    int64_t D = width / heads;
    float scale = 1.0f / sqrtf((float)D);
    for (int64_t h = 0; h < heads; h++) {
        const float *qh = q + h * D;
        float top = -INFINITY;
        for (int64_t j = 0; j < positions; j++) {
            const float *kh = k + j * width + h * D;
            float dot = 0;
            for (int64_t d = 0; d < D; d++) dot += qh[d] * kh[d];
            scores[j] = dot * scale;
            top = scores[j] > top ? scores[j] : top;
        }
        float sum = 0;
        for (int64_t j = 0; j < positions; j++) {
            scores[j] = expf(scores[j] - top);
            sum += scores[j];
        }
        float inverse = 1.0f / sum;
        float *oh = out + h * D;
        for (int64_t d = 0; d < D; d++) oh[d] = 0;
        for (int64_t j = 0; j < positions; j++) {
            float p = scores[j] * inverse;
            const float *vh = v + j * width + h * D;
            for (int64_t d = 0; d < D; d++) oh[d] += p * vh[d];
        }
    }
}

TG_CLONES void tg_axpy(float a, const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

// Contraction into FMA would round differently from the scalar rule the tests and checkpoints rely on.
#pragma STDC FP_CONTRACT OFF
TG_CLONES void tg_xent_gradient_row(float *restrict y, float a, int64_t t, float c, float *restrict sum, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float g = y[i] * a;
        g = i == t ? g - c : g;
        y[i] = g;
        sum[i] += g;
    }
}

TG_CLONES void tg_adam(float *restrict w, const float *restrict g, float *restrict m, float *restrict v, int64_t n, float beta1, float beta2,
                       float step_size, float correction2, float epsilon, float weight_decay) {
    const float keep1 = 1 - beta1, keep2 = 1 - beta2;
    for (int64_t i = 0; i < n; i++) {
        float gi = weight_decay != 0 ? g[i] + weight_decay * w[i] : g[i];
        float mi = beta1 * m[i] + keep1 * gi;
        float vi = beta2 * v[i] + keep2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] -= step_size * mi / (sqrtf(vi / correction2) + epsilon);
    }
}
#pragma STDC FP_CONTRACT ON

/// The table rows of the window PREFETCH_WINDOWS ahead are asked for while a window is summed: the tables are far
/// larger than the caches (V·w·F floats per width) and the tokens pick rows at random, so without this nearly every
/// row's first load waits on memory. Prefetching changes no value.
enum { PREFETCH_WINDOWS = 3 };

static inline void prefetch_row(const float *row, int64_t F) {
    for (int64_t f = 0; f < F; f += 16) __builtin_prefetch(row + f, 0, 3);
}

TG_CLONES void tg_table_conv_max(const float *restrict table, int64_t V, int64_t F, int64_t w,
                                 const int32_t *restrict ids, int64_t T, const float *restrict bias,
                                 float *restrict acc, float *restrict out, int64_t first, const float *restrict init,
                                 const float *restrict partial, int64_t shared) {
    int64_t p = first < 0 ? 0 : first;
    int started = init != NULL;
    if (started) {
        for (int64_t f = 0; f < F; f++) out[f] = init[f];
    }
    for (; p + w <= T; p++) {
        // A window that starts inside the shared prefix continues its run's partial sum.
        int64_t k0 = partial && p < shared ? shared - p : 0;
        const float *start = k0 > 0 ? partial + (p - first) * F : bias;
        for (int64_t f = 0; f < F; f++) acc[f] = start[f];
        int ahead = p + PREFETCH_WINDOWS + w <= T;
        for (int64_t k = k0; k < w; k++) {
            if (ahead) prefetch_row(table + (k * V + ids[p + PREFETCH_WINDOWS + k]) * F, F);
            const float *row = table + (k * V + ids[p + k]) * F;
            for (int64_t f = 0; f < F; f++) acc[f] += row[f];
        }
        if (!started) {
            for (int64_t f = 0; f < F; f++) out[f] = acc[f];
            started = 1;
        } else {
            for (int64_t f = 0; f < F; f++) out[f] = acc[f] > out[f] ? acc[f] : out[f];
        }
    }
}

TG_CLONES void tg_table_conv_partials(const float *restrict table, int64_t V, int64_t F, int64_t w,
                                      const int32_t *restrict ids, int64_t shared, const float *restrict bias,
                                      int64_t first, int64_t last, float *restrict out) {
    for (int64_t p = first < 0 ? 0 : first; p < last; p++) {
        float *acc = out + (p - first) * F;
        for (int64_t f = 0; f < F; f++) acc[f] = bias[f];
        for (int64_t k = 0; k < shared - p; k++) {
            const float *row = table + (k * V + ids[p + k]) * F;
            for (int64_t f = 0; f < F; f++) acc[f] += row[f];
        }
    }
}

TG_CLONES void tg_max_over_time(const float *restrict conv, int64_t P, int64_t F, float *restrict out,
                                int32_t *restrict argmax) {
    for (int64_t f = 0; f < F; f++) {
        out[f] = conv[f];
        argmax[f] = 0;
    }
    for (int64_t p = 1; p < P; p++) {
        const float *row = conv + p * F;
        for (int64_t f = 0; f < F; f++) {
            int greater = row[f] > out[f];
            out[f] = greater ? row[f] : out[f];
            argmax[f] = greater ? (int32_t)p : argmax[f];
        }
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
// 64 outputs at a time in registers, over all gathered rows, then one store: a load and an FMA per 16 terms (an axpy
// per row would also load and store `out` for each). Even and odd rows go to separate accumulators, so eight FMA
// chains are in flight (four would wait on the FMA latency); out[j] = (out[j] + Σ_even) + Σ_odd.
__attribute__((target("avx512f"))) static void gather_axpy_avx512(float *out, int64_t n, const float *base,
                                                                    const int64_t *offsets, const float *coefficients,
                                                                    int64_t count, int accumulate) {
    int64_t j = 0;
    for (; j + 64 <= n; j += 64) {
        __m512 even[4], odd[4];
        for (int v = 0; v < 4; v++) {
            even[v] = accumulate ? _mm512_loadu_ps(out + j + 16 * v) : _mm512_setzero_ps();
            odd[v] = _mm512_setzero_ps();
        }
        int64_t i = 0;
        for (; i + 2 <= count; i += 2) {
            const float *r0 = base + offsets[i] + j, *r1 = base + offsets[i + 1] + j;
            __m512 c0 = _mm512_set1_ps(coefficients[i]), c1 = _mm512_set1_ps(coefficients[i + 1]);
            for (int v = 0; v < 4; v++) {
                even[v] = _mm512_fmadd_ps(c0, _mm512_loadu_ps(r0 + 16 * v), even[v]);
                odd[v] = _mm512_fmadd_ps(c1, _mm512_loadu_ps(r1 + 16 * v), odd[v]);
            }
        }
        if (i < count) {
            const float *r0 = base + offsets[i] + j;
            __m512 c0 = _mm512_set1_ps(coefficients[i]);
            for (int v = 0; v < 4; v++) even[v] = _mm512_fmadd_ps(c0, _mm512_loadu_ps(r0 + 16 * v), even[v]);
        }
        for (int v = 0; v < 4; v++) _mm512_storeu_ps(out + j + 16 * v, _mm512_add_ps(even[v], odd[v]));
    }
    // The last columns (fewer than 64), 16 at a time with masks, in the same order.
    for (; j < n; j += 16) {
        __mmask16 mask = n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1);
        __m512 even = accumulate ? _mm512_maskz_loadu_ps(mask, out + j) : _mm512_setzero_ps(), odd = _mm512_setzero_ps();
        int64_t i = 0;
        for (; i + 2 <= count; i += 2) {
            even = _mm512_fmadd_ps(_mm512_set1_ps(coefficients[i]), _mm512_maskz_loadu_ps(mask, base + offsets[i] + j), even);
            odd = _mm512_fmadd_ps(_mm512_set1_ps(coefficients[i + 1]), _mm512_maskz_loadu_ps(mask, base + offsets[i + 1] + j), odd);
        }
        if (i < count) even = _mm512_fmadd_ps(_mm512_set1_ps(coefficients[i]), _mm512_maskz_loadu_ps(mask, base + offsets[i] + j), even);
        _mm512_mask_storeu_ps(out + j, mask, _mm512_add_ps(even, odd));
    }
}
#endif

void tg_gather_axpy(float *out, int64_t n, const float *base, const int64_t *offsets, const float *coefficients,
                    int64_t count, int accumulate) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (tg_sgemm_available()) {
        gather_axpy_avx512(out, n, base, offsets, coefficients, count, accumulate);
        return;
    }
#endif
    for (int64_t j = 0; j < n; j++) {
        float even = accumulate ? out[j] : 0, odd = 0;
        for (int64_t i = 0; i < count; i++) {
            if (i % 2 == 0) even = fmaf(coefficients[i], base[offsets[i] + j], even);
            else odd = fmaf(coefficients[i], base[offsets[i] + j], odd);
        }
        out[j] = even + odd;
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// 16 elements per compare; the non-zero lanes are packed by compress stores (values, then their indices).
__attribute__((target("avx512f"))) static int64_t nonzeros_avx512(const float *x, int64_t n, int64_t scale,
                                                                  int64_t limit, int64_t *offsets, float *values) {
    int64_t count = 0, i = 0;
    const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (; i < n; i += 16) {
        __mmask16 valid = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(valid, x + i);
        __mmask16 nz = _mm512_mask_cmp_ps_mask(valid, v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
        if (!nz) continue;
        int found = __builtin_popcount(nz);
        if (count + found > limit) return limit + 1;
        _mm512_mask_compressstoreu_ps(values + count, nz, v);
        int32_t index[16];
        _mm512_mask_compressstoreu_epi32(index, nz, lanes);
        for (int c = 0; c < found; c++) offsets[count + c] = (i + index[c]) * scale;
        count += found;
    }
    return count;
}
#endif

int64_t tg_nonzeros(const float *x, int64_t n, int64_t scale, int64_t limit, int64_t *offsets, float *values) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (tg_sgemm_available()) return nonzeros_avx512(x, n, scale, limit, offsets, values);
#endif
    int64_t count = 0;
    for (int64_t i = 0; i < n; i++) {
        if (x[i] != 0) {  // NaN != 0 holds
            if (count == limit) return limit + 1;
            offsets[count] = i * scale;
            values[count] = x[i];
            count++;
        }
    }
    return count;
}

TG_CLONES int64_t tg_inverse_cdf(const float *w, int64_t n, float target) {
    // Skip whole blocks of 64 by their sums (vectorised), then walk the block that crosses the target.
    float cumulative = 0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        float acc[16] = {0};
        for (int j = 0; j < 64; j += 16) {
            for (int l = 0; l < 16; l++) acc[l] += w[i + j + l];
        }
        float s = 0;
        for (int l = 0; l < 16; l++) s += acc[l];
        if (cumulative + s > target) break;
        cumulative += s;
    }
    for (; i < n; i++) {
        if (w[i] > 0) {
            cumulative += w[i];
            if (cumulative > target) return i;
        }
    }
    // The target reached the total through rounding: the last token with weight.
    for (int64_t j = n - 1; j >= 0; j--) {
        if (w[j] > 0) return j;
    }
    return n - 1;
}

// ln x for finite normal x > 0 (the callers pass uniforms in [2⁻²⁴, 1 − 2⁻²⁴], their −ln, ≥ 6e-8, and sums of
// those with numbers in [0, 1]): x = 2^e·m with m in [√½, √2), ln x = e·ln 2 + ln(1 + t), t = m − 1 (exact), and
// ln(1 + t) = t − t²/2 + t³·Q(t) with Q of degree 6, fitted here by weighted least squares on Chebyshev nodes for
// the relative error over |t| ≤ 0.415 (≤ 9.4e-8 evaluated in float, about 1.5 ulp). No division, so a vector of 16
// costs a few FMAs; branch-free, so the loops that call it vectorise.
static inline float log_core(float x) {
    union { float f; uint32_t u; } v = { x };
    int32_t e = (int32_t)((v.u >> 23) & 0xff) - 127;
    v.u = (v.u & 0x7fffffu) | 0x3f800000u;  // m in [1, 2)
    float m = v.f;
    int big = m > 1.41421356f;
    m = big ? 0.5f * m : m;
    e += big;
    float t = m - 1.0f, t2 = t * t;
    float q = 0.0850696936f;
    q = q * t - 0.141975030f;
    q = q * t + 0.149509892f;
    q = q * t - 0.165879458f;
    q = q * t + 0.199605957f;
    q = q * t - 0.250009686f;
    q = q * t + 0.333339721f;
    float l = t + (-0.5f * t2 + t * t2 * q);
    return (float)e * 0.693359375f + ((float)e * -2.12194440e-4f + l);
}

// g_i for the top-down construction below: a Gumbel of location o truncated below M, minus o, from its uniform.
static inline float truncated_gumbel(float o, float M, float u) {
    float E = -log_core(u);
    float a = M - o;
    float t = a > 0 ? -a : a;  // −|a|
    float s = t >= -87.33655f ? exp_core(t) : 0.0f;
    int above = a >= 0;
    return (above ? 0.0f : a) - log_core(above ? s + E : 1.0f + s * E);
}

TG_CLONES float tg_gumbel_noise(const float *o, int64_t V, int64_t y, float lse, const float *u, float *g) {
    // E_i = −ln u_i ~ Exponential(1); a free Gumbel of location o_i is o_i − ln E_i.
    if (y < 0) {
        for (int64_t i = 0; i < V; i++) g[i] = -log_core(-log_core(u[i]));
        return -INFINITY;
    }
    // The maximum M = logsumexp(o) + Gumbel; every other perturbed logit is a Gumbel of location o_i truncated
    // below M: z_i = −ln(e^{−M} + e^{−o_i}·E_i). With a = M − o_i and s = e^{−|a|} ≤ 1 (never overflows):
    //   a ≥ 0: z_i = o_i − ln(s + E_i),       so g_i = −ln(s + E_i);
    //   a < 0: z_i = M − ln(1 + s·E_i),        so g_i = a − ln(1 + s·E_i).
    // Two logarithms and one exponential per entry.
    float M = lse - log_core(-log_core(u[V]));
    float acc[16];
    for (int l = 0; l < 16; l++) acc[l] = -INFINITY;
    int64_t i = 0;
    for (; i + 16 <= V; i += 16) {
        for (int l = 0; l < 16; l++) {
            int64_t j = i + l;
            g[j] = truncated_gumbel(o[j], M, u[j]);
            float z = o[j] + g[j];
            acc[l] = j != y && z > acc[l] ? z : acc[l];
        }
    }
    float best = -INFINITY;
    for (; i < V; i++) {
        g[i] = truncated_gumbel(o[i], M, u[i]);
        float z = o[i] + g[i];
        best = i != y && z > best ? z : best;
    }
    for (int l = 0; l < 16; l++) best = acc[l] > best ? acc[l] : best;
    g[y] = M - o[y];
    return best;
}

TG_CLONES int64_t tg_gumbel_max(const float *o, int64_t V, const float *u, float *z) {
    // Two passes: the perturbed logits (a plain map, which the compiler vectorises without spilling), then the first
    // maximum of z. Each z[j] is the same expression as in one fused pass, so the bits do not depend on the split.
    for (int64_t j = 0; j < V; j++) z[j] = o[j] - log_core(-log_core(u[j]));
    // 16 running maxima (lane l sees i ≡ l mod 16) with the first index attaining each; then the smallest index
    // among the lanes' equal maxima, so the result is the first maximum of the row whatever the vector width.
    float best[16];
    int64_t at[16];
    for (int l = 0; l < 16; l++) {
        best[l] = -INFINITY;
        at[l] = -1;
    }
    int64_t i = 0;
    for (; i + 16 <= V; i += 16) {
        for (int l = 0; l < 16; l++) {
            int better = z[i + l] > best[l];
            best[l] = better ? z[i + l] : best[l];
            at[l] = better ? i + l : at[l];
        }
    }
    float top = -INFINITY;
    int64_t argmax = -1;
    for (; i < V; i++) {
        if (z[i] > top) {
            top = z[i];
            argmax = i;
        }
    }
    for (int l = 0; l < 16; l++) {
        if (at[l] >= 0 && (best[l] > top || (best[l] == top && at[l] < argmax))) {
            top = best[l];
            argmax = at[l];
        }
    }
    return argmax < 0 ? 0 : argmax;
}

// xoshiro256** (Blackman & Vigna) as SeededGenerator.next() computes it, on `lanes` ≤ 8 independent streams at once
// (one 64-bit lane each), every output turned into SeededGenerator's open uniform (2k + 1)·2⁻²⁴ with k the top 23
// bits. The lanes are independent, so the values are those of the streams run one after another.
static inline uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

TG_CLONES void tg_open_uniforms(uint64_t *state, int64_t lanes, int64_t count, float *const *out) {
    uint64_t s0[8] = {0}, s1[8] = {0}, s2[8] = {0}, s3[8] = {0};
    for (int64_t l = 0; l < lanes && l < 8; l++) {
        s0[l] = state[4 * l];
        s1[l] = state[4 * l + 1];
        s2[l] = state[4 * l + 2];
        s3[l] = state[4 * l + 3];
    }
    for (int64_t i = 0; i < count; i++) {
        float f[8];
        for (int l = 0; l < 8; l++) {
            uint64_t result = rotl64(s1[l] * 5, 7) * 9;
            uint64_t t = s1[l] << 17;
            s2[l] ^= s0[l];
            s3[l] ^= s1[l];
            s1[l] ^= s2[l];
            s0[l] ^= s3[l];
            s2[l] ^= t;
            s3[l] = rotl64(s3[l], 45);
            f[l] = (float)(int32_t)(2 * (result >> 41) + 1) * 0x1p-24f;
        }
        for (int64_t l = 0; l < lanes && l < 8; l++) out[l][i] = f[l];
    }
    for (int64_t l = 0; l < lanes && l < 8; l++) {
        state[4 * l] = s0[l];
        state[4 * l + 1] = s1[l];
        state[4 * l + 2] = s2[l];
        state[4 * l + 3] = s3[l];
    }
}
