//! bf16 matrix products on Intel AMX tiles (`tdpbf16ps`: bf16 products, f32 sums), for the
//! Winograd layers' 36 products per part when the encoder runs at bf16 precision.
//!
//! Written by hand because Rust's AMX intrinsics are not stable and the `gemm` crate has no AMX
//! kernels: measured on this project's Sapphire Rapids cores, one core multiplies a 64 x 256 by
//! a 256 x 256 matrix about 5x faster than `gemm`'s AVX-512 f32 kernel. The instructions are
//! issued with `asm!`; the operating system must grant the process the tile data state
//! (`arch_prctl(ARCH_REQ_XCOMP_PERM)`), which [`available`] asks for once.

use std::arch::asm;
use std::sync::OnceLock;

/// Rows of A (and C) per tile.
const TILE_ROWS: usize = 16;
/// bf16 values along the shared dimension per tile (64 bytes a row).
const TILE_DEPTH: usize = 32;
/// Columns of C per tile.
const TILE_COLS: usize = 16;
/// Rows and columns of C one step of the kernel computes (2 x 2 tiles).
pub const BLOCK: usize = 32;

/// Whether this CPU and operating system run AMX bf16 and AVX512-BF16 instructions (asked once
/// per process).
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        cpu_has_bf16_units() && std::is_x86_feature_detected!("avx512f") && request_tile_data()
    })
}

/// CPUID leaf 7: AMX-BF16 (subleaf 0, EDX bit 22), AMX-TILE (EDX bit 24) and AVX512-BF16
/// (subleaf 1, EAX bit 5).
fn cpu_has_bf16_units() -> bool {
    let leaf0 = std::arch::x86_64::__cpuid(0);
    if leaf0.eax < 7 {
        return false;
    }
    let leaf7 = std::arch::x86_64::__cpuid_count(7, 0);
    let leaf7_1 = std::arch::x86_64::__cpuid_count(7, 1);
    leaf7.edx & (1 << 22) != 0 && leaf7.edx & (1 << 24) != 0 && leaf7_1.eax & (1 << 5) != 0
}

/// Asks Linux for the AMX tile data state; false where the kernel refuses (or is too old).
fn request_tile_data() -> bool {
    const SYS_ARCH_PRCTL: i64 = 158;
    const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
    const XFEATURE_XTILEDATA: i64 = 18;
    if !cfg!(target_os = "linux") {
        return false;
    }
    let ret: i64;
    // SAFETY: arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) only changes which extended
    // states this process may use; it reads no memory of ours.
    unsafe {
        asm!("syscall", inlateout("rax") SYS_ARCH_PRCTL => ret,
             in("rdi") ARCH_REQ_XCOMP_PERM, in("rsi") XFEATURE_XTILEDATA,
             lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret == 0
}

/// Whether a `k x n` right-hand matrix suits the kernel.
pub fn supports(k: usize, n: usize) -> bool {
    k > 0 && n > 0 && k % TILE_DEPTH == 0 && n % BLOCK == 0
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
/// like the AMX products it treats subnormal inputs as zero); `target` must be as long as
/// `source` and [`available`] must have returned true. A scalar loop took a tenth of a forward
/// pass.
pub fn convert_to_bf16(source: &[f32], target: &mut [u16]) {
    assert!(available(), "AVX512-BF16 is not available on this CPU");
    assert_eq!(source.len(), target.len(), "conversion lengths");
    let mut targets = target.chunks_exact_mut(16);
    let mut sources = source.chunks_exact(16);
    for (t, s) in (&mut targets).zip(&mut sources) {
        // SAFETY: the CPU has AVX512-BF16 (`available`); the load reads the 16 f32 of `s` and
        // the store writes the 16 u16 of `t`, both exactly 64 and 32 bytes long.
        unsafe {
            asm!("vmovups zmm0, [{s}]", "vcvtneps2bf16 ymm0, zmm0", "vmovdqu [{t}], ymm0",
                 s = in(reg) s.as_ptr(), t = in(reg) t.as_mut_ptr(),
                 out("zmm0") _, options(nostack));
        }
    }
    for (t, s) in targets.into_remainder().iter_mut().zip(sources.remainder()) {
        *t = to_bf16(*s);
    }
}

/// bf16 to f32 (exact).
pub fn from_bf16(x: u16) -> f32 {
    f32::from_bits(u32::from(x) << 16)
}

/// A row-major `k x n` f32 matrix as bf16 in the pair-interleaved layout AMX reads
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

/// The tile configuration: palette 1, eight tiles of 16 rows x 64 bytes.
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

impl TileConfig {
    fn eight_full_tiles() -> TileConfig {
        let mut cfg = [0u8; 64];
        cfg[0] = 1;
        for t in 0..8 {
            cfg[16 + 2 * t] = 64;
            cfg[48 + t] = TILE_ROWS as u8;
        }
        TileConfig(cfg)
    }
}

/// `c = a * b`: `a` is `m x k` bf16 (row-major), `b` is `k x n` from [`pack_right`], `c` is
/// `m x n` f32 (row-major), overwritten. `m` must be a multiple of [`BLOCK`]; [`available`] must
/// have returned true.
pub fn matmul_bf16(m: usize, k: usize, n: usize, a: &[u16], b: &[u16], c: &mut [f32]) {
    assert!(available(), "AMX bf16 is not available on this CPU");
    assert!(supports(k, n) && m % BLOCK == 0, "product shape");
    assert!(
        a.len() >= m * k && b.len() >= k * n && c.len() >= m * n,
        "operand lengths"
    );
    let config = TileConfig::eight_full_tiles();
    let (a_stride, b_stride, c_stride) = (k * 2, n * 4, n * 4);
    // SAFETY: the tile state was granted (`available`); every tile load reads 16 rows of 64 bytes
    // at the given stride inside `a` (rows `mb..mb + 32`, columns `kb..kb + 32`) or `b` (pair rows
    // `kb / 2..kb / 2 + 16`, columns `nb..nb + 32`), and every store writes 16 rows of 16 f32
    // inside `c` (rows `mb..mb + 32`, columns `nb..nb + 32`); the assertions above bound them all.
    unsafe {
        asm!("ldtilecfg [{}]", in(reg) config.0.as_ptr(), options(nostack));
        for mb in (0..m).step_by(BLOCK) {
            for nb in (0..n).step_by(BLOCK) {
                asm!(
                    "tilezero tmm0",
                    "tilezero tmm1",
                    "tilezero tmm2",
                    "tilezero tmm3",
                    options(nostack, nomem)
                );
                for kb in (0..k).step_by(TILE_DEPTH) {
                    let a0 = a.as_ptr().add(mb * k + kb);
                    let a1 = a0.add(TILE_ROWS * k);
                    let b0 = b.as_ptr().add((kb / 2) * n * 2 + nb * 2);
                    let b1 = b0.add(TILE_COLS * 2);
                    asm!("tileloadd tmm4, [{a0} + {sa}]", "tileloadd tmm5, [{a1} + {sa}]",
                         "tileloadd tmm6, [{b0} + {sb}]", "tileloadd tmm7, [{b1} + {sb}]",
                         "tdpbf16ps tmm0, tmm4, tmm6", "tdpbf16ps tmm1, tmm4, tmm7",
                         "tdpbf16ps tmm2, tmm5, tmm6", "tdpbf16ps tmm3, tmm5, tmm7",
                         a0 = in(reg) a0, a1 = in(reg) a1, b0 = in(reg) b0, b1 = in(reg) b1,
                         sa = in(reg) a_stride, sb = in(reg) b_stride,
                         options(nostack, readonly));
                }
                let c0 = c.as_mut_ptr().add(mb * n + nb);
                let c1 = c0.add(TILE_COLS);
                let c2 = c0.add(TILE_ROWS * n);
                let c3 = c2.add(TILE_COLS);
                asm!("tilestored [{c0} + {sc}], tmm0", "tilestored [{c1} + {sc}], tmm1",
                     "tilestored [{c2} + {sc}], tmm2", "tilestored [{c3} + {sc}], tmm3",
                     c0 = in(reg) c0, c1 = in(reg) c1, c2 = in(reg) c2, c3 = in(reg) c3,
                     sc = in(reg) c_stride, options(nostack));
            }
        }
        asm!("tilerelease", options(nostack, nomem));
    }
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
            eprintln!("skipped: this CPU or kernel has no AMX bf16");
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
    fn amx_product_equals_the_product_of_the_rounded_operands() {
        if !available() {
            eprintln!("skipped: this CPU or kernel has no AMX bf16");
            return;
        }
        let (m, k, n) = (64, 96, 64);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 37 % 101) as f32) / 50.0 - 1.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 53 % 97) as f32) / 48.0 - 1.0)
            .collect();
        let a16: Vec<u16> = a.iter().map(|&x| to_bf16(x)).collect();
        let mut c = vec![f32::NAN; m * n];
        matmul_bf16(m, k, n, &a16, &pack_right(&b, k, n), &mut c);
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
                    "{got} vs {exact}"
                );
            }
        }
    }
}
