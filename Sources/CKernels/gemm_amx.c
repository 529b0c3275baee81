// The bf16 product on AMX tiles (AMX-BF16's TDPBF16PS), beside gemm_bf16.c's VDPBF16PS kernel and on the same packed
// B: a B panel (32 columns, a row of 128 bytes per k pair) is two B tiles side by side, read with a 128-byte stride.
// A is packed per call into rows of bf16 (k padded to a multiple of 32 with zeros); C is accumulated in four 16×16
// fp32 tiles (a 32×32 block) over the whole of k, then stored (through a scratch tile at the edges).
//
// TDPBF16PS adds a pair's two products to an fp32 lane with its own rounding order, not VDPBF16PS's, so its sums are
// not bit-identical to tg_sgemm_bf16_reference: it is chosen only by tg_bf16_set_kernel(TG_BF16_AMX), and tested
// against the reference within a bound.
#include "CKernels.h"

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

/// C[rows × cols] (rows, cols ≤ 32) (+)= A rows [32][kpad] · a B panel [ppad pairs][32][2], ppad a multiple of 16.
AMX static void amx_block(const uint16_t *a, int64_t lda_bytes, const uint16_t *panel, int64_t ppad, float *c,
                          int64_t ldc, int64_t rows, int64_t cols, int accumulate) {
    float scratch[4][16 * 16] __attribute__((aligned(64)));
    int full = rows == 32 && cols == 32;
    // The four C tiles live in C itself when the block is whole, else in a zero-padded scratch copy.
    float *tile[4];
    int64_t stride;
    if (full) {
        tile[0] = c, tile[1] = c + 16, tile[2] = c + 16 * ldc, tile[3] = c + 16 * ldc + 16;
        stride = ldc * 4;
    } else {
        for (int t = 0; t < 4; t++) tile[t] = scratch[t];
        stride = 64;
    }
    if (accumulate) {
        if (!full) {
            memset(scratch, 0, sizeof scratch);
            for (int64_t r = 0; r < rows; r++)
                for (int64_t j = 0; j < cols; j++) scratch[(r >= 16) * 2 + (j >= 16)][(r % 16) * 16 + j % 16] = c[r * ldc + j];
        }
        _tile_loadd(0, tile[0], stride);
        _tile_loadd(1, tile[1], stride);
        _tile_loadd(2, tile[2], stride);
        _tile_loadd(3, tile[3], stride);
    } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    }
    for (int64_t q = 0; q < ppad; q += AMX_KP) {
        const uint16_t *aq = a + q * 2;
        _tile_loadd(4, aq, lda_bytes);
        _tile_loadd(5, (const char *)aq + 16 * lda_bytes, lda_bytes);
        const uint16_t *bq = panel + q * AMX_NR * 2;
        _tile_loadd(6, bq, AMX_NR * 4);
        _tile_loadd(7, bq + 32, AMX_NR * 4);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, tile[0], stride);
    _tile_stored(1, tile[1], stride);
    _tile_stored(2, tile[2], stride);
    _tile_stored(3, tile[3], stride);
    if (!full)
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < cols; j++) c[r * ldc + j] = scratch[(r >= 16) * 2 + (j >= 16)][(r % 16) * 16 + j % 16];
}

/// Rows of A per pass over B's panels: their packing (at k = 2048, 256 KB) stays in L2 while every panel streams by.
enum { AMX_MC = 64 };

AMX int tg_bf16_amx_gemm(int64_t m, int64_t n, int64_t k, float (*a_at)(const void *, int64_t, int64_t),
                         const float *(*a_row)(const void *, int64_t), const void *layout, const uint16_t *packed_b,
                         float *c, int64_t ldc, int accumulate) {
    if (!amx_permitted() || m <= 0 || n <= 0 || k <= 0) return 0;
    int64_t ppad = tg_bf16_padded_pairs(k), kpad = ppad * 2;
    int64_t mc = m < AMX_MC ? (m + 31) / 32 * 32 : AMX_MC;
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
        for (int64_t r = 0; r < blocks * 32; r++) {
            uint16_t *out = ap + r * kpad;
            int64_t p = 0;
            const float *source = r < rows ? a_row(layout, i0 + r) : NULL;
            if (source) {
                tg_bf16_round_row(source, k, out);
                p = k;
            } else if (r < rows) {
                for (; p < k; p++) out[p] = tg_bf16_from_float(a_at(layout, i0 + r, p));
            }
            memset(out + p, 0, (size_t)(kpad - p) * 2);
        }
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
int tg_bf16_amx_gemm(int64_t m, int64_t n, int64_t k, float (*a_at)(const void *, int64_t, int64_t),
                     const float *(*a_row)(const void *, int64_t), const void *layout, const uint16_t *packed_b,
                     float *c, int64_t ldc, int accumulate) {
    (void)m; (void)n; (void)k; (void)a_at; (void)a_row; (void)layout; (void)packed_b; (void)c; (void)ldc; (void)accumulate;
    return 0;
}

#endif
