// Intel MKL's cblas_sgemm, loaded at run time (dlopen) when the user has MKL (e.g. PyPI's `mkl` wheel): textgan has
// no link-time dependency on it, and without it nothing here is used. See tg_mkl_load in CKernels.h.
//
// MKL is set up once, before its first computation, for what textgan needs of every product: one thread (the
// sequential threading layer; textgan splits products over threads itself) and conditional numerical
// reproducibility in strict mode on a fixed code branch, so the same call on the same shapes gives the same bits
// wherever the buffers are aligned, run after run.
#include "CKernels.h"

#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>

// The constants of MKL's public headers (mkl_service.h, mkl_types.h, mkl_cblas.h), which textgan does not include;
// the functions are looked up by their C names (MKL_CBWR_Set, not mkl_cbwr_set, which in libmkl_rt is Fortran's).
enum {
    MKL_INTERFACE_LP64 = 0, MKL_THREADING_SEQUENTIAL = 1,
    MKL_CBWR_COMPATIBLE = 3, MKL_CBWR_AVX2 = 10, MKL_CBWR_AVX512 = 12, MKL_CBWR_STRICT = 0x10000, MKL_CBWR_SUCCESS = 0,
    CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112,
};

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *,
                         int);
typedef int (*int_fn)(int);
typedef void (*version_fn)(char *, int);

static sgemm_fn mkl_sgemm = NULL;
static char mkl_description[160] = "";
static char mkl_refusal[160] = "";

int tg_mkl_load(const char *path) {
    if (mkl_sgemm) return 1;
    void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!library) return 0;
    int_fn set_interface = (int_fn)dlsym(library, "MKL_Set_Interface_Layer");
    int_fn set_threading = (int_fn)dlsym(library, "MKL_Set_Threading_Layer");
    int_fn set_cbwr = (int_fn)dlsym(library, "MKL_CBWR_Set");
    int_fn get_cbwr = (int_fn)dlsym(library, "MKL_CBWR_Get");
    version_fn version = (version_fn)dlsym(library, "MKL_Get_Version_String");
    sgemm_fn sgemm = (sgemm_fn)dlsym(library, "cblas_sgemm");
    if (!set_interface || !set_threading || !set_cbwr || !get_cbwr || !sgemm) {
        dlclose(library);
        return 0;
    }
    // The layers and the reproducibility mode must be chosen before MKL computes anything.
    uint32_t cpu = tg_cpu_features();
    int branch = (cpu & TG_CPU_AVX512F) ? MKL_CBWR_AVX512
                 : (cpu & TG_CPU_AVX2) && (cpu & TG_CPU_FMA) ? MKL_CBWR_AVX2 : MKL_CBWR_COMPATIBLE;
    const char *name = branch == MKL_CBWR_AVX512 ? "avx512" : branch == MKL_CBWR_AVX2 ? "avx2" : "compatible";
    set_interface(MKL_INTERFACE_LP64);
    if (set_threading(MKL_THREADING_SEQUENTIAL) != MKL_THREADING_SEQUENTIAL) {
        dlclose(library);
        return 0;
    }
    // MKL grants the AVX2 and AVX-512 reproducibility branches only on Intel processors (on AMD it answers
    // MKL_CBWR_ERR_UNSUPPORTED_BRANCH); the compatible branch is SSE2, slower than every kernel textgan has, so
    // MKL is then not used rather than used without reproducibility.
    if (set_cbwr(branch | MKL_CBWR_STRICT) != MKL_CBWR_SUCCESS || get_cbwr(~0) != (branch | MKL_CBWR_STRICT)) {
        snprintf(mkl_refusal, sizeof mkl_refusal, "MKL refuses strict reproducibility on its %s branch on this CPU",
                 name);
        dlclose(library);
        return -1;
    }
    char text[128] = "";
    if (version) version(text, (int)sizeof text);
    snprintf(mkl_description, sizeof mkl_description, "%s (sequential, cbwr=%s,strict)", text, name);
    mkl_sgemm = sgemm;
    return 1;
}

int tg_mkl_loaded(void) { return mkl_sgemm != NULL; }

const char *tg_mkl_description(void) { return mkl_description; }

const char *tg_mkl_refusal(void) { return mkl_refusal; }

int tg_mkl_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                 const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    if (!mkl_sgemm || m <= 0 || n <= 0 || k <= 0 || m > INT32_MAX || n > INT32_MAX || k > INT32_MAX ||
        lda > INT32_MAX || ldb > INT32_MAX || ldc > INT32_MAX) {
        return 0;
    }
    mkl_sgemm(CBLAS_ROW_MAJOR, trans_a ? CBLAS_TRANS : CBLAS_NO_TRANS, trans_b ? CBLAS_TRANS : CBLAS_NO_TRANS, (int)m,
              (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
    return 1;
}
