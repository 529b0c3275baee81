// Elementwise float kernels behind plain C types: the transcendental loops of softmax, cross-entropy, sampling and
// the LSTM gates. Each is compiled for AVX-512, AVX2 and baseline x86-64 and picked at load time for the CPU.
#ifndef TEXTGAN_CKERNELS_H
#define TEXTGAN_CKERNELS_H

#include <stdint.h>

/// y[i] = exp(x[i] - shift); returns the sum of the y[i]. y may alias x.
float tg_exp_sum(const float *x, float *y, int64_t n, float shift);
/// y[i] = exp(x[i]). y may alias x.
void tg_exp(const float *x, float *y, int64_t n);
/// y[i] = 1 / (1 + exp(-x[i])). y may alias x.
void tg_sigmoid(const float *x, float *y, int64_t n);
/// y[i] = tanh(x[i]). y may alias x.
void tg_tanh(const float *x, float *y, int64_t n);
/// GELU (GPT-2's tanh form) and its backward dx = dy·GELU'(x), tanh as tg_tanh's; y may alias x, dx may alias dy.
void tg_gelu(const float *x, float *y, int64_t n);
void tg_gelu_backward(const float *x, const float *dy, float *dx, int64_t n);
/// The largest x[i] (-infinity for n = 0; NaN entries are skipped).
float tg_max(const float *x, int64_t n);
/// One LSTM step's cell for B rows, in place: gates [B, 4H] (i | f | o | g pre-activations) become σ(i), σ(f), σ(o),
/// tanh(g); c = f⊙c_prev + i⊙g, tanh_c = tanh(c), h = o⊙tanh_c. σ and tanh are tg_sigmoid's and tg_tanh's.
void tg_lstm_cell_forward(float *gates, const float *c_prev, float *c, float *tanh_c, float *h, int64_t B, int64_t H);

/// Σ x[i]², accumulated in double in 8 interleaved partial sums (then the tail, then the partial sums in order).
double tg_sum_squares(const float *x, int64_t n);
/// Σ (x_i − y_i)², each term and the sum in double (8 partial sums, then the tail): the same bits on any thread.
double tg_squared_distance(const float *x, const float *y, int64_t n);
/// One query row q [width] attending, head by head (heads of width/heads), to `positions` cached key and value rows
/// k, v [positions, width]: out[head] = softmax(q_h·K_hᵀ/√D)·V_h, scores [positions] as scratch. The decoding
/// step of the Transformer's key/value cache in one call (its twin re-runs the whole prefix).
void tg_attend_cached(const float *q, const float *k, const float *v, int64_t positions, int64_t heads, int64_t width,
                      float *scores, float *out);
/// The gradient of a softmax's input, scaled: out = scale·p ⊙ (d − ⟨d, p⟩) for p = softmax(scale·x) [n] and
/// d = ∂L/∂p; ⟨d, p⟩ summed in double (eight running sums, then the tail, then the eight in order).
void tg_softmax_input_gradient(const float *p, const float *d, int64_t n, float scale, float *out);
/// y[i] *= a.
void tg_scale(float *y, float a, int64_t n);
/// One row of a softmax cross-entropy gradient, in place, added to a column sum: y[i] = a·y[i] (minus c where
/// i == t), then sum[i] += y[i]; each rounding as in the separate steps (no contraction).
void tg_xent_gradient_row(float *y, float a, int64_t t, float c, float *sum, int64_t n);
/// The first index where the running sum of the non-negative weights w exceeds target (inverse-CDF sampling with
/// target = u · Σw); the last index with positive weight when rounding keeps the sum from exceeding it.
int64_t tg_inverse_cdf(const float *w, int64_t n, float target);
/// y[i] += a * x[i].
void tg_axpy(float a, const float *x, float *y, int64_t n);

/// One Adam step over n parameters, in place: with g' = g + weight_decay·w (coupled L2; pass 0 for none),
/// m ← β1·m + (1−β1)·g', v ← β2·v + (1−β2)·g'², w ← w − step_size·m / (√(v / correction2) + ε), where the caller
/// folds the learning rate and 1/(1−β1ᵗ) into step_size. The operations and their order are those of the scalar
/// rule, without fused multiply-adds, so the result is the same to the bit.
void tg_adam(float *w, const float *g, float *m, float *v, int64_t n, float beta1, float beta2, float step_size,
             float correction2, float epsilon, float weight_decay);

/// C = alpha·op(A)·op(B) + beta·C for row-major matrices (op(X) = Xᵀ when trans_x), with leading dimensions as
/// row strides, through textgan's AVX-512 kernel (gemm.c); C is not read when beta == 0. Returns 0, having done
/// nothing, when the CPU lacks AVX-512 (the caller then uses BLAS) or a dimension is zero.
int tg_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
             const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
/// tg_sgemm with a bias row added to every row of C: C = alpha·op(A)·op(B) + beta·C + 1·biasᵀ (bias has n entries;
/// NULL for none). Returns 0, having done nothing, where tg_sgemm would.
int tg_sgemm_bias(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                  int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc, const float *bias);
/// C [m, n] = A·op(B) + 1·biasᵀ (bias may be NULL; beta 0) where A's row i is rows[i][0 ..< k]: rows anywhere in
/// memory, even overlapping (a convolution's windows, read where they lie in its input instead of being copied out).
/// The same bits as tg_sgemm on those rows copied into a matrix. Returns 0, having done nothing, where tg_sgemm would.
int tg_sgemm_rows(int trans_b, int64_t m, int64_t n, int64_t k, const float *const *rows, const float *b, int64_t ldb,
                  float *c, int64_t ldc, const float *bias);
/// dst[c·ldd + r] = src[r·lds + c] for r < rows, c < cols: a (sub)matrix transposed, AVX-512 16×16 blocks where
/// tg_sgemm runs.
void tg_transpose(const float *src, int64_t rows, int64_t cols, int64_t lds, float *dst, int64_t ldd);
/// 1 when tg_sgemm runs on this CPU.
int tg_sgemm_available(void);

/// Loads Intel MKL from `path` (a libmkl_rt.so) with dlopen and sets it up for every later call: the sequential
/// threading layer (one thread; textgan splits products itself) and strict conditional numerical reproducibility on
/// the AVX-512 branch (AVX2, or the compatible one, on CPUs without it), so equal calls give equal bits. 1 when MKL
/// is ready (also when it already was), 0 when the library or one of its functions is missing or refuses the
/// threading layer, −1 when it refuses the reproducibility mode on this CPU (tg_mkl_refusal says which).
int tg_mkl_load(const char *path);
/// Why the last tg_mkl_load returned −1 ("" otherwise).
const char *tg_mkl_refusal(void);
/// 1 once tg_mkl_load has succeeded.
int tg_mkl_loaded(void);
/// MKL's version string and the settings tg_mkl_load chose ("" before it).
const char *tg_mkl_description(void);
/// tg_sgemm through MKL's cblas_sgemm (row-major). Returns 0, having done nothing, when MKL is not loaded, a
/// dimension is zero or a size exceeds MKL's 32-bit integers.
int tg_mkl_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                 const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/// Max-over-time of one convolution width computed from per-token tables: for p in first ..< T−w+1,
/// acc = bias + Σ_{k<w} table[(k·V + ids[p+k])·F ..< +F], and out[f] = max(init[f], max_p acc[f]) (no ReLU; without
/// `init`, NULL, the max over the windows alone). `table` holds w blocks of [V, F]: block k is the embedding matrix
/// times the filters' k-th step. `acc` is F floats of scratch. Max is exact, so windows may be taken in several calls
/// (the earlier ones' maxima passed as `init`) with the same result. With `partial` (else NULL), a window p < `shared`
/// starts from partial[(p − first)·F ..< +F] (tg_table_conv_partials' sum of the bias and its steps k < shared − p)
/// and adds only its steps from shared − p on: the same sum in the same order, so the same bits.
void tg_table_conv_max(const float *table, int64_t V, int64_t F, int64_t w, const int32_t *ids, int64_t T,
                       const float *bias, float *acc, float *out, int64_t first, const float *init,
                       const float *partial, int64_t shared);

/// For the windows first ≤ p < last, which start inside the first `shared` tokens and reach past them
/// (p < shared < p + w, and p + w ≤ the sequence's length: the caller's bounds):
/// out[(p − first)·F ..< +F] = bias + Σ_{k < shared − p} table[(k·V + ids[p+k])·F ..< +F], summed as
/// tg_table_conv_max sums, for sequences that share those tokens to continue (SeqGAN's rollout completions).
void tg_table_conv_partials(const float *table, int64_t V, int64_t F, int64_t w, const int32_t *ids, int64_t shared,
                            const float *bias, int64_t first, int64_t last, float *out);

/// Max over time of one sequence's convolution outputs conv [P, F] (row p = position p): out[f] = max_p conv[p, f] and
/// argmax[f] = the first p attaining it (NaN never wins; all-NaN columns give conv[0, f] and 0).
void tg_max_over_time(const float *conv, int64_t P, int64_t F, float *out, int32_t *argmax);

/// out[j] += Σ_i coefficients[i] · base[offsets[i] + j] for j < n: a sparse matrix–vector product whose rows are
/// gathered from `base` (the convolution's sparse backward pass). Fixed order: out[j] = (out[j] + Σ_{i even}) + Σ_{i odd},
/// each partial sum over i ascending. With accumulate == 0, out is not read and the sums start from 0 instead.
void tg_gather_axpy(float *out, int64_t n, const float *base, const int64_t *offsets, const float *coefficients,
                    int64_t count, int accumulate);

/// The non-zero elements of x [n], in order: offsets[c] = i·scale and values[c] = x[i] for the c-th x[i] ≠ 0 (NaN
/// counts as non-zero; so does a subnormal unless the thread reads subnormals as zero). Stops once more than `limit`
/// are found and returns limit + 1; otherwise returns the count. offsets and values need room for min(n, limit + 1).
int64_t tg_nonzeros(const float *x, int64_t n, int64_t scale, int64_t limit, int64_t *offsets, float *values);

/// This thread's count of enclosing parallel regions (`Parallel.forEachChunk` runs nested regions inline).
int tg_parallel_depth(void);
void tg_set_parallel_depth(int depth);

/// A chunk of a parallel region: chunk k of the work `context` describes.
typedef void (*tg_chunk_function)(void *context, int64_t chunk);
/// Runs function(context, k) for k = 0 … chunks − 1: chunk 0 on the calling thread, the others on the pool's
/// workers (pool.c; started on first use, one per chunk, kept for the process's life), each computing in the
/// floating-point control word `control` (the caller's, so flush-to-zero carries over) and at parallel depth 1.
/// Returns when every chunk has finished. Returns 0, having run nothing, when another thread's region is running
/// or the workers cannot be started: the caller runs the region another way.
int tg_pool_run(int64_t chunks, tg_chunk_function function, void *context, unsigned control);

/// Gumbel noise g [V] for one row of logits o: with y ≥ 0, drawn given argmax(o + g) = y (top-down: the maximum is
/// lse + Gumbel, lse = logsumexp(o), the others Gumbels truncated below it); with y < 0, free standard Gumbels.
/// u: V + 1 uniforms in (0, 1) (the last one for the maximum). Accuracy ~1e-6 relative, ample for noise. Returns
/// max over i ≠ y of o_i + g_i (−∞ when y < 0), for the caller's check that the emitted token stays the maximum.
float tg_gumbel_noise(const float *o, int64_t V, int64_t y, float lse, const float *u, float *g);

/// The Gumbel-max trick on one row of logits o [V]: z = o + g with g_i = −ln(−ln u_i) (the free noise of
/// tg_gumbel_noise) written to z, and the index of z's first maximum returned (0 when every z_i is NaN): an exact
/// sample of softmax(o). u: V uniforms in (0, 1).
int64_t tg_gumbel_max(const float *o, int64_t V, const float *u, float *z);

/// `count` open uniforms per stream from `lanes` ≤ 8 xoshiro256** streams (state: 4 words per stream, s0…s3 as
/// SeededGenerator holds them; advanced in place) into out[l][0 ..< count]: the values SeededGenerator.next() gives,
/// each as (2k + 1)·2⁻²⁴ with k its top 23 bits, computed for the streams side by side.
void tg_open_uniforms(uint64_t *state, int64_t lanes, int64_t count, float *const *out);

/// This thread's floating-point control word (x86: MXCSR), to copy into worker threads; 0 elsewhere.
unsigned tg_fp_control(void);
void tg_set_fp_control(unsigned control);
/// 1 when this thread flushes subnormal results and inputs to zero (x86: MXCSR FTZ and DAZ both set).
int tg_flushes_subnormals(void);
void tg_set_flush_subnormals(int on);

/// The CPU's features that pick kernels, as far as the OS has enabled their registers (XCR0): TG_CPU_* bits.
enum {
    TG_CPU_AVX2 = 1, TG_CPU_FMA = 2, TG_CPU_AVX512F = 4, TG_CPU_AVX512BW = 8, TG_CPU_AVX512_BF16 = 16,
    TG_CPU_AMX_BF16 = 32, TG_CPU_AMX_TILE = 64, TG_CPU_AVX512_FP16 = 128,
};
uint32_t tg_cpu_features(void);
/// The CPU's brand string (cpuid 0x80000002–4) into out (capacity ≥ 49); 0 when the CPU gives none.
int tg_cpu_brand(char *out, int64_t capacity);
/// Multiply-adds per second on the calling thread's core, measured by a short loop (about 2 ms) of independent
/// 512-bit chains: fp32 FMA (16 per VFMADD231PS) into *fp32, and VDPBF16PS (32 per instruction) into *bf16 (0 without
/// AVX512_BF16). Returns 0, having measured nothing, without AVX-512. Not every CPU that has VDPBF16PS runs it at
/// twice the FMA's rate (Emerald Rapids under KVM: under half), so the bf16 kernels' worth is measured, not assumed.
int tg_multiply_add_rates(double *fp32, double *bf16);

/// bf16 by rounding to nearest, ties to even (NaN stays a quiet NaN), and back (exact).
uint16_t tg_bf16_from_float(float x);
float tg_float_from_bf16(uint16_t h);
/// Mixed precision C[m×n] = A[m×k] · B[k×n] (row-major, leading dimensions as row strides): each operand rounded
/// to bf16, products accumulated in fp32 by AVX512_BF16's VDPBF16PS (gemm_bf16.c). B is packed once
/// (tg_bf16_pack_b into tg_bf16_packed_b_count(k, n) values); returns 0, having done nothing, without AVX512_BF16.
int64_t tg_bf16_packed_b_count(int64_t k, int64_t n);
/// k's pairs rounded up to a multiple of 16: the rows of each packed 32-column panel (the rest zeros).
int64_t tg_bf16_padded_pairs(int64_t k);
/// Nonzero: B is packed by the scalar loop even where the AVX-512 packer runs (the tests' comparison of the two).
void tg_bf16_set_scalar_packing(int on);
int tg_bf16_scalar_packing(void);
void tg_bf16_pack_b(int64_t k, int64_t n, const float *b, int64_t ldb, uint16_t *out);
int tg_sgemm_bf16_packed(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const uint16_t *packed_b,
                         float *c, int64_t ldc);
/// The scalar twin of tg_sgemm_bf16_packed: the same roundings and the same order of every multiply-add (the odd
/// element of each k pair, then the even one; bf16 denormals read as zero, denormal sums flushed), so the same bits.
void tg_sgemm_bf16_reference(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
                             int64_t ldb, float *c, int64_t ldc);
/// The shapes training needs. B packed from the transpose of bt [n × k] (a weight used as Wᵀ);
/// C = op(A)·B with A or Aᵀ as stored (+ C's values when `accumulate`, each chain going on from them); C = A·B
/// with A's row i at rows[i] (overlapping windows). Each returns 0, having done nothing, without AVX512_BF16.
void tg_bf16_pack_b_transposed(int64_t k, int64_t n, const float *bt, int64_t ldbt, uint16_t *out);
/// Rewrite part of a packing (out, as tg_bf16_pack_b or tg_bf16_pack_b_transposed wrote it) after B changed there:
/// B's rows p0 ..< p1 (p0 even; p1 even, or k) with b pointing at row p0, or B's columns j0 ..< j1 (rows j0 ..< j1 of
/// bt, with bt pointing at bt's row 0). The pads are left as they are; the result is the bits a whole new packing gives.
void tg_bf16_pack_b_rows(int64_t k, int64_t n, const float *b, int64_t ldb, int64_t p0, int64_t p1, uint16_t *out);
void tg_bf16_pack_b_transposed_columns(int64_t k, int64_t n, const float *bt, int64_t ldbt, int64_t j0, int64_t j1,
                                       uint16_t *out);
/// Zeros a packing's pads (every pair past k's, and all of a last, partial panel) and nothing else: a packing to be
/// written a block of rows at a time by tg_bf16_pack_b_rows starts this way.
void tg_bf16_zero_pads(int64_t k, int64_t n, uint16_t *out);
int tg_sgemm_bf16_ex(int trans_a, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                     const uint16_t *packed_b, float *c, int64_t ldc, int accumulate);
int tg_sgemm_bf16_rows(int64_t m, int64_t n, int64_t k, const float *const *rows, const uint16_t *packed_b, float *c,
                       int64_t ldc);
/// The scalar twin of all three: op(A)·op(B) (+ C when `accumulate`), the same bits.
void tg_sgemm_bf16_reference_ex(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const float *a,
                                int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc, int accumulate);

/// Which kernel the bf16 products run on (gemm_amx.c): VDPBF16PS (the default; bit-identical to the scalar twin) or
/// AMX tiles (TDPBF16PS; its own rounding order, so not bit-identical). tg_bf16_set_kernel returns 0, changing
/// nothing, when the kernel is unknown or (AMX) the CPU or the kernel refuses the tiles; the choice is per process.
enum { TG_BF16_VDPBF16PS = 0, TG_BF16_AMX = 1 };
int tg_bf16_amx_available(void);
int tg_bf16_set_kernel(int kernel);
int tg_bf16_kernel(void);
/// C [m, n] (+)= A · packed B on AMX tiles, A's element (i, p) being rows[i][p] when `rows` is not NULL, else
/// a[i·row + p·column] (A as stored: column 1; Aᵀ as stored: row 1); 0 without AMX.
int tg_bf16_amx_gemm(int64_t m, int64_t n, int64_t k, const float *a, int64_t row, int64_t column,
                     const float *const *rows, const uint16_t *packed_b, float *c, int64_t ldc, int accumulate);
/// count floats rounded to bf16 as tg_bf16_from_float does (AVX-512 where the CPU has it: the same bits).
void tg_bf16_round_row(const float *x, int64_t count, uint16_t *out);

/// Makes C's stdout line-buffered (it is block-buffered into pipes and files).
void tg_line_buffer_stdout(void);

/// Keeps freed large buffers in glibc's heap instead of returning them to the OS (mallopt); 1 when applied.
int tg_keep_large_buffers(void);

#endif
