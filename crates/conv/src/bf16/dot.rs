//! AVX512-BF16 for [`super`]: the CPU check, the f32-to-bf16 conversion, and the `vdpbf16ps`
//! kernel.

use std::arch::x86_64::*;

use super::to_bf16;

/// Rows of C one step of the kernel computes (one broadcast of A each).
const ROWS: usize = 8;
/// Columns of C one step computes (two registers of sixteen f32).
const COLS: usize = 32;

/// Whether the CPU has AVX-512 and AVX512-BF16.
pub(super) fn detect() -> bool {
    std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bf16")
}

/// [`super::convert_to_bf16`]'s work.
///
/// # Safety
/// [`detect`] must have returned true; `target` must be as long as `source`.
#[target_feature(enable = "avx512f,avx512bf16")]
pub(super) unsafe fn convert(source: &[f32], target: &mut [u16]) {
    let mut targets = target.chunks_exact_mut(16);
    let mut sources = source.chunks_exact(16);
    for (t, s) in (&mut targets).zip(&mut sources) {
        // SAFETY: `s` holds 16 f32 and `t` 16 u16 (32 bytes); unaligned loads and stores.
        unsafe {
            let packed = _mm512_cvtneps_pbh(_mm512_loadu_ps(s.as_ptr()));
            _mm256_storeu_si256(
                t.as_mut_ptr().cast(),
                std::mem::transmute::<__m256bh, __m256i>(packed),
            );
        }
    }
    for (t, s) in targets.into_remainder().iter_mut().zip(sources.remainder()) {
        *t = to_bf16(*s);
    }
}

/// [`super::matmul_bf16`]'s work in AVX-512 registers: for each 32-column panel of B (kept in
/// the L1 cache), every block of 8 rows of A runs down the shared dimension two values at a
/// time, one `vdpbf16ps` per row and 16 columns.
///
/// # Safety
/// [`detect`] must have returned true, and the shapes and lengths must be those
/// [`super::matmul_bf16`] asserts (`m` a multiple of 8, `k` of 2, `n` of 32).
#[target_feature(enable = "avx512f,avx512bf16")]
pub(super) unsafe fn matmul(m: usize, k: usize, n: usize, a: &[u16], b: &[u16], c: &mut [f32]) {
    let pairs = k / 2;
    // A's rows as pairs of bf16, one 32-bit word each.
    let a_pairs = a.as_ptr().cast::<i32>();
    for col in (0..n).step_by(COLS) {
        for row in (0..m).step_by(ROWS) {
            let mut sums = [[_mm512_setzero_ps(); COLS / 16]; ROWS];
            for p in 0..pairs {
                // SAFETY: pair row `p < k / 2`, columns `col..col + 32 <= n` of B (two 64-byte
                // loads), and A's pair `p` of rows `row..row + 8 <= m`: all inside the
                // operands, whose lengths the caller checked.
                unsafe {
                    let panel = b.as_ptr().add(p * n * 2 + col * 2);
                    let mut columns = [_mm512_setzero_si512(); COLS / 16];
                    for (j, v) in columns.iter_mut().enumerate() {
                        *v = _mm512_loadu_si512(panel.add(32 * j).cast());
                    }
                    for (r, sum) in sums.iter_mut().enumerate() {
                        let pair = a_pairs.add((row + r) * pairs + p).read_unaligned();
                        let pair =
                            std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(pair));
                        for (s, v) in sum.iter_mut().zip(&columns) {
                            *s = _mm512_dpbf16_ps(
                                *s,
                                pair,
                                std::mem::transmute::<__m512i, __m512bh>(*v),
                            );
                        }
                    }
                }
            }
            for (r, sum) in sums.iter().enumerate() {
                // SAFETY: row `row + r < m`, columns `col..col + 32 <= n` of C.
                unsafe {
                    let out = c.as_mut_ptr().add((row + r) * n + col);
                    for (j, s) in sum.iter().enumerate() {
                        _mm512_storeu_ps(out.add(16 * j), *s);
                    }
                }
            }
        }
    }
}
