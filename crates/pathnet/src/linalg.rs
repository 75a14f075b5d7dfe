//! The few dense operations the path network needs, on row-major `f32` slices.

/// `c[m×n] = beta·c + a[m×k]·b[k×n]`, where `a` and `b` are addressed through row and column
/// strides (so a transposed operand costs nothing).
pub(crate) fn gemm(
    (m, k, n): (usize, usize, usize),
    a: &[f32],
    (rsa, csa): (usize, usize),
    b: &[f32],
    (rsb, csb): (usize, usize),
    beta: f32,
    c: &mut [f32],
) {
    if m == 0 || n == 0 {
        return;
    }
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| (rows - 1) * rs + (cols - 1) * cs;
    assert!(
        k == 0 || a.len() > last(m, k, rsa, csa),
        "gemm: operand a too short"
    );
    assert!(
        k == 0 || b.len() > last(k, n, rsb, csb),
        "gemm: operand b too short"
    );
    assert!(c.len() >= m * n, "gemm: output too short");
    // SAFETY: the asserts above keep every index the kernel touches inside the three slices,
    // and `c` is borrowed mutably, so it does not alias `a` or `b`.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa as isize,
            csa as isize,
            b.as_ptr(),
            rsb as isize,
            csb as isize,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// `y[rows×out] = x[rows×in]·wᵀ + bias`, for a weight stored `[out, in]` followed by `bias[out]`.
pub(crate) fn dense_forward(
    x: &[f32],
    rows: usize,
    inputs: usize,
    block: &[f32],
    y: &mut Vec<f32>,
) {
    let outputs = block.len() / (inputs + 1);
    let (w, bias) = block.split_at(outputs * inputs);
    y.clear();
    y.reserve(rows * outputs);
    for _ in 0..rows {
        y.extend_from_slice(bias);
    }
    gemm(
        (rows, inputs, outputs),
        x,
        (inputs, 1),
        w,
        (1, inputs),
        1.0,
        y,
    );
}

/// Accumulates a dense layer's parameter gradient: `dw += dyᵀ·x`, `dbias += Σ rows of dy`.
pub(crate) fn dense_weight_grad(
    dy: &[f32],
    x: &[f32],
    rows: usize,
    inputs: usize,
    grad: &mut [f32],
) {
    let outputs = grad.len() / (inputs + 1);
    let (dw, dbias) = grad.split_at_mut(outputs * inputs);
    gemm(
        (outputs, rows, inputs),
        dy,
        (1, outputs),
        x,
        (inputs, 1),
        1.0,
        dw,
    );
    for row in dy.chunks_exact(outputs) {
        for (d, v) in dbias.iter_mut().zip(row) {
            *d += v;
        }
    }
}

/// Accumulates a dense layer's input gradient: `dx += dy·w`.
pub(crate) fn dense_input_grad(
    dy: &[f32],
    rows: usize,
    inputs: usize,
    block: &[f32],
    dx: &mut [f32],
) {
    let outputs = block.len() / (inputs + 1);
    let w = &block[..outputs * inputs];
    gemm(
        (rows, outputs, inputs),
        dy,
        (outputs, 1),
        w,
        (inputs, 1),
        1.0,
        dx,
    );
}

/// Row ranges of an adaptive average pool that maps `len` positions onto `cells` bins
/// (PyTorch's rule: bin `i` covers `floor(i·len/cells) .. ceil((i+1)·len/cells)`).
pub(crate) fn pool_bins(len: usize, cells: usize) -> Vec<(usize, usize)> {
    (0..cells)
        .map(|i| ((i * len) / cells, ((i + 1) * len).div_ceil(cells)))
        .collect()
}

/// Row-wise softmax in place; returns nothing, each row sums to 1.
pub(crate) fn softmax_rows(values: &mut [f32], width: usize) {
    for row in values.chunks_exact_mut(width) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        for v in row.iter_mut() {
            *v /= sum;
        }
    }
}

/// `-ln p` for a predicted probability, floored at 1e-30 so a confident miss stays finite, while
/// a NaN stays NaN (the caller reports it as divergence).
pub(crate) fn neg_log(p: f32) -> f64 {
    if p.is_nan() {
        f64::NAN
    } else {
        -f64::from(p.max(1e-30)).ln()
    }
}
