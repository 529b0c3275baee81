// The vector form of tg_bf16_from_float, shared by the bf16 packers (gemm_bf16.c) and the AMX kernel's A packing
// (gemm_amx.c). Private to CKernels: not part of the module's public header.
#ifndef TG_BF16_ROUND_H
#define TG_BF16_ROUND_H

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#include <stdint.h>

#define BW __attribute__((target("avx512f,avx512bw")))

/// tg_bf16_from_float on 16 lanes, in the same integer steps (so the same bits, NaNs included), each bf16 in the low
/// half of its 32-bit lane.
BW static inline __m512i bf16_round16_wide(__m512 x) {
    __m512i bits = _mm512_castps_si512(x);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
    __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(bits, _mm512_set1_epi32(0x7FFF)), lsb), 16);
    __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(bits, _mm512_set1_epi32(0x7FFFFFFF)), _mm512_set1_epi32(0x7F800000));
    __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(0x40));
    return _mm512_mask_mov_epi32(rounded, nan, quiet);
}

BW static inline __m256i bf16_round16(__m512 x) { return _mm512_cvtepi32_epi16(bf16_round16_wide(x)); }

static inline __mmask16 first_lanes(int64_t count) {
    return count >= 16 ? (__mmask16)0xFFFF : count <= 0 ? 0 : (__mmask16)((1u << count) - 1);
}

#endif
#endif
