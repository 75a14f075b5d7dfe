//! Intel AMX for [`super`]: the CPU and operating-system checks, and the `asm!` kernel.

use std::arch::asm;

use super::{BLOCK, TILE_DEPTH};

/// Rows of A (and C) per tile.
const TILE_ROWS: usize = 16;
/// Columns of C per tile.
const TILE_COLS: usize = 16;

/// Whether the CPU has AMX-BF16 and AMX-TILE and Linux granted the tile data state.
pub(super) fn detect() -> bool {
    cpu_has_amx_bf16() && request_tile_data()
}

/// CPUID leaf 7, subleaf 0: AMX-BF16 (EDX bit 22) and AMX-TILE (EDX bit 24).
fn cpu_has_amx_bf16() -> bool {
    let leaf0 = std::arch::x86_64::__cpuid(0);
    if leaf0.eax < 7 {
        return false;
    }
    let leaf7 = std::arch::x86_64::__cpuid_count(7, 0);
    leaf7.edx & (1 << 22) != 0 && leaf7.edx & (1 << 24) != 0
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

/// [`super::matmul_bf16`]'s work on AMX tiles.
///
/// # Safety
/// [`detect`] must have returned true, and the shapes and lengths must be those
/// [`super::matmul_bf16`] asserts.
pub(super) unsafe fn matmul(m: usize, k: usize, n: usize, a: &[u16], b: &[u16], c: &mut [f32]) {
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
