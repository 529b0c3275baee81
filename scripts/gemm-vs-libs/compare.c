// textgan's GEMM kernels (Sources/CKernels) against the well-kept libraries on the products the training phases spend
// their time in, one thread each (textgan splits a product over its threads itself, so a library is called on one).
//
// fp32: the own kernel, MKL's cblas_sgemm, OpenBLAS's and BLIS's cblas_sgemm, oneDNN's dnnl_sgemm.
// bf16 operands with fp32 accumulation: the own VDPBF16PS kernel (and its AMX kernel where the CPU exposes the
// tiles), MKL's cblas_gemm_bf16bf16f32 and oneDNN's matmul primitive. Each is timed on the product alone: B (the
// weight, in training packed once per update) is packed or converted beforehand for every library alike, and
// oneDNN may choose its own weight layout (format "any", reordered once). The own kernel reads A in fp32 and rounds
// it as it goes; MKL and oneDNN are handed A already in bf16.
//
// Each shape runs every library in turn 12 times and keeps each one's best time, so all see the same machine state.
// Every result is checked against the own fp32 kernel's (the |Δ| column: the largest difference over C, relative
// to C's largest element), so a library that did not run, or ran on the wrong operands, shows. The libraries are
// opened with dlopen (MKL, OpenBLAS and BLIS all export cblas_sgemm); one that is absent is left out of the
// table. oneDNN is linked when its header is there (-DHAVE_DNNL). Built and run by run.sh; not part of CI.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "CKernels.h"
#ifdef HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

enum { RowMajor = 101, NoTrans = 111, Trans = 112 };
typedef void (*cblas_sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float,
                               float *, int);
typedef void (*cblas_bf16_fn)(int, int, int, int, int, int, float, const uint16_t *, int, const uint16_t *, int,
                              float, float *, int);

enum { OWN, MKL, OPENBLAS, BLIS, ONEDNN, FP32_LIBRARIES };
static const char *fp32_names[FP32_LIBRARIES] = {"textgan", "MKL", "OpenBLAS", "BLIS", "oneDNN"};
static cblas_sgemm_fn cblas[FP32_LIBRARIES];
static int present[FP32_LIBRARIES];
static cblas_bf16_fn mkl_bf16;
static int own_amx;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static float *values(int64_t n, uint32_t salt) {
    float *p = aligned_alloc(64, ((n * 4 + 63) / 64) * 64);
    for (int64_t i = 0; i < n; i++) p[i] = (float)(((uint32_t)i * 2654435761u + salt) % 1000) / 1000.0f - 0.5f;
    return p;
}

static uint16_t *rounded(const float *x, int64_t n) {
    uint16_t *p = aligned_alloc(64, ((n * 2 + 63) / 64) * 64);
    for (int64_t i = 0; i < n; i++) p[i] = tg_bf16_from_float(x[i]);
    return p;
}

static double deviation(const float *c, const float *reference, int64_t n) {
    double largest = 0, worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)c[i] - reference[i]), r = fabs((double)reference[i]);
        if (d > worst || d != d) worst = d != d ? INFINITY : d;
        if (r > largest) largest = r;
    }
    return largest > 0 ? worst / largest : worst;
}

static void *open_first(const char *const *paths) {
    for (; *paths; paths++)
        if (**paths) {
            void *h = dlopen(*paths, RTLD_NOW | RTLD_LOCAL);
            if (h) return h;
        }
    return NULL;
}

static void open_libraries(void) {
    present[OWN] = tg_sgemm_available();
    char mkl_path[4096] = "";
    const char *mkl_dir = getenv("MKL_LIB");
    if (mkl_dir) snprintf(mkl_path, sizeof mkl_path, "%s/libmkl_rt.so.3", mkl_dir);
    const char *mkl_paths[] = {mkl_path, NULL};
    const char *openblas_paths[] = {"libopenblas.so.0", NULL};
    const char *blis_paths[] = {"libblis.so.4", NULL};
    void *h;
    if ((h = open_first(mkl_paths))) {
        cblas[MKL] = (cblas_sgemm_fn)dlsym(h, "cblas_sgemm");
        mkl_bf16 = (cblas_bf16_fn)dlsym(h, "cblas_gemm_bf16bf16f32");
        char version[256] = "";
        void (*get_version)(char *, int) = (void (*)(char *, int))dlsym(h, "MKL_Get_Version_String");
        if (get_version) get_version(version, sizeof version);
        printf("MKL: %s (MKL_CBWR=%s, MKL_THREADING_LAYER=%s)\n", version, getenv("MKL_CBWR") ? getenv("MKL_CBWR") : "",
               getenv("MKL_THREADING_LAYER") ? getenv("MKL_THREADING_LAYER") : "");
    }
    if ((h = open_first(openblas_paths))) {
        cblas[OPENBLAS] = (cblas_sgemm_fn)dlsym(h, "cblas_sgemm");
        char *(*config)(void) = (char *(*)(void))dlsym(h, "openblas_get_config");
        char *(*core)(void) = (char *(*)(void))dlsym(h, "openblas_get_corename");
        printf("OpenBLAS: %s, core %s (OPENBLAS_CORETYPE=%s)\n", config ? config() : "?", core ? core() : "?",
               getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "unset");
    }
    if ((h = open_first(blis_paths))) {
        cblas[BLIS] = (cblas_sgemm_fn)dlsym(h, "cblas_sgemm");
        int (*query)(void) = (int (*)(void))dlsym(h, "bli_arch_query_id");
        const char *(*arch)(int) = (const char *(*)(int))dlsym(h, "bli_arch_string");
        const char *(*version)(void) = (const char *(*)(void))dlsym(h, "bli_info_get_version_str");
        printf("BLIS: %s, configuration %s\n", version ? version() : "?", query && arch ? arch(query()) : "?");
    }
    for (int l = MKL; l <= BLIS; l++) present[l] = cblas[l] != NULL;
#ifdef HAVE_DNNL
    present[ONEDNN] = 1;
    const dnnl_version_t *v = dnnl_version();
    printf("oneDNN: %d.%d.%d, effective ISA %d (dnnl_cpu_isa_t)\n", v->major, v->minor, v->patch,
           (int)dnnl_get_effective_cpu_isa());
#endif
    own_amx = tg_bf16_amx_available();
}

static void fp32_product(int library, int ta, int tb, int64_t m, int64_t n, int64_t k, float beta, const float *a,
                         int64_t lda, const float *b, int64_t ldb, float *c) {
    if (library == OWN) {
        tg_sgemm_bias(ta, tb, m, n, k, 1, a, lda, b, ldb, beta, c, n, NULL);
    } else if (library == ONEDNN) {
#ifdef HAVE_DNNL
        dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, 1, a, lda, b, ldb, beta, c, n);
#endif
    } else {
        cblas[library](RowMajor, ta ? Trans : NoTrans, tb ? Trans : NoTrans, (int)m, (int)n, (int)k, 1, a, (int)lda, b,
                       (int)ldb, beta, c, (int)n);
    }
}

/// One row of the fp32 table: GFLOP/s of each library present, and each one's |Δ| from the own kernel.
static void fp32_row(const char *name, int ta, int tb, int64_t m, int64_t n, int64_t k, float beta) {
    int64_t lda = ta ? m : k, ldb = tb ? k : n;
    float *a = values((ta ? k : m) * lda, 1), *b = values((tb ? n : k) * ldb, 2), *start = values(m * n, 3);
    float *c[FP32_LIBRARIES];
    double best[FP32_LIBRARIES];
    int reps = (int)(100000000 / (2 * m * n * k)) + 1;
    for (int l = 0; l < FP32_LIBRARIES; l++) c[l] = values(m * n, 3), best[l] = INFINITY;
    for (int round = 0; round < 12; round++)
        for (int l = 0; l < FP32_LIBRARIES; l++) {
            if (!present[l]) continue;
            double t = now();
            for (int r = 0; r < reps; r++) fp32_product(l, ta, tb, m, n, k, beta, a, lda, b, ldb, c[l]);
            t = (now() - t) / reps;
            if (t < best[l]) best[l] = t;
        }
    // One call from C's starting values, for the comparison (beta = 1 accumulates over the timed calls).
    for (int l = 0; l < FP32_LIBRARIES; l++)
        if (present[l]) memcpy(c[l], start, m * n * 4), fp32_product(l, ta, tb, m, n, k, beta, a, lda, b, ldb, c[l]);
    printf("| %s | %ld×%ld×%ld%s%s |", name, (long)m, (long)n, (long)k, ta ? ", Aᵀ" : "", tb ? ", Bᵀ" : "");
    for (int l = 0; l < FP32_LIBRARIES; l++)
        if (present[l]) printf(" %.0f |", 2.0 * m * n * k / best[l] / 1e9);
    int fastest = OWN;
    for (int l = 0; l < FP32_LIBRARIES; l++)
        if (present[l] && best[l] < best[fastest]) fastest = l;
    printf(" %s |", fp32_names[fastest]);
    double worst = 0;
    for (int l = 1; l < FP32_LIBRARIES; l++)
        if (present[l]) worst = fmax(worst, deviation(c[l], c[OWN], m * n));
    printf(" %.1e |\n", worst);
    free(a), free(b), free(start);
    for (int l = 0; l < FP32_LIBRARIES; l++) free(c[l]);
}

#ifdef HAVE_DNNL
static dnnl_engine_t engine;
static dnnl_stream_t stream;
#define CHECK(call)                                                                                                    \
    do {                                                                                                               \
        if ((call) != dnnl_success) {                                                                                  \
            fprintf(stderr, "oneDNN: %s failed\n", #call);                                                             \
            exit(1);                                                                                                   \
        }                                                                                                              \
    } while (0)

/// C [m×n] = op(A) · op(B) by oneDNN's matmul on bf16 operands, fp32 destination; the weights reordered once into
/// the layout the primitive asks for.
typedef struct {
    dnnl_primitive_t matmul;
    dnnl_memory_t src, weights, dst;
} dnnl_product;

static dnnl_product dnnl_prepare(int ta, int tb, int64_t m, int64_t n, int64_t k, uint16_t *a, uint16_t *b,
                                 float *c) {
    dnnl_product p;
    dnnl_memory_desc_t src_md, weights_md, any_md, dst_md, plain_md;
    dnnl_dims_t src_dims = {m, k}, weights_dims = {k, n}, dst_dims = {m, n};
    CHECK(dnnl_memory_desc_init_by_tag(&src_md, 2, src_dims, dnnl_bf16, ta ? dnnl_ba : dnnl_ab));
    CHECK(dnnl_memory_desc_init_by_tag(&plain_md, 2, weights_dims, dnnl_bf16, tb ? dnnl_ba : dnnl_ab));
    CHECK(dnnl_memory_desc_init_by_tag(&any_md, 2, weights_dims, dnnl_bf16, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&dst_md, 2, dst_dims, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t desc;
    CHECK(dnnl_matmul_desc_init(&desc, &src_md, &any_md, NULL, &dst_md));
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_primitive_desc_create(&pd, &desc, NULL, engine, NULL));
    weights_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    CHECK(dnnl_primitive_create(&p.matmul, pd));
    CHECK(dnnl_memory_create(&p.src, &src_md, engine, a));
    CHECK(dnnl_memory_create(&p.dst, &dst_md, engine, c));
    dnnl_memory_t plain;
    CHECK(dnnl_memory_create(&plain, &plain_md, engine, b));
    CHECK(dnnl_memory_create(&p.weights, &weights_md, engine, DNNL_MEMORY_ALLOCATE));
    dnnl_primitive_desc_t reorder_pd;
    CHECK(dnnl_reorder_primitive_desc_create(&reorder_pd, &plain_md, engine, &weights_md, engine, NULL));
    dnnl_primitive_t reorder;
    CHECK(dnnl_primitive_create(&reorder, reorder_pd));
    dnnl_exec_arg_t reorder_args[] = {{DNNL_ARG_FROM, plain}, {DNNL_ARG_TO, p.weights}};
    CHECK(dnnl_primitive_execute(reorder, stream, 2, reorder_args));
    CHECK(dnnl_stream_wait(stream));
    dnnl_primitive_destroy(reorder), dnnl_primitive_desc_destroy(reorder_pd), dnnl_memory_destroy(plain);
    dnnl_primitive_desc_destroy(pd);
    return p;
}

static void dnnl_run(const dnnl_product *p) {
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, p->src}, {DNNL_ARG_WEIGHTS, p->weights}, {DNNL_ARG_DST, p->dst}};
    CHECK(dnnl_primitive_execute(p->matmul, stream, 3, args));
    CHECK(dnnl_stream_wait(stream));
}
#endif

enum { B_OWN, B_AMX, B_MKL, B_ONEDNN, BF16_LIBRARIES };
static const char *bf16_names[BF16_LIBRARIES] = {"textgan", "textgan AMX", "MKL", "oneDNN"};

/// One row of the bf16 table: C = op(A)·op(B) (beta 0), GFLOP/s of each, |Δ| of each from the own fp32 product.
static void bf16_row(const char *name, int ta, int tb, int64_t m, int64_t n, int64_t k) {
    int64_t lda = ta ? m : k, ldb = tb ? k : n;
    float *a = values((ta ? k : m) * lda, 1), *b = values((tb ? n : k) * ldb, 2), *reference = values(m * n, 0);
    uint16_t *a16 = rounded(a, (ta ? k : m) * lda), *b16 = rounded(b, (tb ? n : k) * ldb);
    uint16_t *packed = aligned_alloc(64, ((tg_bf16_packed_b_count(k, n) * 2 + 63) / 64) * 64);
    if (tb) tg_bf16_pack_b_transposed(k, n, b, ldb, packed);
    else tg_bf16_pack_b(k, n, b, ldb, packed);
    tg_sgemm_bias(ta, tb, m, n, k, 1, a, lda, b, ldb, 0, reference, n, NULL);
    int has[BF16_LIBRARIES] = {tg_bf16_packed_b_count(k, n) > 0, own_amx, mkl_bf16 != NULL, 0};
    float *c[BF16_LIBRARIES];
    double best[BF16_LIBRARIES];
    for (int l = 0; l < BF16_LIBRARIES; l++) c[l] = values(m * n, 3), best[l] = INFINITY;
#ifdef HAVE_DNNL
    dnnl_product dnnl = dnnl_prepare(ta, tb, m, n, k, a16, b16, c[B_ONEDNN]);
    has[B_ONEDNN] = 1;
#endif
    int reps = (int)(100000000 / (2 * m * n * k)) + 1;
    for (int round = 0; round < 12; round++)
        for (int l = 0; l < BF16_LIBRARIES; l++) {
            if (!has[l]) continue;
            if (l == B_OWN || l == B_AMX) tg_bf16_set_kernel(l == B_AMX ? TG_BF16_AMX : TG_BF16_VDPBF16PS);
            double t = now();
            for (int r = 0; r < reps; r++) {
                if (l == B_OWN || l == B_AMX) tg_sgemm_bf16_ex(ta, m, n, k, a, lda, packed, c[l], n, 0);
                else if (l == B_MKL)
                    mkl_bf16(RowMajor, ta ? Trans : NoTrans, tb ? Trans : NoTrans, (int)m, (int)n, (int)k, 1, a16,
                             (int)lda, b16, (int)ldb, 0, c[l], (int)n);
#ifdef HAVE_DNNL
                else dnnl_run(&dnnl);
#endif
            }
            t = (now() - t) / reps;
            if (t < best[l]) best[l] = t;
        }
    tg_bf16_set_kernel(TG_BF16_VDPBF16PS);
    printf("| %s | %ld×%ld×%ld%s%s |", name, (long)m, (long)n, (long)k, ta ? ", Aᵀ" : "", tb ? ", Bᵀ" : "");
    int fastest = -1;
    for (int l = 0; l < BF16_LIBRARIES; l++) {
        if (!has[l]) { printf(" — |"); continue; }
        printf(" %.0f |", 2.0 * m * n * k / best[l] / 1e9);
        if (fastest < 0 || best[l] < best[fastest]) fastest = l;
    }
    printf(" %s |", fastest < 0 ? "—" : bf16_names[fastest]);
    for (int l = 0; l < BF16_LIBRARIES; l++)
        if (has[l]) printf(" %.1e", deviation(c[l], reference, m * n));
    printf(" |\n");
    free(a), free(b), free(reference), free(a16), free(b16), free(packed);
    for (int l = 0; l < BF16_LIBRARIES; l++) free(c[l]);
}

typedef struct {
    const char *name;
    int ta, tb;
    int64_t m, n, k;
    float beta;
} shape;

// The products of the phases (m×n×k as C [m×n] += op(A) [m×k] · op(B) [k×n]); beta 1 where training accumulates.
static const shape shapes[] = {
    {"LSTM logits (64 rows)", 0, 0, 64, 5000, 32, 0},
    {"LSTM logits dW (xᵀ·dL)", 1, 0, 32, 5000, 64, 1},
    {"LSTM logits dx (dL·Wᵀ)", 0, 1, 64, 32, 5000, 0},
    {"Transformer logits (64 rows)", 0, 0, 64, 5000, 64, 0},
    {"Transformer logits dW", 1, 0, 64, 5000, 64, 1},
    {"Transformer logits dx", 0, 1, 64, 64, 5000, 0},
    {"soft rows · E (1280 rows)", 0, 0, 1280, 64, 5000, 0},
    {"highway forward (x·Wᵀ)", 0, 1, 64, 1720, 1720, 0},
    {"highway dW (dYᵀ·x)", 1, 0, 1720, 1720, 64, 1},
    {"highway dX (dY·W)", 0, 0, 64, 1720, 1720, 0},
    {"LSTM step gates (h·Wh)", 0, 0, 64, 128, 32, 1},
    {"LSTM input gates (all steps)", 0, 0, 1280, 128, 32, 0},
    {"LSTM gates dW (xᵀ·dG)", 1, 0, 32, 128, 1280, 1},
    {"LSTM step dh (dG·Whᵀ)", 0, 1, 64, 32, 128, 0},
    {"Transformer qkv (x·W)", 0, 0, 1280, 192, 64, 0},
    {"Transformer MLP up", 0, 0, 1280, 256, 64, 0},
    {"Transformer MLP down", 0, 0, 1280, 64, 256, 0},
    {"Transformer MLP dW", 1, 0, 64, 256, 1280, 1},
    {"attention scores (Q·Kᵀ)", 0, 1, 20, 20, 16, 0},
    {"logits, a batch (1280 rows)", 0, 0, 1280, 5000, 32, 0},
    {"logits dW, a batch", 1, 0, 32, 5000, 1280, 1},
    {"logits dx, a batch", 0, 1, 1280, 32, 5000, 0},
    {"square 1024", 0, 0, 1024, 1024, 1024, 0},
    {"square 2048", 0, 0, 2048, 2048, 2048, 0},
};

int main(void) {
    tg_line_buffer_stdout();
    open_libraries();
#ifdef HAVE_DNNL
    CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
#endif
    int count = sizeof shapes / sizeof shapes[0];
    printf("\nfp32, GFLOP/s, one thread (best of 12)\n\n| product | m×n×k |");
    for (int l = 0; l < FP32_LIBRARIES; l++)
        if (present[l]) printf(" %s |", fp32_names[l]);
    printf(" fastest | largest |Δ| from textgan |\n|---|---|");
    for (int l = 0; l < FP32_LIBRARIES; l++)
        if (present[l]) printf("---|");
    printf("---|---|\n");
    for (int i = 0; i < count; i++)
        fp32_row(shapes[i].name, shapes[i].ta, shapes[i].tb, shapes[i].m, shapes[i].n, shapes[i].k, shapes[i].beta);
    if (tg_bf16_packed_b_count(64, 64) == 0 && !mkl_bf16 && !present[ONEDNN]) return 0;
    printf("\nbf16 operands, fp32 accumulation, GFLOP/s, one thread (best of 12); |Δ| from textgan's fp32 product\n\n"
           "| product | m×n×k | textgan | textgan AMX | MKL | oneDNN | fastest | |Δ| (each present) |\n"
           "|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < count; i++)
        if (shapes[i].m * shapes[i].n * shapes[i].k >= 1 << 16)
            bf16_row(shapes[i].name, shapes[i].ta, shapes[i].tb, shapes[i].m, shapes[i].n, shapes[i].k);
    return 0;
}
