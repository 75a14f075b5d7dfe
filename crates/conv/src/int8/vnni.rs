//! AVX512-VNNI for [`super`]: the CPU check, the row quantization, and the `vpdpbusd` kernel.

use std::arch::x86_64::*;

use super::{COL_BLOCK, DEPTH, ROW_BLOCK};

/// Whether the CPU has AVX-512 (F, BW) and AVX512-VNNI.
pub(super) fn detect() -> bool {
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vnni")
}

/// [`super::quantize_rows`]'s work on `a.len() / k` rows.
///
/// # Safety
/// [`detect`] must have returned true; `k` is a multiple of 16, `q` as long as `a`, `scales` one
/// per row.
#[target_feature(enable = "avx512f,avx512bw")]
pub(super) unsafe fn quantize_rows(a: &[f32], k: usize, q: &mut [u8], scales: &mut [f32]) {
    for ((row, out), scale) in a.chunks_exact(k).zip(q.chunks_exact_mut(k)).zip(scales) {
        let mut largest = _mm512_setzero_ps();
        for v in row.chunks_exact(16) {
            // SAFETY: `v` holds 16 f32.
            largest = _mm512_max_ps(
                largest,
                _mm512_abs_ps(unsafe { _mm512_loadu_ps(v.as_ptr()) }),
            );
        }
        let largest = _mm512_reduce_max_ps(largest);
        *scale = largest / 127.0;
        let inverse = _mm512_set1_ps(if largest > 0.0 { 127.0 / largest } else { 0.0 });
        let offset = _mm_set1_epi8(-128);
        for (v, o) in row.chunks_exact(16).zip(out.chunks_exact_mut(16)) {
            // SAFETY: `v` holds 16 f32 and `o` 16 bytes; rounding to nearest (the default
            // MXCSR mode), saturation to -128..=127 (values are within -127..=127 by the scale).
            unsafe {
                let scaled = _mm512_mul_ps(_mm512_loadu_ps(v.as_ptr()), inverse);
                let signed = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(scaled));
                _mm_storeu_si128(o.as_mut_ptr().cast(), _mm_xor_si128(signed, offset));
            }
        }
    }
}

/// [`super::matmul_int8`]'s work: for each 32-column panel of B, every block of 8 rows of A runs
/// down the shared dimension four values at a time, one `vpdpbusd` per row and 16 columns; the
/// i32 sums are corrected for A's offset and scaled to f32 as they are stored.
///
/// # Safety
/// [`detect`] must have returned true; `m` is a multiple of 8, `k` of 4 and `n` of 32; `a` holds
/// `m x k` bytes and `m` scales, `b` `k x n` bytes and `n` scales and offsets, `c` `m x n` f32.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn matmul(
    m: usize,
    (a, a_scales): (&[u8], &[f32]),
    (b, b_scales, offsets): (&[i8], &[f32], &[i32]),
    (k, n): (usize, usize),
    c: &mut [f32],
) {
    let quads = k / DEPTH;
    let a_quads = a.as_ptr().cast::<i32>();
    for col in (0..n).step_by(COL_BLOCK) {
        for row in (0..m).step_by(ROW_BLOCK) {
            let mut sums = [[_mm512_setzero_si512(); COL_BLOCK / 16]; ROW_BLOCK];
            for p in 0..quads {
                // SAFETY: quad row `p < k / 4`, columns `col..col + 32 <= n` of B (two 64-byte
                // loads), and A's quad `p` of rows `row..row + 8 <= m`: inside the operands.
                unsafe {
                    let panel = b.as_ptr().add((p * n + col) * DEPTH);
                    let columns = [
                        _mm512_loadu_si512(panel.cast()),
                        _mm512_loadu_si512(panel.add(64).cast()),
                    ];
                    for (r, sum) in sums.iter_mut().enumerate() {
                        let quad =
                            _mm512_set1_epi32(a_quads.add((row + r) * quads + p).read_unaligned());
                        for (s, v) in sum.iter_mut().zip(&columns) {
                            *s = _mm512_dpbusd_epi32(*s, quad, *v);
                        }
                    }
                }
            }
            for (r, sum) in sums.iter().enumerate() {
                let row_scale = _mm512_set1_ps(a_scales[row + r]);
                for (j, s) in sum.iter().enumerate() {
                    let at = col + 16 * j;
                    // SAFETY: columns `at..at + 16 <= n` of the scales, offsets and C's row
                    // `row + r < m`.
                    unsafe {
                        let exact = _mm512_sub_epi32(
                            *s,
                            _mm512_loadu_si512(offsets.as_ptr().add(at).cast()),
                        );
                        let scale =
                            _mm512_mul_ps(row_scale, _mm512_loadu_ps(b_scales.as_ptr().add(at)));
                        let value = _mm512_mul_ps(_mm512_cvtepi32_ps(exact), scale);
                        _mm512_storeu_ps(c.as_mut_ptr().add((row + r) * n + at), value);
                    }
                }
            }
        }
    }
}
