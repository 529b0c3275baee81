// The bf16 product on AMX tiles (AMX-BF16's TDPBF16PS), beside gemm_bf16.c's VDPBF16PS kernel and on the same packed
// B: a B panel (32 columns, a row of 128 bytes per k pair) is two B tiles side by side, read with a 128-byte stride.
// A is packed per call into rows of bf16 (k padded to a multiple of 32 with zeros; Aᵀ as stored by 16-row vector
// loads scattered into rows); C is accumulated in four 16×16 fp32 tiles (a 32×32 block; two for a block of up to 16
// rows) over the whole of k, then stored (through a scratch tile at the edges).
//
// TDPBF16PS adds a pair's two products to an fp32 lane with its own rounding order, not VDPBF16PS's, so its sums are
// not bit-identical to tg_sgemm_bf16_reference: it is chosen only by tg_bf16_set_kernel(TG_BF16_AMX), and tested
// against the reference within a bound.
#include "CKernels.h"
#include "bf16_round.h"

#include <stdlib.h>
#include <string.h>

static int bf16_kernel_choice = TG_BF16_VDPBF16PS;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

/// Linux hands out the tile state only on request (ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA), once per process.
static int amx_permitted(void) {
    static int state = -1;  // -1 unknown, 0 refused, 1 granted
    if (state < 0) {
        uint32_t features = tg_cpu_features();
        int has = (features & TG_CPU_AMX_TILE) && (features & TG_CPU_AMX_BF16) && (features & TG_CPU_AVX512BW);
        state = has && syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) == 0;
    }
    return state;
}

int tg_bf16_amx_available(void) { return amx_permitted(); }

int tg_bf16_set_kernel(int kernel) {
    if (kernel == TG_BF16_AMX && !amx_permitted()) return 0;
    if (kernel != TG_BF16_AMX && kernel != TG_BF16_VDPBF16PS) return 0;
    bf16_kernel_choice = kernel;
    return 1;
}

int tg_bf16_kernel(void) { return bf16_kernel_choice; }

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

#define AMX __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw")))

enum { AMX_NR = 32, AMX_KP = 16 /* pairs per tile */ };

/// C's rows × cols (≤ 32 × 32) into the four zero-padded 16×16 scratch tiles, or back.
AMX static void scratch_in(const float *c, int64_t ldc, int64_t rows, int64_t cols, float scratch[4][256]) {
    memset(scratch, 0, 4 * 256 * sizeof(float));
    for (int64_t r = 0; r < rows; r++) {
        float *row = scratch[(r >= 16) * 2] + (r % 16) * 16;
        _mm512_store_ps(row, _mm512_maskz_loadu_ps(first_lanes(cols), c + r * ldc));
        _mm512_store_ps(row + 256, _mm512_maskz_loadu_ps(first_lanes(cols - 16), c + r * ldc + 16));
    }
}

AMX static void scratch_out(float scratch[4][256], float *c, int64_t ldc, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        const float *row = scratch[(r >= 16) * 2] + (r % 16) * 16;
        _mm512_mask_storeu_ps(c + r * ldc, first_lanes(cols), _mm512_load_ps(row));
        _mm512_mask_storeu_ps(c + r * ldc + 16, first_lanes(cols - 16), _mm512_load_ps(row + 256));
    }
}

/// C[rows × cols] (rows, cols ≤ 32) (+)= A rows [rows rounded up to 16][kpad] · a B panel [ppad pairs][32][2], ppad a
/// multiple of 16. Up to 16 rows take two C tiles (tiles 0 and 1), more take four. The tiles live in C itself when
/// they cover it exactly, else in a zero-padded scratch copy.
AMX static void amx_block(const uint16_t *a, int64_t lda_bytes, const uint16_t *panel, int64_t ppad, float *c,
                          int64_t ldc, int64_t rows, int64_t cols, int accumulate) {
    float scratch[4][256] __attribute__((aligned(64)));
    int two = rows > 16, direct = cols == AMX_NR && (rows == 32 || rows == 16);
    float *tile[4];
    int64_t stride;
    if (direct) {
        tile[0] = c, tile[1] = c + 16, tile[2] = c + 16 * ldc, tile[3] = c + 16 * ldc + 16;
        stride = ldc * 4;
    } else {
        for (int t = 0; t < 4; t++) tile[t] = scratch[t];
        stride = 64;
        if (accumulate) scratch_in(c, ldc, rows, cols, scratch);
    }
    if (accumulate) {
        _tile_loadd(0, tile[0], stride);
        _tile_loadd(1, tile[1], stride);
        if (two) {
            _tile_loadd(2, tile[2], stride);
            _tile_loadd(3, tile[3], stride);
        }
    } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    }
    if (two) {
        for (int64_t q = 0; q < ppad; q += AMX_KP) {
            const uint16_t *aq = a + q * 2, *bq = panel + q * AMX_NR * 2;
            _tile_loadd(4, aq, lda_bytes);
            _tile_loadd(5, (const char *)aq + 16 * lda_bytes, lda_bytes);
            _tile_loadd(6, bq, AMX_NR * 4);
            _tile_loadd(7, bq + 32, AMX_NR * 4);
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 4, 7);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
        }
    } else {
        for (int64_t q = 0; q < ppad; q += AMX_KP) {
            const uint16_t *aq = a + q * 2, *bq = panel + q * AMX_NR * 2;
            _tile_loadd(4, aq, lda_bytes);
            _tile_loadd(6, bq, AMX_NR * 4);
            _tile_loadd(7, bq + 32, AMX_NR * 4);
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 4, 7);
        }
    }
    _tile_stored(0, tile[0], stride);
    _tile_stored(1, tile[1], stride);
    if (two) {
        _tile_stored(2, tile[2], stride);
        _tile_stored(3, tile[3], stride);
    }
    if (!direct) scratch_out(scratch, c, ldc, rows, cols);
}

/// A's rows i0 ..< i0 + rows rounded to bf16 into `ap` (rows of kpad values, zeros past k), and `padded` − rows
/// rows of zeros after them. Element (i, p) is rows_at[i][p], else a[i·row + p·column].
AMX static void pack_a(int64_t i0, int64_t rows, int64_t padded, int64_t k, int64_t kpad, const float *a, int64_t row,
                       int64_t column, const float *const *rows_at, uint16_t *ap) {
    if (rows_at || column == 1) {
        for (int64_t r = 0; r < rows; r++) {
            tg_bf16_round_row(rows_at ? rows_at[i0 + r] : a + (i0 + r) * row, k, ap + r * kpad);
            memset(ap + r * kpad + k, 0, (size_t)(kpad - k) * 2);
        }
    } else if (row == 1 && !tg_bf16_scalar_packing()) {
        // Aᵀ as stored: 16 consecutive rows of A's element p lie side by side, so each pair (p, p + 1) of 16 rows is
        // two loads, rounded and interleaved into words, scattered one packed row apart.
        uint32_t *words = (uint32_t *)ap;
        int64_t per_row = kpad / 2;
        __m512i index = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32((int)per_row));
        for (int64_t r0 = 0; r0 < rows; r0 += 16) {
            __mmask16 mask = first_lanes(rows - r0);
            const float *base = a + i0 + r0;
            for (int64_t q = 0; q < per_row; q++) {
                int64_t p = 2 * q;
                __m512i lo = p < k ? bf16_round16_wide(_mm512_maskz_loadu_ps(mask, base + p * column)) : _mm512_setzero_si512();
                __m512i hi = p + 1 < k ? bf16_round16_wide(_mm512_maskz_loadu_ps(mask, base + (p + 1) * column))
                                       : _mm512_setzero_si512();
                _mm512_mask_i32scatter_epi32(words + r0 * per_row + q, mask, index,
                                             _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)), 4);
            }
        }
    } else {
        for (int64_t r = 0; r < rows; r++)
            for (int64_t p = 0; p < kpad; p++)
                ap[r * kpad + p] = p < k ? tg_bf16_from_float(a[(i0 + r) * row + p * column]) : 0;
    }
    memset(ap + rows * kpad, 0, (size_t)((padded - rows) * kpad) * 2);
}

/// Rows of A per pass over B's panels: their packing (at k = 2048, 256 KB) stays in L2 while every panel streams by.
enum { AMX_MC = 64 };

AMX int tg_bf16_amx_gemm(int64_t m, int64_t n, int64_t k, const float *a, int64_t row, int64_t column,
                         const float *const *rows_at, const uint16_t *packed_b, float *c, int64_t ldc, int accumulate) {
    if (!amx_permitted() || m <= 0 || n <= 0 || k <= 0) return 0;
    int64_t ppad = tg_bf16_padded_pairs(k), kpad = ppad * 2;
    int64_t mc = m < AMX_MC ? (m + 15) / 16 * 16 : AMX_MC;
    uint16_t *ap = aligned_alloc(64, (size_t)(mc * kpad * 2));
    if (!ap) return 0;
    tile_config config;
    memset(&config, 0, sizeof config);
    config.palette = 1;
    for (int t = 0; t < 4; t++) config.rows[t] = 16, config.colsb[t] = 64;  // C: 16 × 16 fp32
    for (int t = 4; t < 8; t++) config.rows[t] = 16, config.colsb[t] = 64;  // A: 16 × 32 bf16; B: 16 pairs × 16 × 2
    _tile_loadconfig(&config);
    for (int64_t i0 = 0; i0 < m; i0 += mc) {
        int64_t rows = m - i0 < mc ? m - i0 : mc, blocks = (rows + 31) / 32;
        pack_a(i0, rows, (rows + 15) / 16 * 16, k, kpad, a, row, column, rows_at, ap);
        for (int64_t j0 = 0; j0 < n; j0 += AMX_NR) {
            int64_t cols = n - j0 < AMX_NR ? n - j0 : AMX_NR;
            const uint16_t *panel = packed_b + (j0 / AMX_NR) * ppad * AMX_NR * 2;
            for (int64_t b = 0; b < blocks; b++) {
                int64_t r0 = b * 32, rrows = rows - r0 < 32 ? rows - r0 : 32;
                amx_block(ap + r0 * kpad, kpad * 2, panel, ppad, c + (i0 + r0) * ldc + j0, ldc, rrows, cols, accumulate);
            }
        }
    }
    _tile_release();
    free(ap);
    return 1;
}

#else

int tg_bf16_amx_available(void) { return 0; }
int tg_bf16_set_kernel(int kernel) { return kernel == TG_BF16_VDPBF16PS ? (bf16_kernel_choice = kernel, 1) : 0; }
int tg_bf16_kernel(void) { return bf16_kernel_choice; }
int tg_bf16_amx_gemm(int64_t m, int64_t n, int64_t k, const float *a, int64_t row, int64_t column,
                     const float *const *rows_at, const uint16_t *packed_b, float *c, int64_t ldc, int accumulate) {
    (void)m; (void)n; (void)k; (void)a; (void)row; (void)column; (void)rows_at; (void)packed_b; (void)c; (void)ldc;
    (void)accumulate;
    return 0;
}

#endif
