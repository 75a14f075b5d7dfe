//! bf16 matrix products with f32 sums, for the Winograd layers' 36 products per part when the
//! encoder runs at bf16 precision, on whichever unit the CPU has: Intel AMX tiles (`tdpbf16ps`)
//! or AVX512-BF16's `vdpbf16ps` (AMD Zen 4 and later, Intel Cooper Lake and later). Both
//! multiply the same bf16 operands exactly and sum in f32; they differ only in the order of the
//! sums.
//!
//! Written by hand because the `gemm` crate has neither: measured on Sapphire Rapids cores, one
//! core multiplies a 64 x 256 by a 256 x 256 matrix about 5x faster on AMX than with `gemm`'s
//! AVX-512 f32 kernel. AMX's instructions are issued with `asm!` (Rust has no stable AMX
//! intrinsics), and the operating system must grant the process the tile data state
//! (`arch_prctl(ARCH_REQ_XCOMP_PERM)`), which [`unit`] asks for once; AVX512-BF16 uses Rust's
//! stable intrinsics. On other CPUs [`available`] is false and the encoder runs at f32 only.

use std::sync::OnceLock;

#[cfg(target_arch = "x86_64")]
mod amx;
#[cfg(target_arch = "x86_64")]
mod dot;

/// bf16 values along the shared dimension per AMX tile (64 bytes a row).
const TILE_DEPTH: usize = 32;
/// Rows and columns of C one step of the kernels computes: shapes are whole blocks.
pub const BLOCK: usize = 32;

/// The unit that runs the bf16 products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Intel AMX tiles (`tdpbf16ps`).
    Amx,
    /// AVX-512 registers (`vdpbf16ps`).
    Avx512,
}

impl Unit {
    /// Its short name for logs and benchmark lines: `amx` or `avx512`.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Amx => "amx",
            Unit::Avx512 => "avx512",
        }
    }
}

/// The fastest unit this CPU and operating system have for bf16 products (asked once per
/// process): AMX where granted, else AVX512-BF16, else none.
pub fn unit() -> Option<Unit> {
    static UNIT: OnceLock<Option<Unit>> = OnceLock::new();
    *UNIT.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if !dot::detect() {
                None
            } else if amx::detect() {
                Some(Unit::Amx)
            } else {
                Some(Unit::Avx512)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        None
    })
}

/// Whether this CPU runs bf16 products (on either unit).
pub fn available() -> bool {
    unit().is_some()
}

/// Whether a `k x n` right-hand matrix suits the kernels.
pub fn supports(k: usize, n: usize) -> bool {
    k > 0 && n > 0 && k.is_multiple_of(TILE_DEPTH) && n.is_multiple_of(BLOCK)
}

/// f32 to bf16, rounding to nearest even (NaN stays NaN).
pub fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) | 0x40) as u16;
    }
    ((bits + 0x7fff + ((bits >> 16) & 1)) >> 16) as u16
}

/// [`to_bf16`] over a slice with AVX512-BF16's `vcvtneps2bf16` (sixteen values an instruction;
/// like the products it treats subnormal inputs as zero); `target` must be as long as `source`
/// and [`available`] must have returned true. A scalar loop took a tenth of a forward pass.
pub fn convert_to_bf16(source: &[f32], target: &mut [u16]) {
    assert!(available(), "AVX512-BF16 is not available on this CPU");
    assert_eq!(source.len(), target.len(), "conversion lengths");
    // SAFETY: the CPU has AVX512-BF16 (asserted above); the lengths match.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        dot::convert(source, target)
    };
}

/// bf16 to f32 (exact).
pub fn from_bf16(x: u16) -> f32 {
    f32::from_bits(u32::from(x) << 16)
}

/// A row-major `k x n` f32 matrix as bf16 in the pair-interleaved layout both units read
/// (`[k / 2][n][2]`: rows `2i` and `2i + 1` side by side).
pub fn pack_right(b: &[f32], k: usize, n: usize) -> Vec<u16> {
    assert!(
        supports(k, n) && b.len() == k * n,
        "right-hand matrix shape"
    );
    let mut packed = vec![0u16; k * n];
    for row in 0..k {
        for col in 0..n {
            packed[(row / 2) * n * 2 + col * 2 + row % 2] = to_bf16(b[row * n + col]);
        }
    }
    packed
}

/// `c = a * b` on [`unit`]: `a` is `m x k` bf16 (row-major), `b` is `k x n` from
/// [`pack_right`], `c` is `m x n` f32 (row-major), overwritten. `m` must be a multiple of
/// [`BLOCK`]; [`available`] must have returned true.
pub fn matmul_bf16(m: usize, k: usize, n: usize, a: &[u16], b: &[u16], c: &mut [f32]) {
    let unit = unit().expect("bf16 products are not available on this CPU");
    matmul_on(unit, (m, k, n), a, b, c);
}

/// [`matmul_bf16`] on a chosen unit, which this CPU must have (AVX512-BF16 comes with AMX).
fn matmul_on(unit: Unit, (m, k, n): (usize, usize, usize), a: &[u16], b: &[u16], c: &mut [f32]) {
    assert!(available(), "bf16 products are not available on this CPU");
    assert!(
        unit == Unit::Avx512 || self::unit() == Some(Unit::Amx),
        "AMX is not available"
    );
    assert!(supports(k, n) && m % BLOCK == 0, "product shape");
    assert!(
        a.len() >= m * k && b.len() >= k * n && c.len() >= m * n,
        "operand lengths"
    );
    // SAFETY: the unit is present (asserted above; AMX's tile state was granted by `unit`) and
    // the shapes and lengths are those both kernels require (asserted above).
    #[cfg(target_arch = "x86_64")]
    unsafe {
        match unit {
            Unit::Amx => amx::matmul(m, k, n, a, b, c),
            Unit::Avx512 => dot::matmul(m, k, n, a, b, c),
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_rounds_to_nearest_even_and_back() {
        assert_eq!(from_bf16(to_bf16(1.0)), 1.0);
        assert_eq!(from_bf16(to_bf16(-2.5)), -2.5);
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even mantissa, 1.
        assert_eq!(from_bf16(to_bf16(1.0 + 1.0 / 256.0)), 1.0);
        assert_eq!(from_bf16(to_bf16(1.0 + 3.0 / 256.0)), 1.0 + 4.0 / 256.0);
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
    }

    #[test]
    fn vector_conversion_equals_the_scalar_rounding() {
        if !available() {
            eprintln!("skipped: this CPU has no bf16 units");
            return;
        }
        // 37 values: two full vectors and a scalar tail; ties, negatives, NaN and infinity.
        let mut source: Vec<f32> = (0..37).map(|i| (i as f32 - 18.0) * 0.337).collect();
        source[3] = 1.0 + 1.0 / 256.0;
        source[20] = f32::INFINITY;
        source[35] = -1.0 - 3.0 / 256.0;
        let mut vector = vec![0u16; source.len()];
        convert_to_bf16(&source, &mut vector);
        let scalar: Vec<u16> = source.iter().map(|&x| to_bf16(x)).collect();
        assert_eq!(vector, scalar);
        source[5] = f32::NAN;
        convert_to_bf16(&source, &mut vector);
        assert!(from_bf16(vector[5]).is_nan());
    }

    #[test]
    fn every_units_product_equals_the_product_of_the_rounded_operands() {
        let units: Vec<Unit> = match unit() {
            None => {
                eprintln!("skipped: this CPU has no bf16 units");
                return;
            }
            Some(Unit::Amx) => vec![Unit::Amx, Unit::Avx512],
            Some(Unit::Avx512) => vec![Unit::Avx512],
        };
        // Two row blocks, three pair-row blocks, three column blocks.
        let (m, k, n) = (64, 96, 96);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 37 % 101) as f32) / 50.0 - 1.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 53 % 97) as f32) / 48.0 - 1.0)
            .collect();
        let a16: Vec<u16> = a.iter().map(|&x| to_bf16(x)).collect();
        let packed = pack_right(&b, k, n);
        for unit in units {
            let mut c = vec![f32::NAN; m * n];
            matmul_on(unit, (m, k, n), &a16, &packed, &mut c);
            for row in 0..m {
                for col in 0..n {
                    let exact: f64 = (0..k)
                        .map(|i| {
                            f64::from(from_bf16(a16[row * k + i]))
                                * f64::from(from_bf16(to_bf16(b[i * n + col])))
                        })
                        .sum();
                    let got = f64::from(c[row * n + col]);
                    assert!(
                        (got - exact).abs() < 1e-4 * (1.0 + exact.abs()),
                        "{unit:?} at ({row}, {col}): {got} vs {exact}"
                    );
                }
            }
        }
    }
}
