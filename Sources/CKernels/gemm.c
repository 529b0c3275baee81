// Single-precision GEMM with an AVX-512 micro-kernel: see tg_sgemm in CKernels.h.
//
// The structure is the usual one for cache-blocked GEMM (Goto & van de Geijn, "Anatomy of High-Performance Matrix
// Multiplication"): C is computed in blocks of NC columns; within one, K in slices of KC; for each slice, a KC×NC
// block of op(B) is packed into NR-wide column panels, then MC-row blocks of op(A) are packed into MR-tall row
// panels, and the micro-kernel multiplies one A panel by one B panel into an MR×NR tile of C held in (up to) 24
// registers.
// Packing takes care of transposes and leading dimensions and pads the edges with zeros, so the micro-kernel only
// ever sees whole tiles; partial tiles of C are written through a small buffer.
//
// Every C element is the sum over the K slices in order, each slice summed over p in order by one FMA chain, so
// the result does not depend on how the caller splits C's rows or columns over threads.
#include "CKernels.h"

#include <stdlib.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

enum { MR = 8, NR = 48, KC = 192, MC = 144, NC = 4080, DIRECT_B_ROWS = 256 };

#define AVX512 __attribute__((target("avx512f")))
// The micro-kernels stay out of line: inlined into the panel loop, they made the whole product a few percent slower.
#define NOINLINE __attribute__((noinline))

/// Packs rows [i0, i0+mc) × columns [p0, p0+kc) of op(A) into MR-tall panels, each stored p-major (MR values per
/// p), the last panel padded with zero rows.
static void pack_a(const float *a, int64_t lda, int trans, int64_t i0, int64_t mc, int64_t p0, int64_t kc,
                   float *out) {
    for (int64_t ir = 0; ir < mc; ir += MR) {
        int64_t rows = mc - ir < MR ? mc - ir : MR;
        if (trans) {
            // op(A)[i, p] = A[p, i]: each p is a contiguous run of rows.
            for (int64_t p = 0; p < kc; p++) {
                const float *src = a + (p0 + p) * lda + i0 + ir;
                float *dst = out + p * MR;
                for (int64_t i = 0; i < rows; i++) dst[i] = src[i];
                for (int64_t i = rows; i < MR; i++) dst[i] = 0;
            }
        } else {
            for (int64_t i = 0; i < rows; i++) {
                const float *src = a + (i0 + ir + i) * lda + p0;
                for (int64_t p = 0; p < kc; p++) out[p * MR + i] = src[p];
            }
            for (int64_t i = rows; i < MR; i++) {
                for (int64_t p = 0; p < kc; p++) out[p * MR + i] = 0;
            }
        }
        out += kc * MR;
    }
}

/// Transposes the 16×16 block held in r[0..16) (row i in r[i]) in place: unpacks pair rows, 64-bit shuffles
/// make 4×4 blocks inside each 128-bit lane, two rounds of lane shuffles put the lanes in order.
AVX512 static inline void transpose16(__m512 r[16]) {
    __m512 a[16], t[16];
    for (int k = 0; k < 8; k++) {
        a[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        a[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
    }
    // t[4k + m], lane L: column 4L + m of rows 4k ..< 4k + 4.
    for (int k = 0; k < 4; k++) {
        t[4 * k] = _mm512_shuffle_ps(a[4 * k], a[4 * k + 2], 0x44);
        t[4 * k + 1] = _mm512_shuffle_ps(a[4 * k], a[4 * k + 2], 0xEE);
        t[4 * k + 2] = _mm512_shuffle_ps(a[4 * k + 1], a[4 * k + 3], 0x44);
        t[4 * k + 3] = _mm512_shuffle_ps(a[4 * k + 1], a[4 * k + 3], 0xEE);
    }
    for (int m = 0; m < 4; m++) {
        __m512 even01 = _mm512_shuffle_f32x4(t[m], t[4 + m], 0x88), odd01 = _mm512_shuffle_f32x4(t[m], t[4 + m], 0xDD);
        __m512 even23 = _mm512_shuffle_f32x4(t[8 + m], t[12 + m], 0x88);
        __m512 odd23 = _mm512_shuffle_f32x4(t[8 + m], t[12 + m], 0xDD);
        r[m] = _mm512_shuffle_f32x4(even01, even23, 0x88);
        r[8 + m] = _mm512_shuffle_f32x4(even01, even23, 0xDD);
        r[4 + m] = _mm512_shuffle_f32x4(odd01, odd23, 0x88);
        r[12 + m] = _mm512_shuffle_f32x4(odd01, odd23, 0xDD);
    }
}

/// dst[c·ldd + r] = src[r·lds + c] for r < rows, c < cols, in 16×16 blocks (masked at the edges).
AVX512 static void transpose_avx512(const float *src, int64_t rows, int64_t cols, int64_t lds, float *dst,
                                    int64_t ldd) {
    for (int64_t r0 = 0; r0 < rows; r0 += 16) {
        int64_t nr = rows - r0 < 16 ? rows - r0 : 16;
        __mmask16 rmask = nr == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
        for (int64_t c0 = 0; c0 < cols; c0 += 16) {
            int64_t nc = cols - c0 < 16 ? cols - c0 : 16;
            __mmask16 cmask = nc == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nc) - 1);
            __m512 r[16];
            for (int64_t i = 0; i < 16; i++)
                r[i] = i < nr ? _mm512_maskz_loadu_ps(cmask, src + (r0 + i) * lds + c0) : _mm512_setzero_ps();
            transpose16(r);
            for (int64_t c = 0; c < nc; c++) _mm512_mask_storeu_ps(dst + (c0 + c) * ldd + r0, rmask, r[c]);
        }
    }
}

/// The widths of the column panels of a block of nc columns: NR each, except that a last pair of NR + at most 16
/// columns becomes 32 + the rest, so no panel is left with a single vector (a one-vector tile issues as many
/// broadcasts as multiply-adds, and runs at about half the rate of the others).
static inline int64_t panel_width(int64_t nc, int64_t jr) {
    int64_t left = nc - jr;
    return left > NR && left <= NR + 16 ? 32 : left < NR ? left : NR;
}

/// Packs rows [p0, p0+kc) × columns [j0, j0+nc) of op(B) into NR-wide panels, each stored p-major (NR values per
/// p), the last panel padded with zero columns.
AVX512 static void pack_b(const float *b, int64_t ldb, int trans, int64_t p0, int64_t kc, int64_t j0, int64_t nc,
                          float *out) {
    for (int64_t jr = 0, cols; jr < nc; jr += cols) {
        cols = panel_width(nc, jr);
        if (trans) {
            // op(B)[p, j] = B[j, p]: 16×16 blocks of B (16 source rows, 16 steps of p each) transposed in registers,
            // rows past the panel's columns as zeros. (Element by element, the compiler's scatter stores made this
            // packing 60 % of the time spent outside the micro-kernels.)
            for (int64_t jb = 0; jb < NR; jb += 16) {
                for (int64_t pb = 0; pb < kc; pb += 16) {
                    int64_t steps = kc - pb < 16 ? kc - pb : 16;
                    __mmask16 pmask = steps == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << steps) - 1);
                    __m512 r[16];
                    for (int64_t i = 0; i < 16; i++) {
                        r[i] = jb + i < cols ? _mm512_maskz_loadu_ps(pmask, b + (j0 + jr + jb + i) * ldb + p0 + pb)
                                             : _mm512_setzero_ps();
                    }
                    transpose16(r);
                    for (int64_t p = 0; p < steps; p++) _mm512_storeu_ps(out + (pb + p) * NR + jb, r[p]);
                }
            }
        } else {
            // Three masked vectors per row: the zero padding comes with the copy, and no library call per row.
            __mmask16 masks[NR / 16];
            for (int v = 0; v < NR / 16; v++) {
                int64_t left = cols - 16 * v;
                masks[v] = left >= 16 ? (__mmask16)0xFFFF : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
            }
            for (int64_t p = 0; p < kc; p++) {
                const float *src = b + (p0 + p) * ldb + j0 + jr;
                float *dst = out + p * NR;
                for (int v = 0; v < NR / 16; v++)
                    _mm512_storeu_ps(dst + 16 * v, _mm512_maskz_loadu_ps(masks[v], src + 16 * v));
            }
        }
        out += kc * NR;
    }
}

/// tile[MR × 16·NV] = A panel · B panel over kc steps, B's row p at b + p·bs (only its first 16·NV columns are read);
/// then C = alpha·tile + beta·C (+ bias, when given, for these columns) on the rows × cols that exist (beta == 0: C is
/// not read). NV = 3 for whole panels; the last panel of a block uses as few vectors as cover its columns, so narrow
/// products (32 columns, 100 filters) waste little. A's element (r, p) is A_ELEMENT(r, p): a[r·rs + p·ps] for
/// micro_kernel (A in place or packed), rows[r][p] for rows_kernel (A's rows anywhere: a convolution's windows).
/// The tile's lines of C are prefetched for writing before the k loop, and the rows are written by a loop of constant
/// bound so the accumulators stay in registers (with a loop bound of `rows`, clang kept them on the stack); on the
/// Emerald Rapids Xeon the two together made short-k products (k = 32–64) 1.2–1.9× faster.
#define MICRO_KERNEL(NAME, NV, A_ELEMENT, ...)                                                                      \
    AVX512 NOINLINE static void NAME##_##NV(int64_t kc, __VA_ARGS__, const float *b, int64_t bs, float *c,          \
                                            int64_t ldc, int64_t rows, int64_t cols, float alpha, float beta,       \
                                            const float *bias) {                                                    \
        __m512 acc[MR][NV];                                                                                         \
        for (int r = 0; r < MR; r++)                                                                                \
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();                                          \
        for (int r = 0; r < MR; r++)                                                                                \
            if (r < rows) for (int v = 0; v < NV; v++) __builtin_prefetch(c + r * ldc + 16 * v, 1, 3);           \
        for (int64_t p = 0; p < kc; p++) {                                                                          \
            __m512 bv[NV];                                                                                          \
            for (int v = 0; v < NV; v++) bv[v] = _mm512_loadu_ps(b + 16 * v);                                      \
            for (int r = 0; r < MR; r++) {                                                                          \
                __m512 x = _mm512_set1_ps(A_ELEMENT(r, p));                                                         \
                for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(x, bv[v], acc[r][v]);                    \
            }                                                                                                       \
            b += bs;                                                                                                \
        }                                                                                                           \
        __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);                                               \
        for (int r = 0; r < MR; r++) {                                                                              \
            if (r >= rows) break;                                                                                   \
            float *row = c + r * ldc;                                                                               \
            for (int v = 0; v < NV; v++) {                                                                          \
                int64_t left = cols - v * 16;                                                                       \
                if (left <= 0) break;                                                                               \
                __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);                    \
                __m512 result = _mm512_mul_ps(va, acc[r][v]);                                                       \
                if (beta != 0) result = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask, row + v * 16), result);     \
                if (bias) result = _mm512_add_ps(result, _mm512_maskz_loadu_ps(mask, bias + v * 16));               \
                _mm512_mask_storeu_ps(row + v * 16, mask, result);                                                  \
            }                                                                                                       \
        }                                                                                                           \
    }
#define STRIDED(r, p) a[(r) * rs + (p) * ps]
#define LISTED(r, p) a[r][p]
MICRO_KERNEL(micro_kernel, 1, STRIDED, const float *a, int64_t rs, int64_t ps)
MICRO_KERNEL(micro_kernel, 2, STRIDED, const float *a, int64_t rs, int64_t ps)
MICRO_KERNEL(micro_kernel, 3, STRIDED, const float *a, int64_t rs, int64_t ps)
MICRO_KERNEL(rows_kernel, 1, LISTED, const float *const *a)
MICRO_KERNEL(rows_kernel, 2, LISTED, const float *const *a)
MICRO_KERNEL(rows_kernel, 3, LISTED, const float *const *a)
#undef STRIDED
#undef LISTED
#undef MICRO_KERNEL

/// One MR×cols tile of C from an A panel (rows at a + r·rs + p·ps) and a B panel (rows bs apart), by the narrowest
/// kernel that covers its columns.
AVX512 static inline void tile(int64_t kc, const float *a, int64_t rs, int64_t ps, const float *b, int64_t bs, float *c,
                               int64_t ldc, int64_t rows, int64_t cols, float alpha, float beta, const float *bias) {
    if (cols > 32) micro_kernel_3(kc, a, rs, ps, b, bs, c, ldc, rows, cols, alpha, beta, bias);
    else if (cols > 16) micro_kernel_2(kc, a, rs, ps, b, bs, c, ldc, rows, cols, alpha, beta, bias);
    else micro_kernel_1(kc, a, rs, ps, b, bs, c, ldc, rows, cols, alpha, beta, bias);
}

/// Where the A panel of rows [i, i + MR) starts and its strides: op(A) in place for whole panels (ir < whole),
/// else the packed last panel.
static inline const float *a_panel(const float *a, int64_t lda, int trans_a, int64_t i, int64_t pc, int in_place,
                                   const float *packed, int64_t *rs, int64_t *ps) {
    if (!in_place) {
        *rs = 1;
        *ps = MR;
        return packed;
    }
    *rs = trans_a ? 1 : lda;
    *ps = trans_a ? lda : 1;
    return trans_a ? a + pc * lda + i : a + i * lda + pc;
}

/// Per-thread packing buffers, grown on demand and kept for the thread's life.
static _Thread_local float *packed_a = NULL, *packed_b = NULL;

/// The product; with `a_rows`, A's row i is a_rows[i][0 ..< k] (rows anywhere, even overlapping, like a convolution's
/// windows in its input) and a, lda, trans_a are not used.
AVX512 static int sgemm_avx512(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                               const float *a, int64_t lda, const float *const *a_rows, const float *b, int64_t ldb,
                               float beta, float *c, int64_t ldc, const float *bias) {
    if (!packed_a) packed_a = aligned_alloc(64, sizeof(float) * MR * KC);
    if (!packed_b) packed_b = aligned_alloc(64, sizeof(float) * KC * (NC + NR));
    if (!packed_a || !packed_b) return 0;
    for (int64_t jc = 0; jc < n; jc += NC) {
        int64_t nc = n - jc < NC ? n - jc : NC;
        for (int64_t pc = 0; pc < k; pc += KC) {
            int64_t kc = k - pc < KC ? k - pc : KC;
            float slice_beta = pc == 0 ? beta : 1.0f;
            // The bias row joins the first K slice, like beta's C.
            const float *slice_bias = pc == 0 && bias ? bias + jc : NULL;
            // With few rows of C, each packed element of op(B) would serve only a few tiles: panels of an
            // untransposed B are read where they lie instead (a last panel whose width is not a whole number of
            // vectors is still packed, so the kernel never reads past a row's end).
            int direct_b = !trans_b && m <= DIRECT_B_ROWS;
            if (!direct_b) pack_b(b, ldb, trans_b, pc, kc, jc, nc, packed_b);
            for (int64_t ic = 0; ic < m; ic += MC) {
                int64_t mc = m - ic < MC ? m - ic : MC;
                // Whole MR-row panels read op(A) where it lies (packing costs as much as the product when op(B)
                // is narrow); a last, partial panel is packed with zero rows so the kernel can read all MR.
                int64_t whole = a_rows ? mc : mc / MR * MR;
                if (whole < mc) pack_a(a, lda, trans_a, ic + whole, mc - whole, pc, kc, packed_a);
                if (!direct_b && !a_rows && kc <= 64) {
                    // Short K: each tile is little work, so C is written row block by row block (its rows in
                    // order, as memory holds them) and the packed B block, small at this depth, is read from cache.
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        int64_t rows = mc - ir < MR ? mc - ir : MR, i = ic + ir, rs, ps;
                        const float *ap = a_panel(a, lda, trans_a, i, pc, ir < whole, packed_a, &rs, &ps);
                        const float *bp = packed_b;
                        for (int64_t jr = 0, cols; jr < nc; jr += cols, bp += kc * NR) {
                            cols = panel_width(nc, jr);
                            tile(kc, ap, rs, ps, bp, NR, c + i * ldc + jc + jr, ldc, rows, cols, alpha, slice_beta,
                                 slice_bias ? slice_bias + jr : NULL);
                        }
                    }
                    continue;
                }
                const float *next_panel = packed_b;
                for (int64_t jr = 0, cols; jr < nc; jr += cols, next_panel += kc * NR) {
                    cols = panel_width(nc, jr);
                    const float *bp = next_panel;
                    int64_t bs = NR;
                    // A panel is read in place when the kernel chosen for it reads exactly its columns (whole
                    // vectors: 48, 32 or 16 columns), so a product with 32 columns (dx = dLogits·Wᵀ) packs nothing.
                    if (direct_b && (cols == NR || cols % 16 == 0)) {
                        bp = b + pc * ldb + jc + jr;
                        bs = ldb;
                    } else if (direct_b) {
                        if (ic == 0) pack_b(b, ldb, 0, pc, kc, jc + jr, cols, packed_b);
                        bp = packed_b;
                    }
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        int64_t rows = mc - ir < MR ? mc - ir : MR, i = ic + ir;
                        float *cp = c + i * ldc + jc + jr;
                        const float *tile_bias = slice_bias ? slice_bias + jr : NULL;
                        if (a_rows) {
                            // Rows past the end repeat the last one: read, never written to C.
                            const float *ap[MR];
                            for (int r = 0; r < MR; r++) ap[r] = a_rows[r < rows ? i + r : i + rows - 1] + pc;
                            if (cols > 32) rows_kernel_3(kc, ap, bp, bs, cp, ldc, rows, cols, alpha, slice_beta, tile_bias);
                            else if (cols > 16) rows_kernel_2(kc, ap, bp, bs, cp, ldc, rows, cols, alpha, slice_beta, tile_bias);
                            else rows_kernel_1(kc, ap, bp, bs, cp, ldc, rows, cols, alpha, slice_beta, tile_bias);
                            continue;
                        }
                        int64_t rs, ps;
                        const float *ap = a_panel(a, lda, trans_a, i, pc, ir < whole, packed_a, &rs, &ps);
                        tile(kc, ap, rs, ps, bp, bs, cp, ldc, rows, cols, alpha, slice_beta, tile_bias);
                    }
                }
            }
        }
    }
    return 1;
}

/// C = alpha·A·Bᵀ for a short A (few rows) and a large B, computed as Cᵀ = B·Aᵀ and written back transposed: the
/// large B is then read in place, row by row, instead of being packed through a strided transpose (which runs at
/// half speed when B comes from memory, as a highway layer's weights do in its backward pass). Every element is the
/// same sum in the same order with the factors of each product swapped, so the bits equal the direct path's.
/// Only for beta = 0 without bias (elsewhere the direct path folds C and the bias in after the first K slice).
enum { TRANSPOSED_MAX_ROWS = 128, TRANSPOSED_MIN_COLUMNS = 512, TRANSPOSED_MIN_DEPTH = 64 };
static _Thread_local float *transposed_c = NULL;
static _Thread_local int64_t transposed_capacity = 0;

AVX512 static int sgemm_transposed(int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                                   const float *b, int64_t ldb, float *c, int64_t ldc) {
    if (transposed_capacity < m * n) {
        free(transposed_c);
        transposed_c = aligned_alloc(64, sizeof(float) * (size_t)((m * n + 15) / 16 * 16));
        transposed_capacity = transposed_c ? m * n : 0;
        if (!transposed_c) return 0;
    }
    // Cᵀ [n, m] = B [n, k] · (A [m, k])ᵀ
    if (!sgemm_avx512(0, 1, n, m, k, alpha, b, ldb, NULL, a, lda, 0, transposed_c, m, NULL)) return 0;
    transpose_avx512(transposed_c, n, m, m, c, ldc);
    return 1;
}

void tg_transpose(const float *src, int64_t rows, int64_t cols, int64_t lds, float *dst, int64_t ldd) {
    if (tg_sgemm_available()) {
        transpose_avx512(src, rows, cols, lds, dst, ldd);
        return;
    }
    for (int64_t c = 0; c < cols; c++) {
        for (int64_t r = 0; r < rows; r++) dst[c * ldd + r] = src[r * lds + c];
    }
}

int tg_sgemm_available(void) {
    static int available = -1;
    if (available < 0) {
        __builtin_cpu_init();
        available = __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    return available;
}

int tg_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
             const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    return tg_sgemm_bias(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, NULL);
}

int tg_sgemm_rows(int trans_b, int64_t m, int64_t n, int64_t k, const float *const *rows, const float *b, int64_t ldb,
                  float *c, int64_t ldc, const float *bias) {
    if (!tg_sgemm_available() || m <= 0 || n <= 0 || k <= 0) return 0;
    return sgemm_avx512(0, trans_b, m, n, k, 1, NULL, 0, rows, b, ldb, 0, c, ldc, bias);
}

int tg_sgemm_bias(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                  int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc, const float *bias) {
    if (!tg_sgemm_available() || m <= 0 || n <= 0 || k <= 0) return 0;
    if (!trans_a && trans_b && beta == 0 && !bias && m <= TRANSPOSED_MAX_ROWS && n >= TRANSPOSED_MIN_COLUMNS &&
        k >= TRANSPOSED_MIN_DEPTH) {
        return sgemm_transposed(m, n, k, alpha, a, lda, b, ldb, c, ldc);
    }
    return sgemm_avx512(trans_a, trans_b, m, n, k, alpha, a, lda, NULL, b, ldb, beta, c, ldc, bias);
}

#else

void tg_transpose(const float *src, int64_t rows, int64_t cols, int64_t lds, float *dst, int64_t ldd) {
    for (int64_t c = 0; c < cols; c++) {
        for (int64_t r = 0; r < rows; r++) dst[c * ldd + r] = src[r * lds + c];
    }
}

int tg_sgemm_available(void) { return 0; }

int tg_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
             const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    return tg_sgemm_bias(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, NULL);
}

int tg_sgemm_rows(int trans_b, int64_t m, int64_t n, int64_t k, const float *const *rows, const float *b, int64_t ldb,
                  float *c, int64_t ldc, const float *bias) {
    (void)trans_b; (void)m; (void)n; (void)k; (void)rows; (void)b; (void)ldb; (void)c; (void)ldc; (void)bias;
    return 0;
}

int tg_sgemm_bias(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                  int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc, const float *bias) {
    (void)trans_a; (void)trans_b; (void)m; (void)n; (void)k; (void)alpha; (void)a; (void)lda;
    (void)b; (void)ldb; (void)beta; (void)c; (void)ldc; (void)bias;
    return 0;
}

#endif
