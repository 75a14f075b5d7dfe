//! [`super`]'s arithmetic on any CPU, value for value the same as [`super::vnni`]'s: the integer
//! sums are exact whatever their order, and the roundings (to nearest even, then saturating to
//! a byte) and the f32 operations are the same ones, in the same order. About as fast as f32:
//! the products are `gemm`'s f32 ones on integer values.

/// 1.5 x 2^23: see [`quantize_rows`].
const ROUNDER: f32 = 12_582_912.0;

/// [`super::quantize_rows`]'s work on `a.len() / k` rows (finite values).
pub(super) fn quantize_rows(a: &[f32], k: usize, q: &mut [u8], scales: &mut [f32]) {
    for ((row, out), scale) in a.chunks_exact(k).zip(q.chunks_exact_mut(k)).zip(scales) {
        let largest = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        *scale = largest / 127.0;
        let inverse = if largest > 0.0 { 127.0 / largest } else { 0.0 };
        for (v, o) in row.iter().zip(out.iter_mut()) {
            // Adding and taking off 1.5 x 2^23 rounds to the nearest integer, ties to even (the
            // f32 addition's own rounding), for magnitudes below 2^22; `round_ties_even` is a
            // library call on the baseline x86-64 and took most of the time.
            let rounded = (v * inverse + ROUNDER) - ROUNDER;
            let signed = rounded.clamp(-128.0, 127.0) as i8;
            *o = signed.cast_unsigned() ^ 0x80;
        }
    }
}

/// [`super::matmul_int8`]'s work: the integers as f32 through `gemm` (every partial sum is an
/// integer below 2^24, so exact in any order), then scaled as the `vpdpbusd` kernel scales.
pub(super) fn matmul(
    m: usize,
    (a, a_scales): (&[u8], &[f32]),
    (b, b_scales): (&[f32], &[f32]),
    (k, n): (usize, usize),
    c: &mut [f32],
) {
    let signed: Vec<f32> = a[..m * k]
        .iter()
        .map(|&v| f32::from((v ^ 0x80).cast_signed()))
        .collect();
    crate::matmul::matmul(m, k, n, &signed, b, c);
    for (row, scale) in c[..m * n].chunks_exact_mut(n).zip(a_scales) {
        for (value, b_scale) in row.iter_mut().zip(b_scales) {
            *value *= scale * b_scale;
        }
    }
}
