//! int8 matrix products with i32 sums, for the Winograd layers' 36 products per part when the
//! encoder runs at int8 precision, on AVX512-VNNI's `vpdpbusd` (AMD Zen 4 and later, Intel Ice
//! Lake and later).
//!
//! The right-hand matrix (a layer's transformed kernel at one tile position) is quantized once,
//! per column (output channel): `b[k][o] ~ scale[o] * q[k][o]`, `q` in -127..=127. The left-hand
//! matrix (the transformed input) is quantized as it comes, per row (tile): its largest magnitude
//! maps to 127, so no activation scale has to be calibrated ahead and no value saturates.
//! `vpdpbusd` multiplies unsigned by signed bytes, so the left values are stored offset by 128
//! and `128 * sum_k q[k][o]` is taken off each column's sum before it is scaled back to f32.

#[cfg(target_arch = "x86_64")]
mod vnni;

/// Rows of A (and C) one step of the kernel computes: products have whole blocks of rows.
pub const ROW_BLOCK: usize = 8;
/// Columns of C one step computes.
const COL_BLOCK: usize = 32;
/// Values along the shared dimension one `vpdpbusd` lane sums.
const DEPTH: usize = 4;

/// Whether this CPU has AVX-512 (F, BW) and AVX512-VNNI (asked once per process).
pub fn available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        return vnni::detect();
        #[cfg(not(target_arch = "x86_64"))]
        false
    })
}

/// Whether a `k x n` right-hand matrix suits the kernel.
pub fn supports(k: usize, n: usize) -> bool {
    k > 0 && n > 0 && k.is_multiple_of(DEPTH) && n.is_multiple_of(COL_BLOCK)
}

/// A `k x n` right-hand matrix quantized per column, in the layout `vpdpbusd` reads
/// (`[k / 4][n][4]`: four rows of a column side by side).
pub struct QuantizedRight {
    k: usize,
    n: usize,
    values: Vec<i8>,
    /// Per column: the f32 value of one step.
    scales: Vec<f32>,
    /// Per column: `128 * sum_k q[k][o]`, the offset of the unsigned left values.
    offsets: Vec<i32>,
}

impl QuantizedRight {
    /// Quantizes a row-major `k x n` f32 matrix (a column of zeros gets scale 1).
    pub fn new(b: &[f32], k: usize, n: usize) -> QuantizedRight {
        assert!(
            supports(k, n) && b.len() == k * n,
            "right-hand matrix shape"
        );
        let scales: Vec<f32> = (0..n)
            .map(|o| {
                let largest = (0..k).map(|i| b[i * n + o].abs()).fold(0.0, f32::max);
                if largest > 0.0 { largest / 127.0 } else { 1.0 }
            })
            .collect();
        let mut values = vec![0i8; k * n];
        let mut offsets = vec![0i32; n];
        for i in 0..k {
            for o in 0..n {
                let q = (b[i * n + o] / scales[o]).round().clamp(-127.0, 127.0) as i8;
                values[(i / DEPTH) * n * DEPTH + o * DEPTH + i % DEPTH] = q;
                offsets[o] += 128 * i32::from(q);
            }
        }
        QuantizedRight {
            k,
            n,
            values,
            scales,
            offsets,
        }
    }
}

/// Quantizes the first `valid` rows of the row-major `rows x k` matrix `a` per row into `q`
/// (unsigned, offset by 128) and `scales`; rows past `valid` become zeros (stored as 128).
/// [`available`] must have returned true.
pub fn quantize_rows(
    a: &[f32],
    (rows, valid, k): (usize, usize, usize),
    q: &mut [u8],
    scales: &mut [f32],
) {
    assert!(available(), "AVX512-VNNI is not available on this CPU");
    assert!(
        valid <= rows && a.len() >= valid * k && q.len() >= rows * k && scales.len() >= rows,
        "quantization lengths"
    );
    assert!(k.is_multiple_of(16), "rows of whole vectors");
    // SAFETY: the CPU has the features (asserted above) and the lengths hold.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        vnni::quantize_rows(
            &a[..valid * k],
            k,
            &mut q[..valid * k],
            &mut scales[..valid],
        )
    };
    q[valid * k..rows * k].fill(128);
    scales[valid..rows].fill(0.0);
}

/// `c = a * b` in f32: `a` is `m x k` from [`quantize_rows`] with its row scales, `b` is
/// quantized; `m` must be a multiple of [`ROW_BLOCK`] and [`available`] must have returned true.
pub fn matmul_int8(m: usize, (a, a_scales): (&[u8], &[f32]), b: &QuantizedRight, c: &mut [f32]) {
    let (k, n) = (b.k, b.n);
    assert!(available(), "AVX512-VNNI is not available on this CPU");
    assert!(m.is_multiple_of(ROW_BLOCK), "whole blocks of rows");
    assert!(
        a.len() >= m * k && a_scales.len() >= m && c.len() >= m * n,
        "operand lengths"
    );
    // SAFETY: the CPU has the features and the shapes and lengths hold (asserted above and by
    // `QuantizedRight::new`).
    #[cfg(target_arch = "x86_64")]
    unsafe {
        vnni::matmul(
            m,
            (a, a_scales),
            (&b.values, &b.scales, &b.offsets),
            (k, n),
            c,
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_product_is_within_the_quantization_steps_of_f64() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX512-VNNI");
            return;
        }
        // Three row blocks (the last one half padding), a column of zeros, mixed magnitudes.
        let (m, valid, k, n) = (24, 20, 64, 64);
        let a: Vec<f32> = (0..valid * k)
            .map(|i| ((i * 37 % 101) as f32 / 50.0 - 1.0) * if i % 7 == 0 { 10.0 } else { 1.0 })
            .collect();
        let mut b: Vec<f32> = (0..k * n)
            .map(|i| (i * 53 % 97) as f32 / 48.0 - 1.0)
            .collect();
        for i in 0..k {
            b[i * n + 5] = 0.0;
        }
        let right = QuantizedRight::new(&b, k, n);
        let (mut q, mut scales) = (vec![0u8; m * k], vec![0f32; m]);
        quantize_rows(&a, (m, valid, k), &mut q, &mut scales);
        let mut c = vec![f32::NAN; m * n];
        matmul_int8(m, (&q, &scales), &right, &mut c);
        for row in 0..m {
            let a_max = (0..k)
                .filter(|_| row < valid)
                .map(|i| a[row * k + i].abs())
                .fold(0.0, f32::max);
            for col in 0..n {
                let got = f64::from(c[row * n + col]);
                if row >= valid {
                    assert_eq!(got, 0.0, "padding row {row}");
                    continue;
                }
                let exact: f64 = (0..k)
                    .map(|i| f64::from(a[row * k + i]) * f64::from(b[i * n + col]))
                    .sum();
                let b_max = (0..k).map(|i| b[i * n + col].abs()).fold(0.0, f32::max);
                // Each operand is off by at most half a step: k * (|a| step_b + |b| step_a) / 2.
                let bound = k as f64 * f64::from(a_max * b_max) / 127.0 + 1e-4;
                assert!(
                    (got - exact).abs() <= bound,
                    "({row}, {col}): {got} vs {exact}, bound {bound}"
                );
            }
        }
    }
}
