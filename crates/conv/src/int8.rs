//! int8 matrix products with i32 sums, for the Winograd layers' 36 products per part when the
//! encoder runs at int8 precision: on AVX512-VNNI's `vpdpbusd` (AMD Zen 4 and later, Intel Ice
//! Lake and later) where the CPU has it, otherwise in portable code that gives the same values
//! (the sums are integers), so an int8 model answers the same on every machine.
//!
//! The right-hand matrix (a layer's transformed kernel at one tile position) is quantized once,
//! per column (output channel): `b[k][o] ~ scale[o] * q[k][o]`, `q` in -127..=127. The left-hand
//! matrix (the transformed input) is quantized as it comes, per row (tile): its largest magnitude
//! maps to 127, so no activation scale has to be calibrated ahead and no value saturates.
//! `vpdpbusd` multiplies unsigned by signed bytes, so the left values are stored offset by 128
//! and `128 * sum_k q[k][o]` is taken off each column's sum before it is scaled back to f32.

mod portable;
#[cfg(target_arch = "x86_64")]
mod vnni;

/// Rows of A (and C) one step of the kernel computes: products have whole blocks of rows.
pub const ROW_BLOCK: usize = 8;
/// Columns of C one step computes.
const COL_BLOCK: usize = 32;
/// Values along the shared dimension one `vpdpbusd` lane sums.
const DEPTH: usize = 4;

/// Whether this CPU has AVX-512 (F, BW) and AVX512-VNNI (asked once per process).
pub fn has_vnni() -> bool {
    static VNNI: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *VNNI.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        return vnni::detect();
        #[cfg(not(target_arch = "x86_64"))]
        false
    })
}

/// The code that runs the products on this CPU: `avx512vnni` or `portable`.
pub fn unit() -> &'static str {
    if has_vnni() { "avx512vnni" } else { "portable" }
}

/// The longest shared dimension: a sum of `MAX_DEPTH` products of a byte (-128..=127) and a
/// step (-127..=127) stays below 2^24, so the portable code's f32 sums are exact integers.
const MAX_DEPTH: usize = 1024;

/// Values the quantizer reads at a time: rows are whole vectors of them.
const QUANTIZER_LANES: usize = 16;

/// Whether a `k x n` right-hand matrix suits the kernel.
pub fn supports(k: usize, n: usize) -> bool {
    (1..=MAX_DEPTH).contains(&k)
        && k.is_multiple_of(QUANTIZER_LANES)
        && n > 0
        && n.is_multiple_of(COL_BLOCK)
}

/// A `k x n` right-hand matrix quantized per column: in the layout `vpdpbusd` reads
/// (`[k / 4][n][4]`: four rows of a column side by side) where the CPU has it, else as f32
/// integers (row-major) for the portable code.
pub struct QuantizedRight {
    k: usize,
    n: usize,
    values: Vec<i8>,
    integers: Vec<f32>,
    /// Per column: the f32 value of one step.
    scales: Vec<f32>,
    /// Per column: `128 * sum_k q[k][o]`, the offset of the unsigned left values.
    offsets: Vec<i32>,
}

impl QuantizedRight {
    /// Quantizes a row-major `k x n` f32 matrix (a column of zeros gets scale 1), in the form
    /// this CPU's code reads.
    pub fn new(b: &[f32], k: usize, n: usize) -> QuantizedRight {
        QuantizedRight::build(b, (k, n), (has_vnni(), !has_vnni()))
    }

    /// [`Self::new`] in the `vpdpbusd` layout, as f32 integers, or both.
    fn build(b: &[f32], (k, n): (usize, usize), (packed, floats): (bool, bool)) -> QuantizedRight {
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
        let mut values = vec![0i8; if packed { k * n } else { 0 }];
        let mut integers = vec![0f32; if floats { k * n } else { 0 }];
        let mut offsets = vec![0i32; n];
        for i in 0..k {
            for o in 0..n {
                let q = (b[i * n + o] / scales[o]).round().clamp(-127.0, 127.0) as i8;
                if packed {
                    values[(i / DEPTH) * n * DEPTH + o * DEPTH + i % DEPTH] = q;
                }
                if floats {
                    integers[i * n + o] = f32::from(q);
                }
                offsets[o] += 128 * i32::from(q);
            }
        }
        QuantizedRight {
            k,
            n,
            values,
            integers,
            scales,
            offsets,
        }
    }
}

/// Quantizes the first `valid` rows of the row-major `rows x k` matrix `a` per row into `q`
/// (unsigned, offset by 128) and `scales`; rows past `valid` become zeros (stored as 128).
pub fn quantize_rows(
    a: &[f32],
    (rows, valid, k): (usize, usize, usize),
    q: &mut [u8],
    scales: &mut [f32],
) {
    assert!(
        valid <= rows && a.len() >= valid * k && q.len() >= rows * k && scales.len() >= rows,
        "quantization lengths"
    );
    assert!(k.is_multiple_of(QUANTIZER_LANES), "rows of whole vectors");
    let (a, q_valid, s_valid) = (&a[..valid * k], &mut q[..valid * k], &mut scales[..valid]);
    if has_vnni() {
        // SAFETY: the CPU has the features (checked) and the lengths hold (asserted above).
        #[cfg(target_arch = "x86_64")]
        unsafe {
            vnni::quantize_rows(a, k, q_valid, s_valid)
        };
    } else {
        portable::quantize_rows(a, k, q_valid, s_valid);
    }
    q[valid * k..rows * k].fill(128);
    scales[valid..rows].fill(0.0);
}

/// `c = a * b` in f32: `a` is `m x k` from [`quantize_rows`] with its row scales, `b` is
/// quantized; `m` must be a multiple of [`ROW_BLOCK`].
pub fn matmul_int8(m: usize, (a, a_scales): (&[u8], &[f32]), b: &QuantizedRight, c: &mut [f32]) {
    let (k, n) = (b.k, b.n);
    assert!(m.is_multiple_of(ROW_BLOCK), "whole blocks of rows");
    assert!(
        a.len() >= m * k && a_scales.len() >= m && c.len() >= m * n,
        "operand lengths"
    );
    if has_vnni() {
        let right = (&b.values[..], &b.scales[..], &b.offsets[..]);
        // SAFETY: the CPU has the features (checked) and the shapes and lengths hold (asserted
        // above and by `QuantizedRight::new`, which packed `values` on this CPU).
        #[cfg(target_arch = "x86_64")]
        unsafe {
            vnni::matmul(m, (a, a_scales), right, (k, n), c)
        };
    } else {
        portable::matmul(m, (a, a_scales), (&b.integers, &b.scales), (k, n), c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_product_is_within_the_quantization_steps_of_f64() {
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

    #[test]
    fn the_portable_code_gives_the_vnni_kernels_values_exactly() {
        #[cfg(target_arch = "x86_64")]
        {
            if !has_vnni() {
                eprintln!("skipped: this CPU has no AVX512-VNNI to compare with");
                return;
            }
            let (rows, k, n) = (16, 64, 96);
            let a: Vec<f32> = (0..rows * k)
                .map(|i| ((i * 7919 % 1009) as f32 / 500.0 - 1.0) * (1 + i % 5) as f32)
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| (i * 53 % 97) as f32 / 48.0 - 1.0)
                .collect();
            let right = QuantizedRight::build(&b, (k, n), (true, true));
            let (mut q_vnni, mut s_vnni) = (vec![0u8; rows * k], vec![0f32; rows]);
            let (mut q_port, mut s_port) = (q_vnni.clone(), s_vnni.clone());
            // SAFETY: the CPU has the features (checked above); the lengths hold.
            unsafe { vnni::quantize_rows(&a, k, &mut q_vnni, &mut s_vnni) };
            portable::quantize_rows(&a, k, &mut q_port, &mut s_port);
            assert_eq!((&q_vnni, &s_vnni), (&q_port, &s_port));
            let operands = (&right.values[..], &right.scales[..], &right.offsets[..]);
            let (mut c_vnni, mut c_port) = (vec![0f32; rows * n], vec![0f32; rows * n]);
            // SAFETY: as above; `rows` is a multiple of 8, `k` of 4, `n` of 32.
            unsafe { vnni::matmul(rows, (&q_vnni, &s_vnni), operands, (k, n), &mut c_vnni) };
            let floats = (&right.integers[..], &right.scales[..]);
            portable::matmul(rows, (&q_port, &s_port), floats, (k, n), &mut c_port);
            let bits = |c: &[f32]| c.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&c_vnni), bits(&c_port));
        }
    }
}
