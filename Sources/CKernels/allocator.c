// Process-level settings that Swift cannot reach directly: glibc's malloc tuning (see AllocatorTuning.swift;
// <malloc.h> is not part of Swift's Glibc module), stdout's buffering, and a thread-local for Parallel.swift.
#include <stdio.h>
#include "CKernels.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

int tg_keep_large_buffers(void) {
#if defined(__GLIBC__)
    int ok = mallopt(M_MMAP_THRESHOLD, 256 << 20);  // allocations up to 256 MiB come from the heap …
    ok &= mallopt(M_TRIM_THRESHOLD, 1 << 30);       // … which is not trimmed back to the OS after each free
    ok &= mallopt(M_TOP_PAD, 64 << 20);             // and grows in large steps
    return ok;
#else
    return 0;
#endif
}

void tg_line_buffer_stdout(void) { setvbuf(stdout, NULL, _IOLBF, 0); }

static _Thread_local int parallel_depth = 0;
int tg_parallel_depth(void) { return parallel_depth; }
void tg_set_parallel_depth(int depth) { parallel_depth = depth; }

// The floating-point control bits that make subnormal floats cost nothing: on x86, MXCSR's flush-to-zero (results
// that would be subnormal become 0, bit 15) and denormals-are-zero (subnormal inputs read as 0, bit 6). Products
// touching subnormals otherwise take a microcode assist, ~50× slower (Gumbel-softmax rows at β ≈ 10 are full of
// them). Elsewhere these are no-ops that report 0.
#if defined(__x86_64__)
#include <immintrin.h>
unsigned tg_fp_control(void) { return _mm_getcsr(); }
void tg_set_fp_control(unsigned control) { _mm_setcsr(control); }
int tg_flushes_subnormals(void) { return (_mm_getcsr() & 0x8040) == 0x8040; }
void tg_set_flush_subnormals(int on) { _mm_setcsr(on ? (_mm_getcsr() | 0x8040) : (_mm_getcsr() & ~0x8040u)); }
#else
unsigned tg_fp_control(void) { return 0; }
void tg_set_fp_control(unsigned control) { (void)control; }
int tg_flushes_subnormals(void) { return 0; }
void tg_set_flush_subnormals(int on) { (void)on; }
#endif
