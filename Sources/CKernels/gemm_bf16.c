// The CPU's features, and a mixed-precision matrix product: bf16 operands, fp32 accumulation (see CKernels.h).
//
// tg_sgemm_bf16 multiplies with AVX512_BF16's VDPBF16PS, which adds two bf16 products to an fp32 lane per
// instruction: twice the multiply-adds of an fp32 FMA. Its semantics are exact enough to be copied in scalar code:
// for each lane, acc += a[2p+1]·b[2p+1], then acc += a[2p]·b[2p], each an fp32 fused multiply-add (the product of two
// bf16 values is exact in fp32) rounded to nearest even, with bf16 denormal inputs read as zero and denormal results
// flushed to zero. tg_sgemm_bf16_reference does exactly that in the same order, so the two agree to the bit.
//
// Operands are rounded to bf16 (nearest, ties to even) while packing, by the same scalar function in both (the AVX-512
// packers write its bits): B once into 32-column panels of k-pairs (from B or from the transpose of a matrix stored
// [n, k]), A per 12-row block into pairs (from A, from Aᵀ as stored, or from row pointers). With
// tg_bf16_set_kernel(TG_BF16_AMX) the same packed B goes to gemm_amx.c's tile kernel instead. Each C element is one
// chain over k in order (continued from C's value when accumulating), so a caller may split C's rows over threads
// without changing a bit.
#include "CKernels.h"
#include "bf16_round.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>

static uint64_t xgetbv0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

uint32_t tg_cpu_features(void) {
    static int32_t cached = -1;
    if (cached >= 0) return (uint32_t)cached;
    uint32_t features = 0, a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return (uint32_t)(cached = 0);
    int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1;
    uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    int ymm = (xcr0 & 0x6) == 0x6, zmm = (xcr0 & 0xE6) == 0xE6, tiles = (xcr0 & 0x60000) == 0x60000;
    if (fma && ymm) features |= TG_CPU_FMA;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        if (((b >> 5) & 1) && ymm) features |= TG_CPU_AVX2;
        if (((b >> 16) & 1) && zmm) features |= TG_CPU_AVX512F;
        if (((b >> 30) & 1) && zmm) features |= TG_CPU_AVX512BW;
        if (((d >> 23) & 1) && zmm) features |= TG_CPU_AVX512_FP16;
        if (((d >> 22) & 1) && tiles) features |= TG_CPU_AMX_BF16;
        if (((d >> 24) & 1) && tiles) features |= TG_CPU_AMX_TILE;
        if (__get_cpuid_count(7, 1, &a, &b, &c, &d) && ((a >> 5) & 1) && zmm) features |= TG_CPU_AVX512_BF16;
    }
    cached = (int32_t)features;
    return features;
}

int tg_cpu_brand(char *out, int64_t capacity) {
    uint32_t regs[12];
    if (capacity < 49 || __get_cpuid_max(0x80000000, NULL) < 0x80000004) return 0;
    for (uint32_t i = 0; i < 3; i++) __get_cpuid(0x80000002 + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
    memcpy(out, regs, 48);
    out[48] = 0;
    return 1;
}

static double tg_monotonic_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/// Where the probes' sums go, so no loop is optimised away.
static volatile float probe_sink;

/// Seconds for `iterations` rounds of 12 independent chains: long enough chains that latency never limits, and the
/// operands hidden from the optimiser so every instruction runs.
__attribute__((target("avx512f"))) static double fma_seconds(int64_t iterations, float *sink) {
    __m512 acc[12], x = _mm512_set1_ps(1e-3f), y = _mm512_set1_ps(1e-3f);
    for (int i = 0; i < 12; i++) acc[i] = _mm512_setzero_ps();
    double start = tg_monotonic_seconds();
    for (int64_t n = 0; n < iterations; n++) {
        __asm__ volatile("" : "+v"(x), "+v"(y));
        for (int i = 0; i < 12; i++) acc[i] = _mm512_fmadd_ps(x, y, acc[i]);
    }
    double seconds = tg_monotonic_seconds() - start;
    for (int i = 1; i < 12; i++) acc[0] = _mm512_add_ps(acc[0], acc[i]);
    *sink += _mm512_reduce_add_ps(acc[0]);
    return seconds;
}

__attribute__((target("avx512f,avx512bf16"))) static double dpbf16_seconds(int64_t iterations, float *sink) {
    __m512 acc[12];
    __m512bh x = (__m512bh)_mm512_set1_epi32(0x3F803F80), y = (__m512bh)_mm512_set1_epi32(0x3C003C00);
    for (int i = 0; i < 12; i++) acc[i] = _mm512_setzero_ps();
    double start = tg_monotonic_seconds();
    for (int64_t n = 0; n < iterations; n++) {
        __asm__ volatile("" : "+v"(x), "+v"(y));
        for (int i = 0; i < 12; i++) acc[i] = _mm512_dpbf16_ps(acc[i], x, y);
    }
    double seconds = tg_monotonic_seconds() - start;
    for (int i = 1; i < 12; i++) acc[0] = _mm512_add_ps(acc[0], acc[i]);
    *sink += _mm512_reduce_add_ps(acc[0]);
    return seconds;
}

int tg_multiply_add_rates(double *fp32, double *bf16) {
    uint32_t features = tg_cpu_features();
    *fp32 = *bf16 = 0;
    if (!(features & TG_CPU_AVX512F)) return 0;
    // The best of five short rounds: a round the scheduler interrupts reads slow, never fast.
    enum { ROUNDS = 5, ITERATIONS = 20000 };
    float sink = 0;
    double best_fma = 1e30, best_bf16 = 1e30;
    for (int r = 0; r < ROUNDS; r++) {
        double t = fma_seconds(ITERATIONS, &sink);
        if (t < best_fma) best_fma = t;
        if (features & TG_CPU_AVX512_BF16) {
            t = dpbf16_seconds(ITERATIONS, &sink);
            if (t < best_bf16) best_bf16 = t;
        }
    }
    probe_sink = sink;
    if (best_fma > 0) *fp32 = 12.0 * 16 * ITERATIONS / best_fma;
    if ((features & TG_CPU_AVX512_BF16) && best_bf16 > 0) *bf16 = 12.0 * 32 * ITERATIONS / best_bf16;
    return 1;
}

#else

uint32_t tg_cpu_features(void) { return 0; }
int tg_cpu_brand(char *out, int64_t capacity) { (void)out; (void)capacity; return 0; }
int tg_multiply_add_rates(double *fp32, double *bf16) { *fp32 = *bf16 = 0; return 0; }

#endif

// MARK: - bf16 rounding and the scalar twin

uint16_t tg_bf16_from_float(float x) {
    uint32_t bits;
    memcpy(&bits, &x, 4);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((bits >> 16) | 0x0040u);  // NaN stays NaN (quiet)
    return (uint16_t)((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

float tg_float_from_bf16(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float x;
    memcpy(&x, &bits, 4);
    return x;
}

/// A bf16 operand as VDPBF16PS reads it: a denormal is zero.
static inline float bf16_daz(uint16_t h) {
    if ((h & 0x7F80u) == 0) h &= 0x8000u;
    return tg_float_from_bf16(h);
}

/// An fp32 result as VDPBF16PS writes it: a denormal is (signed) zero.
static inline float ftz(float x) {
    if (x != 0 && fabsf(x) < 1.17549435e-38f) return x < 0 ? -0.0f : 0.0f;
    return x;
}

void tg_sgemm_bf16_reference_ex(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const float *a,
                                int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc, int accumulate) {
    // Element (i, p) of op(A) and (p, j) of op(B), as stored.
    int64_t ai = trans_a ? 1 : lda, ap = trans_a ? lda : 1, bp = trans_b ? 1 : ldb, bj = trans_b ? ldb : 1;
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            // With `accumulate` the chain goes on from C's value, as the kernel's does.
            float acc = accumulate ? c[i * ldc + j] : 0;
            for (int64_t p = 0; p < k; p += 2) {
                // The odd element of the pair first (zero past the end), then the even one.
                float a1 = p + 1 < k ? bf16_daz(tg_bf16_from_float(a[i * ai + (p + 1) * ap])) : 0;
                float b1 = p + 1 < k ? bf16_daz(tg_bf16_from_float(b[(p + 1) * bp + j * bj])) : 0;
                acc = ftz(fmaf(a1, b1, acc));
                float a0 = bf16_daz(tg_bf16_from_float(a[i * ai + p * ap]));
                float b0 = bf16_daz(tg_bf16_from_float(b[p * bp + j * bj]));
                acc = ftz(fmaf(a0, b0, acc));
            }
            c[i * ldc + j] = acc;
        }
    }
}

void tg_sgemm_bf16_reference(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
                             int64_t ldb, float *c, int64_t ldc) {
    tg_sgemm_bf16_reference_ex(0, 0, m, n, k, a, lda, b, ldb, c, ldc, 0);
}

// MARK: - Packing

enum { BF_MR = 12, BF_NR = 32 };

int64_t tg_bf16_padded_pairs(int64_t k) { return ((k + 1) / 2 + 15) / 16 * 16; }

int64_t tg_bf16_packed_b_count(int64_t k, int64_t n) {
    return tg_bf16_padded_pairs(k) * ((n + BF_NR - 1) / BF_NR) * BF_NR * 2;
}

// A packing is written whole by pack_b (pads included, so its buffer need not be zeroed first), or rewritten in part
// after B changed: the pairs of some of B's rows (tg_bf16_pack_b_rows) or some of its columns
// (tg_bf16_pack_b_transposed_columns), which leaves the pads as they were. An optimizer that updates a weight a block
// of rows at a time repacks each block while it is in cache.

/// Pairs q0 ..< q1 of columns j0 ..< j1 (whole panels' worth, up to the padded width) from B's element (p, j) at
/// b[(p − base)·row + j·column] (b points at row `base`, never before it), zeros past k and n: the scalar packer,
/// twin of the vector ones.
static void pack_b_scalar(int64_t k, int64_t n, const float *b, int64_t base, int64_t row, int64_t column, int64_t q0,
                          int64_t q1, int64_t j0, int64_t j1, uint16_t *out) {
    int64_t stride = tg_bf16_padded_pairs(k);
    for (int64_t col = j0; col < j1; col++) {
        uint16_t *panel = out + (col / BF_NR) * stride * BF_NR * 2;
        for (int64_t q = q0; q < q1; q++) {
            for (int64_t h = 0; h < 2; h++) {
                int64_t p = 2 * q + h;
                panel[(q * BF_NR + col % BF_NR) * 2 + h] = col < n && p < k ? tg_bf16_from_float(b[(p - base) * row + col * column]) : 0;
            }
        }
    }
}

static int scalar_packing = 0;

void tg_bf16_set_scalar_packing(int on) { scalar_packing = on != 0; }

int tg_bf16_scalar_packing(void) { return scalar_packing; }

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
static int vector_packing(void) { return !scalar_packing && (tg_cpu_features() & TG_CPU_AVX512BW); }

/// Pairs q0 ..< q1 of every panel from rows of B (b: row 2·q0, rows `ld` floats apart): 16 columns of rows p and p + 1
/// at a time, interleaved into 32-bit words (even k in the low half). Columns past n in a panel's second half are not
/// written.
BW static void pack_rows_avx512(int64_t k, int64_t n, const float *b, int64_t ld, int64_t q0, int64_t q1, uint16_t *out) {
    int64_t stride = tg_bf16_padded_pairs(k);
    uint32_t *words = (uint32_t *)out;
    for (int64_t j0 = 0; j0 < n; j0 += BF_NR) {
        uint32_t *panel = words + (j0 / BF_NR) * stride * BF_NR;
        for (int64_t q = q0; q < q1; q++) {
            int64_t p = 2 * q, r = p - 2 * q0;
            for (int64_t half = 0; half < 2; half++) {
                int64_t j = j0 + 16 * half;
                __mmask16 mask = first_lanes(n - j);
                if (!mask) break;
                __m512i lo = _mm512_cvtepu16_epi32(bf16_round16(_mm512_maskz_loadu_ps(mask, b + r * ld + j)));
                __m512i hi = p + 1 < k ? _mm512_cvtepu16_epi32(bf16_round16(_mm512_maskz_loadu_ps(mask, b + (r + 1) * ld + j)))
                                       : _mm512_setzero_si512();
                _mm512_storeu_si512(panel + q * BF_NR + 16 * half, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
            }
        }
    }
}

/// 16 vectors of 16 words transposed: r[i] lane j becomes r[j] lane i.
BW static inline void transpose16x16(__m512i r[16]) {
    __m512i t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    // u[4g + j], 128-bit lane L: rows 4g ..< 4g + 4 of column 4L + j.
    for (int g = 0; g < 16; g += 4) {
        u[g] = _mm512_unpacklo_epi64(t[g], t[g + 2]);
        u[g + 1] = _mm512_unpackhi_epi64(t[g], t[g + 2]);
        u[g + 2] = _mm512_unpacklo_epi64(t[g + 1], t[g + 3]);
        u[g + 3] = _mm512_unpackhi_epi64(t[g + 1], t[g + 3]);
    }
    for (int j = 0; j < 4; j++) {
        __m512i x0 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0x44), x1 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0xEE);
        __m512i y0 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0x44), y1 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0xEE);
        r[j] = _mm512_shuffle_i32x4(x0, y0, 0x88);
        r[4 + j] = _mm512_shuffle_i32x4(x0, y0, 0xDD);
        r[8 + j] = _mm512_shuffle_i32x4(x1, y1, 0x88);
        r[12 + j] = _mm512_shuffle_i32x4(x1, y1, 0xDD);
    }
}

/// 16 pairs q ..< q + 16 of one column (a row of bt) as 16 words: 32 consecutive k, zeros past k.
BW static inline __m512i column_pairs16(const float *source, int64_t k, int64_t q) {
    int64_t p = 2 * q;
    __m256i r0 = bf16_round16(_mm512_maskz_loadu_ps(first_lanes(k - p), source + p));
    __m256i r1 = bf16_round16(_mm512_maskz_loadu_ps(first_lanes(k - p - 16), source + p + 16));
    return _mm512_inserti64x4(_mm512_castsi256_si512(r0), r1, 1);
}

/// Columns j0 ..< j1 of B = btᵀ, every real pair. Sixteen columns that fill half a panel go 16 pairs at a time through
/// a register transpose into 16 whole panel rows (pairs past k's, in the pad, written as the zeros they are); any other
/// column's 16 pairs are scattered one panel row apart.
BW static void pack_columns_avx512(int64_t k, const float *bt, int64_t ld, int64_t j0, int64_t j1, uint16_t *out) {
    int64_t stride = tg_bf16_padded_pairs(k), pairs = (k + 1) / 2;
    uint32_t *words = (uint32_t *)out;
    __m512i rows16 = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                        _mm512_set1_epi32(BF_NR));
    for (int64_t col = j0; col < j1;) {
        uint32_t *panel = words + (col / BF_NR) * stride * BF_NR + col % BF_NR;
        if (col % 16 == 0 && col + 16 <= j1) {
            for (int64_t q = 0; q < pairs; q += 16) {
                __m512i r[16];
                for (int c = 0; c < 16; c++) r[c] = column_pairs16(bt + (col + c) * ld, k, q);
                transpose16x16(r);
                for (int i = 0; i < 16; i++) _mm512_storeu_si512(panel + (q + i) * BF_NR, r[i]);
            }
            col += 16;
        } else {
            for (int64_t q = 0; q < pairs; q += 16)
                _mm512_mask_i32scatter_epi32(panel + q * BF_NR, first_lanes(pairs - q), rows16,
                                             column_pairs16(bt + col * ld, k, q), 4);
            col += 1;
        }
    }
}
#else
static int vector_packing(void) { return 0; }
#endif

void tg_bf16_zero_pads(int64_t k, int64_t n, uint16_t *out) {
    int64_t stride = tg_bf16_padded_pairs(k), pairs = (k + 1) / 2, panels = (n + BF_NR - 1) / BF_NR;
    for (int64_t panel = 0; panel < panels; panel++) {
        uint16_t *base = out + panel * stride * BF_NR * 2;
        if (n % BF_NR && panel == panels - 1) memset(base, 0, (size_t)(stride * BF_NR * 2) * 2);
        else memset(base + pairs * BF_NR * 2, 0, (size_t)((stride - pairs) * BF_NR * 2) * 2);
    }
}

/// The whole packing: with the vector packers, the pads (every pair past k's, and all of a last, partial panel)
/// zeroed first and the real pairs written over them; the scalar packer writes every value itself.
static void pack_b(int64_t k, int64_t n, const float *b, int64_t row, int64_t column, uint16_t *out) {
    int64_t stride = tg_bf16_padded_pairs(k), panels = (n + BF_NR - 1) / BF_NR;
    if (!vector_packing()) {
        pack_b_scalar(k, n, b, 0, row, column, 0, stride, 0, panels * BF_NR, out);
        return;
    }
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    tg_bf16_zero_pads(k, n, out);
    if (column == 1) pack_rows_avx512(k, n, b, row, 0, (k + 1) / 2, out);
    else pack_columns_avx512(k, b, column, 0, n, out);
#endif
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
BW static void round_row_avx512(const float *x, int64_t count, uint16_t *out) {
    for (int64_t i = 0; i < count; i += 16) {
        __mmask16 mask = first_lanes(count - i);
        _mm512_mask_cvtepi32_storeu_epi16(out + i, mask, bf16_round16_wide(_mm512_maskz_loadu_ps(mask, x + i)));
    }
}
#endif

void tg_bf16_round_row(const float *x, int64_t count, uint16_t *out) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (vector_packing()) {
        round_row_avx512(x, count, out);
        return;
    }
#endif
    for (int64_t i = 0; i < count; i++) out[i] = tg_bf16_from_float(x[i]);
}

void tg_bf16_pack_b(int64_t k, int64_t n, const float *b, int64_t ldb, uint16_t *out) { pack_b(k, n, b, ldb, 1, out); }

void tg_bf16_pack_b_transposed(int64_t k, int64_t n, const float *bt, int64_t ldbt, uint16_t *out) {
    pack_b(k, n, bt, 1, ldbt, out);
}

void tg_bf16_pack_b_rows(int64_t k, int64_t n, const float *b, int64_t ldb, int64_t p0, int64_t p1, uint16_t *out) {
    int64_t q0 = p0 / 2, q1 = (p1 + 1) / 2;
    if (!vector_packing()) {
        pack_b_scalar(k, n, b, p0, ldb, 1, q0, q1, 0, n, out);
        return;
    }
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    pack_rows_avx512(k, n, b, ldb, q0, q1, out);
#endif
}

void tg_bf16_pack_b_transposed_columns(int64_t k, int64_t n, const float *bt, int64_t ldbt, int64_t j0, int64_t j1,
                                       uint16_t *out) {
    if (!vector_packing()) {
        pack_b_scalar(k, n, bt, 0, 1, ldbt, 0, (k + 1) / 2, j0, j1, out);
        return;
    }
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    pack_columns_avx512(k, bt, ldbt, j0, j1, out);
#endif
}

/// Where A's rows are: element (i, p) is a[i·row + p·column], or rows[i][p] when `rows` is given (a
/// convolution's overlapping windows, read where they lie).
typedef struct {
    const float *a;
    int64_t row, column;
    const float *const *rows;
} a_layout;

static inline float a_at(const a_layout *l, int64_t i, int64_t p) {
    return l->rows ? l->rows[i][p] : l->a[i * l->row + p * l->column];
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#define BF16 __attribute__((target("avx512f,avx512bw,avx512bf16")))

/// C[rows × cols] (rows ≤ 12, cols ≤ 32) = A pairs [pairs][12] · one B panel slice [pairs][32][2], added to C's
/// values when `accumulate` (a later K slice: the sums go on in k order, through an exact fp32 store and load).
BF16 __attribute__((noinline)) static void bf16_kernel(int64_t pairs, const uint32_t *ap, const uint16_t *bp, float *c,
                                                      int64_t ldc, int64_t rows, int64_t cols, int accumulate) {
    __m512 acc[BF_MR][2];
    __mmask16 m0 = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1);
    __mmask16 m1 = cols >= 32 ? 0xFFFF : cols <= 16 ? 0 : (__mmask16)((1u << (cols - 16)) - 1);
    for (int r = 0; r < BF_MR; r++) {
        if (accumulate && r < rows) {
            acc[r][0] = _mm512_maskz_loadu_ps(m0, c + r * ldc);
            acc[r][1] = _mm512_maskz_loadu_ps(m1, c + r * ldc + 16);
        } else {
            acc[r][0] = acc[r][1] = _mm512_setzero_ps();
        }
    }
    for (int64_t q = 0; q < pairs; q++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512((const void *)(bp + q * 64));
        __m512bh b1 = (__m512bh)_mm512_loadu_si512((const void *)(bp + q * 64 + 32));
        const uint32_t *aq = ap + q * BF_MR;
        for (int r = 0; r < BF_MR; r++) {
            __m512bh a = (__m512bh)_mm512_set1_epi32((int)aq[r]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], a, b0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], a, b1);
        }
    }
    for (int r = 0; r < rows; r++) {
        _mm512_mask_storeu_ps(c + r * ldc, m0, acc[r][0]);
        _mm512_mask_storeu_ps(c + r * ldc + 16, m1, acc[r][1]);
    }
}

/// Pairs q0 ..< q0 + kq of rows i0 ..< i0 + rows of op(A) into one block, out[q][r] = A(r, 2q) | A(r, 2q + 1) << 16
/// with zeros past k and in rows past `rows`: the scalar loop, or (unless tg_bf16_set_scalar_packing) the AVX-512
/// packers, which write its bits. Rows that lie in memory (A as stored, or row pointers) go 16 pairs of each row at
/// a time through a register transpose; Aᵀ as stored has the block's rows side by side, one pair of columns at a time.
BF16 static void pack_a(const a_layout *layout, int64_t k, int64_t i0, int64_t rows, int64_t q0, int64_t kq,
                        uint32_t *out) {
    if (vector_packing() && (layout->rows || layout->column == 1)) {
        const float *source[BF_MR];
        for (int64_t r = 0; r < rows; r++) source[r] = layout->rows ? layout->rows[i0 + r] : layout->a + (i0 + r) * layout->row;
        for (int64_t q = 0; q < kq; q += 16) {
            __m512i v[16];
            for (int r = 0; r < 16; r++) v[r] = r < rows ? column_pairs16(source[r], k, q0 + q) : _mm512_setzero_si512();
            transpose16x16(v);
            for (int64_t i = 0; i < 16 && q + i < kq; i++) _mm512_mask_storeu_epi32(out + (q + i) * BF_MR, 0x0FFF, v[i]);
        }
        return;
    }
    if (vector_packing() && !layout->rows && layout->row == 1) {
        __mmask16 mask = first_lanes(rows);
        for (int64_t q = 0; q < kq; q++) {
            int64_t p = 2 * (q0 + q);
            const float *column = layout->a + i0 + p * layout->column;
            __m512i lo = bf16_round16_wide(_mm512_maskz_loadu_ps(mask, column));
            __m512i hi = p + 1 < k ? bf16_round16_wide(_mm512_maskz_loadu_ps(mask, column + layout->column))
                                   : _mm512_setzero_si512();
            _mm512_mask_storeu_epi32(out + q * BF_MR, 0x0FFF, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
        }
        return;
    }
    for (int64_t q = 0; q < kq; q++) {
        int64_t p = 2 * (q0 + q);
        for (int64_t r = 0; r < BF_MR; r++) {
            uint32_t lo = 0, hi = 0;
            if (r < rows) {
                lo = tg_bf16_from_float(a_at(layout, i0 + r, p));
                hi = p + 1 < k ? tg_bf16_from_float(a_at(layout, i0 + r, p + 1)) : 0;
            }
            out[q * BF_MR + r] = lo | (hi << 16);
        }
    }
}

/// K in slices of BF_KC pairs; within a slice, A's rows are packed once (all row blocks), then each B panel's slice
/// (BF_KC × 32 pairs, 32 KB) stays in cache while every row block of A passes over it.
enum { BF_KC = 256 };

/// C = op(A) · B (+ C's values when `accumulate`: each element's chain goes on from them).
static int bf16_gemm(int64_t m, int64_t n, int64_t k, const a_layout *layout, const uint16_t *packed_b, float *c,
                     int64_t ldc, int accumulate) {
    if (tg_bf16_kernel() == TG_BF16_AMX)
        return tg_bf16_amx_gemm(m, n, k, layout->a, layout->row, layout->column, layout->rows, packed_b, c, ldc,
                                accumulate);
    if (!(tg_cpu_features() & TG_CPU_AVX512_BF16) || m <= 0 || n <= 0 || k <= 0) return 0;
    int64_t pairs = (k + 1) / 2, stride = tg_bf16_padded_pairs(k), blocks = (m + BF_MR - 1) / BF_MR;
    uint32_t *ap = aligned_alloc(64, (size_t)((blocks * BF_KC * BF_MR * 4 + 63) / 64 * 64));
    if (!ap) return 0;
    for (int64_t q0 = 0; q0 < pairs; q0 += BF_KC) {
        int64_t kq = pairs - q0 < BF_KC ? pairs - q0 : BF_KC;
        for (int64_t blk = 0; blk < blocks; blk++) {
            int64_t i0 = blk * BF_MR, rows = m - i0 < BF_MR ? m - i0 : BF_MR;
            pack_a(layout, k, i0, rows, q0, kq, ap + blk * BF_KC * BF_MR);
        }
        for (int64_t j0 = 0; j0 < n; j0 += BF_NR) {
            int64_t cols = n - j0 < BF_NR ? n - j0 : BF_NR;
            const uint16_t *bp = packed_b + ((j0 / BF_NR) * stride + q0) * BF_NR * 2;
            for (int64_t blk = 0; blk < blocks; blk++) {
                int64_t i0 = blk * BF_MR, rows = m - i0 < BF_MR ? m - i0 : BF_MR;
                bf16_kernel(kq, ap + blk * BF_KC * BF_MR, bp, c + i0 * ldc + j0, ldc, rows, cols, q0 > 0 || accumulate);
            }
        }
    }
    free(ap);
    return 1;
}

int tg_sgemm_bf16_packed(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const uint16_t *packed_b,
                         float *c, int64_t ldc) {
    a_layout layout = {a, lda, 1, NULL};
    return bf16_gemm(m, n, k, &layout, packed_b, c, ldc, 0);
}

int tg_sgemm_bf16_ex(int trans_a, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                     const uint16_t *packed_b, float *c, int64_t ldc, int accumulate) {
    a_layout layout = {a, trans_a ? 1 : lda, trans_a ? lda : 1, NULL};
    return bf16_gemm(m, n, k, &layout, packed_b, c, ldc, accumulate);
}

int tg_sgemm_bf16_rows(int64_t m, int64_t n, int64_t k, const float *const *rows, const uint16_t *packed_b, float *c,
                       int64_t ldc) {
    a_layout layout = {NULL, 0, 0, rows};
    return bf16_gemm(m, n, k, &layout, packed_b, c, ldc, 0);
}

#else

int tg_sgemm_bf16_packed(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const uint16_t *packed_b,
                         float *c, int64_t ldc) {
    (void)m; (void)n; (void)k; (void)a; (void)lda; (void)packed_b; (void)c; (void)ldc;
    return 0;
}

int tg_sgemm_bf16_ex(int trans_a, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                     const uint16_t *packed_b, float *c, int64_t ldc, int accumulate) {
    (void)trans_a; (void)m; (void)n; (void)k; (void)a; (void)lda; (void)packed_b; (void)c; (void)ldc; (void)accumulate;
    return 0;
}

int tg_sgemm_bf16_rows(int64_t m, int64_t n, int64_t k, const float *const *rows, const uint16_t *packed_b, float *c,
                       int64_t ldc) {
    (void)m; (void)n; (void)k; (void)rows; (void)packed_b; (void)c; (void)ldc;
    return 0;
}

#endif
