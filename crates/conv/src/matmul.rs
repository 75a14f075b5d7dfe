//! Single-threaded row-major matrix product on the `gemm` crate (the callers parallelise).

/// `c = a * b` with `a` of `m x k`, `b` of `k x n`, `c` of `m x n`, all row-major and dense.
pub fn matmul(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the assertion above keeps every access inside the three slices (row strides k, n,
    // n; column stride 1), and `c` does not alias `a` or `b` (it is borrowed mutably).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            n as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_product_by_hand() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2 x 3
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0]; // 3 x 2
        let mut c = [f32::NAN; 4];
        matmul(2, 3, 2, &a, &b, &mut c);
        assert_eq!(c, [4.0, 5.0, 10.0, 11.0]);
    }
}
