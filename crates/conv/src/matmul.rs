//! Row-major matrix products on the `gemm` crate: single-threaded for the encoder (its callers
//! parallelise), threaded with optional transposes for fine-tuning's backward passes.

/// `c = a * b` with `a` of `m x k`, `b` of `k x n`, `c` of `m x n`, all row-major and dense.
pub fn matmul(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    product((m, k, n), a, false, b, false, c, false);
}

/// `c = op(a) * op(b)` for row-major `a` (`m x k`, or `k x m` when `a_transposed`) and `b`
/// (`k x n`, or `n x k` when `b_transposed`); `c` is `m x n`, overwritten. On rayon's threads
/// when `threaded`, else on the calling thread.
pub fn product(
    (m, k, n): (usize, usize, usize),
    a: &[f32],
    a_transposed: bool,
    b: &[f32],
    b_transposed: bool,
    c: &mut [f32],
    threaded: bool,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    if m == 0 || n == 0 {
        return;
    }
    // (column stride, row stride) of each operand as gemm reads it.
    let (a_cs, a_rs) = if a_transposed { (m, 1) } else { (1, k) };
    let (b_cs, b_rs) = if b_transposed { (k, 1) } else { (1, n) };
    let parallelism = if threaded {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the strides above address exactly the `m x k`, `k x n` and `m x n` elements of the
    // three slices, whose lengths the assertion checks; `c` is borrowed mutably, so it does not
    // alias `a` or `b`.
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
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
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

    #[test]
    fn transposed_operands_read_as_their_transposes() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2 x 3
        // aᵀ (3 x 2) * a (2 x 3) with a read transposed.
        let mut c = [f32::NAN; 9];
        product((3, 2, 3), &a, true, &a, false, &mut c, true);
        assert_eq!(c, [17.0, 22.0, 27.0, 22.0, 29.0, 36.0, 27.0, 36.0, 45.0]);
        // a (2 x 3) * b (3 x 2), b given as its transpose (2 x 3) and read transposed: the same
        // product as in the test above.
        let bt = [1.0, 0.0, 1.0, 0.0, 1.0, 1.0];
        let mut d = [f32::NAN; 4];
        product((2, 3, 2), &a, false, &bt, true, &mut d, false);
        assert_eq!(d, [4.0, 5.0, 10.0, 11.0]);
    }
}
