import CKernels

// The transcendental loops behind softmax, cross-entropy, sampling and the LSTM gates. libm is exact to the last bit
// but scalar, and a softmax over a 5000-word vocabulary runs it millions of times per batch; these call the C
// kernels of `CKernels`, compiled for AVX-512, AVX2 and baseline x86-64 and chosen for the CPU at load time.
// exp: relative error ≤ 2 ulp (tested against libm over the whole range), exactly 0 far below, +∞ above 88.72,
// NaN stays NaN. tanh: absolute error ≤ 3·10⁻⁷.

public enum Vector {
    /// y[i] = exp(x[i]); y may alias x.
    @inlinable
    public static func exp(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        tg_exp(x, y, Int64(count))
    }

    /// y[i] = exp(x[i] − shift) and returns Σ y; y may alias x.
    @inlinable
    public static func expSum(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int, shift: Float) -> Float {
        tg_exp_sum(x, y, Int64(count), shift)
    }

    /// Σ (x[i] − y[i])², in Double.
    @inlinable
    public static func squaredDistance(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count: Int) -> Double {
        tg_squared_distance(x, y, Int64(count))
    }

    /// max over a buffer (−∞ for an empty one).
    @inlinable
    public static func maximum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        tg_max(x, Int64(count))
    }

    /// y[i] = σ(x[i]); y may alias x.
    @inlinable
    public static func sigmoid(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        tg_sigmoid(x, y, Int64(count))
    }

    /// y[i] = tanh(x[i]); y may alias x.
    @inlinable
    public static func tanh(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        tg_tanh(x, y, Int64(count))
    }

    /// y[i] *= a.
    @inlinable
    public static func scale(_ y: UnsafeMutablePointer<Float>, by a: Float, count: Int) {
        tg_scale(y, a, Int64(count))
    }

    /// y = a·y with c taken off y[target], then sum += y: a softmax row turned into its cross-entropy gradient and
    /// added to the bias gradient in one pass, rounded as `scale`, a subtraction and `axpy` would round it.
    @inlinable
    public static func crossEntropyGradientRow(_ y: UnsafeMutablePointer<Float>, scale a: Float, target: Int,
                                               minus c: Float, addingTo sum: UnsafeMutablePointer<Float>, count: Int) {
        tg_xent_gradient_row(y, a, Int64(target), c, sum, Int64(count))
    }

    /// The first index whose cumulative weight exceeds `target` (inverse-CDF sampling with target = u·Σw), or the
    /// last index with positive weight when rounding keeps the sum below it. Weights must be non-negative.
    @inlinable
    public static func inverseCDF(_ w: UnsafePointer<Float>, count: Int, target: Float) -> Int {
        Int(tg_inverse_cdf(w, Int64(count), target))
    }

    /// Max over positions of one convolution width from per-token tables (see `tg_table_conv_max`): `table` holds
    /// `width` blocks of [V, F]; out[f] = max(initial[f], max_p (bias[f] + Σ_k table[k][ids[p+k]][f])) over the windows
    /// p ≥ `firstWindow` (without `initial`, the max over those windows alone); `scratch` is F floats. With `partial`,
    /// the windows that start before `sharedLength` continue `tableConvolutionPartials`' sums (the same bits).
    public static func tableConvolutionMax(
        table: UnsafePointer<Float>, vocabularySize: Int, filters: Int, width: Int, ids: UnsafePointer<Int32>,
        length: Int, bias: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>,
        firstWindow: Int = 0, initial: UnsafePointer<Float>? = nil, partial: UnsafePointer<Float>? = nil,
        sharedLength: Int = 0
    ) {
        tg_table_conv_max(table, Int64(vocabularySize), Int64(filters), Int64(width), ids, Int64(length), bias, scratch,
                          out, Int64(firstWindow), initial, partial, Int64(sharedLength))
    }

    /// The sums over the first `sharedLength` tokens of the windows in `windows`, which start inside them and reach
    /// past them: F floats per window (see `tg_table_conv_partials`).
    public static func tableConvolutionPartials(
        table: UnsafePointer<Float>, vocabularySize: Int, filters: Int, width: Int, ids: UnsafePointer<Int32>,
        sharedLength: Int, bias: UnsafePointer<Float>, windows: Range<Int>, out: UnsafeMutablePointer<Float>
    ) {
        precondition(windows.isEmpty || (windows.lowerBound + width > sharedLength && windows.upperBound <= sharedLength),
                     "tableConvolutionPartials: windows \(windows) do not straddle \(sharedLength) tokens")
        tg_table_conv_partials(table, Int64(vocabularySize), Int64(filters), Int64(width), ids, Int64(sharedLength), bias,
                               Int64(windows.lowerBound), Int64(windows.upperBound), out)
    }

    /// out[f] = max_p conv[p, f] over conv [P, F], and the first p attaining it (see `tg_max_over_time`).
    @inlinable
    public static func maxOverTime(_ conv: UnsafePointer<Float>, positions: Int, filters: Int,
                                   into out: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>) {
        tg_max_over_time(conv, Int64(positions), Int64(filters), out, argmax)
    }

    /// out[j] += Σ_i coefficients[i] · base[offsets[i] + j] for j < count, summed over i in order; without
    /// `accumulate`, out[j] = that sum (out is not read).
    @inlinable
    public static func gatherAxpy(into out: UnsafeMutablePointer<Float>, count: Int, base: UnsafePointer<Float>,
                                  offsets: UnsafePointer<Int64>, coefficients: UnsafePointer<Float>, rows: Int,
                                  accumulate: Bool = true) {
        tg_gather_axpy(out, Int64(count), base, offsets, coefficients, Int64(rows), accumulate ? 1 : 0)
    }

    /// y[i] += a·x[i].
    @inlinable
    public static func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        tg_axpy(a, x, y, Int64(count))
    }

    /// The Gumbel-max trick on one row of logits (`tg_gumbel_max`): z = logits + g, g_i = −ln(−ln u_i) from
    /// `uniforms` [count] in (0, 1), written to `z`; returns the index of z's first maximum, an exact sample of
    /// softmax(logits).
    public static func gumbelMax(logits: UnsafePointer<Float>, count: Int, uniforms: UnsafePointer<Float>,
                                 into z: UnsafeMutablePointer<Float>) -> Int {
        Int(tg_gumbel_max(logits, Int64(count), uniforms, z))
    }

    /// Gumbel noise g [count] for one row of logits: with `token` ≥ 0 drawn given argmax(logits + g) = token
    /// (top-down Gumbel; `logSumExp` is logsumexp(logits)), with `token` < 0 free standard Gumbels. `uniforms`:
    /// count + 1 values strictly inside (0, 1). Vectorised logarithms, accurate to ~1e-6: ample for noise.
    /// Returns the largest logits[i] + g[i] over i ≠ token (−∞ for token < 0).
    @inlinable @discardableResult
    public static func gumbelNoise(logits: UnsafePointer<Float>, count: Int, token: Int, logSumExp: Float,
                                   uniforms: UnsafePointer<Float>, into g: UnsafeMutablePointer<Float>) -> Float {
        tg_gumbel_noise(logits, Int64(count), Int64(token), logSumExp, uniforms, g)
    }
}
