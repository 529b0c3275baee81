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
