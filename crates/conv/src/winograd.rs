//! 3x3 convolution (stride 1, padding 1) + bias + ReLU by Winograd's F(4x4, 3x3) (Lavin & Gray,
//! "Fast Algorithms for Convolutional Neural Networks", 2016), on NHWC maps whose channel counts
//! are multiples of 8.
//!
//! Each 4x4 output tile comes from a 6x6 input tile: V = Bt d B (input transform), M = U . V summed
//! over input channels for each of the 36 tile positions (36 matrix products over the tiles of a
//! part), Y = At M A (output transform), then bias and ReLU.

use std::cell::RefCell;

use rayon::prelude::*;

use crate::activations::{Activations, Part, SpareBuffers, bands_per_part};
use crate::matmul::matmul;
use crate::{bf16, int8};

/// Output tile side.
const TILE: usize = 4;
/// Input tile side (output tile + kernel - 1).
const IN_TILE: usize = 6;
/// Tile positions, one matrix product each.
const POSITIONS: usize = IN_TILE * IN_TILE;
/// Channels handled together in the transforms (one AVX register of f32).
const LANES: usize = 8;
/// Tiles per part that keep a part's transformed input in the L2 cache.
const TILES_PER_PART: usize = 64;

type Lanes = [f32; LANES];

/// G, the kernel transform (6 x 3).
const G: [[f64; 3]; 6] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// Whether a layer with these channel counts can use this method.
pub fn supports(c_in: usize, c_out: usize) -> bool {
    c_in.is_multiple_of(LANES) && c_out.is_multiple_of(LANES) && c_in > 0 && c_out > 0
}

/// A layer's transformed kernel, in the arithmetic its 36 products run in.
pub enum Kernel {
    /// f32 products (`gemm`), `[36][c_in][c_out]` from [`transform_kernel`].
    F32(Vec<f32>),
    /// bf16 products with f32 sums ([`bf16::matmul_bf16`]), from [`Kernel::bf16`].
    Bf16(Vec<u16>),
    /// int8 products with i32 sums ([`int8::matmul_int8`]), one quantized matrix per tile
    /// position, from [`Kernel::int8`].
    Int8(Vec<int8::QuantizedRight>),
}

impl Kernel {
    /// The bf16 form of a [`transform_kernel`] kernel (rounded from the f32 transform, one
    /// pair-interleaved matrix per tile position), where [`bf16::supports`] the channel counts.
    pub fn bf16(kernel: &[f32], c_in: usize, c_out: usize) -> Option<Kernel> {
        if !bf16::supports(c_in, c_out) {
            return None;
        }
        let per_position = c_in * c_out;
        Some(Kernel::Bf16(
            kernel
                .chunks_exact(per_position)
                .flat_map(|u| bf16::pack_right(u, c_in, c_out))
                .collect(),
        ))
    }

    /// The int8 form of a [`transform_kernel`] kernel (each tile position's matrix quantized per
    /// output channel), where [`int8::supports`] the channel counts.
    pub fn int8(kernel: &[f32], c_in: usize, c_out: usize) -> Option<Kernel> {
        if !int8::supports(c_in, c_out) {
            return None;
        }
        Some(Kernel::Int8(
            kernel
                .chunks_exact(c_in * c_out)
                .map(|u| int8::QuantizedRight::new(u, c_in, c_out))
                .collect(),
        ))
    }

    /// Rows of a part's products for `tiles` tiles (bf16 and int8 pad to their kernels' blocks).
    fn rows(&self, tiles: usize) -> usize {
        match self {
            Kernel::F32(_) => tiles,
            Kernel::Bf16(_) => tiles.next_multiple_of(bf16::BLOCK),
            Kernel::Int8(_) => tiles.next_multiple_of(int8::ROW_BLOCK),
        }
    }
}

/// Transforms an OIHW kernel (`c_out * c_in * 9` values) to U = G g Gt for each tile position,
/// `[36][c_in][c_out]`, computed in f64.
pub fn transform_kernel(weight_oihw: &[f32], c_in: usize, c_out: usize) -> Vec<f32> {
    assert!(
        supports(c_in, c_out),
        "channels must be multiples of {LANES}"
    );
    let mut kernel = vec![0.0; POSITIONS * c_in * c_out];
    for o in 0..c_out {
        for i in 0..c_in {
            let g = &weight_oihw[(o * c_in + i) * 9..(o * c_in + i + 1) * 9];
            // G g (6 x 3), then (G g) Gt (6 x 6).
            let mut gg = [[0.0f64; 3]; IN_TILE];
            for (r, row) in gg.iter_mut().enumerate() {
                for (kx, v) in row.iter_mut().enumerate() {
                    *v = (0..3).map(|ky| G[r][ky] * g[ky * 3 + kx] as f64).sum();
                }
            }
            for (r, row) in gg.iter().enumerate() {
                for (s, gs) in G.iter().enumerate() {
                    let u: f64 = (0..3).map(|kx| row[kx] * gs[kx]).sum();
                    kernel[((r * IN_TILE + s) * c_in + i) * c_out + o] = u as f32;
                }
            }
        }
    }
    kernel
}

/// Convolves `x` with a transformed kernel, adds `bias`, applies ReLU and writes every value of
/// `out` (same size as `x`, `bias.len()` channels). Many tiles are cut into parts, each
/// transformed, multiplied and written back on one thread; few tiles (small maps, small
/// batches) are multiplied one tile position per thread, so that each position's kernel is read
/// once per call rather than once per part. Both give the same values.
pub fn convolve(x: &Activations, kernel: &Kernel, bias: &[f32], out: &mut Activations) {
    let tiles = x.n * x.bands_per_image(TILE) * x.w.div_ceil(TILE);
    if tiles < FEW_TILES_PER_THREAD * rayon::current_num_threads() {
        convolve_by_positions(x, kernel, bias, out);
    } else {
        convolve_by_parts(x, kernel, bias, out);
    }
}

/// Below this many tiles per thread, parts would be so small that reading each position's
/// kernel once per part costs more than the products: the kernel of a 512-channel layer is
/// 38 MB, and a part of block 5 at 128 px and batch 4 holds 4 tiles. Chosen by
/// `medpath bench encoder` at 64, 128 and 224 px and batches 4 to 24 on 2 cores (128, 256 and
/// 512 tried; 256 was fastest or tied everywhere).
const FEW_TILES_PER_THREAD: usize = 256;

/// [`convolve`] in parts of about [`TILES_PER_PART`] tiles, each on one thread.
fn convolve_by_parts(x: &Activations, kernel: &Kernel, bias: &[f32], out: &mut Activations) {
    let (c_in, c_out) = (x.c, out.c);
    let tiles_per_band = x.w.div_ceil(TILE);
    let total_bands = x.n * x.bands_per_image(TILE);
    let per_part = bands_per_part(total_bands, tiles_per_band, TILES_PER_PART);
    out.parts_mut(TILE, per_part)
        .into_par_iter()
        .for_each(|mut part| {
            SCRATCH.with(|scratch| {
                let Scratch {
                    input,
                    low,
                    products,
                } = &mut *scratch.borrow_mut();
                let tiles = part.bands * tiles_per_band;
                let rows = kernel.rows(tiles);
                input.resize(POSITIONS * tiles * c_in, 0.0);
                products.resize(POSITIONS * rows * c_out, 0.0);
                for t in 0..tiles {
                    let tile = tile_place(x, part.first_band, tiles_per_band, t);
                    transform_input(x, tile, t, tiles, input);
                }
                for (p, m) in products.chunks_exact_mut(rows * c_out).enumerate() {
                    let v = &input[p * tiles * c_in..(p + 1) * tiles * c_in];
                    multiply_position(kernel, p, (tiles, rows, c_in, c_out), v, low, m);
                }
                write_outputs(x, &mut part, (products, rows, 0), bias);
            })
        });
}

/// [`convolve`] with every tile in one product per tile position, the positions shared out
/// among threads (the transforms are shared out by tiles).
fn convolve_by_positions(x: &Activations, kernel: &Kernel, bias: &[f32], out: &mut Activations) {
    let (c_in, c_out) = (x.c, out.c);
    let tiles_per_band = x.w.div_ceil(TILE);
    let total_bands = x.n * x.bands_per_image(TILE);
    let tiles = total_bands * tiles_per_band;
    let rows = kernel.rows(tiles);
    // Transformed input tile by tile, `[tiles][36][c_in]`.
    let mut input = take_buffer(tiles * POSITIONS * c_in);
    input
        .par_chunks_mut(POSITIONS * c_in)
        .enumerate()
        .for_each(|(t, one)| transform_input(x, tile_place(x, 0, tiles_per_band, t), 0, 1, one));
    let mut products = take_buffer(POSITIONS * rows * c_out);
    products
        .par_chunks_mut(rows * c_out)
        .enumerate()
        .for_each(|(p, m)| {
            SCRATCH.with(|scratch| {
                let Scratch { input: v, low, .. } = &mut *scratch.borrow_mut();
                v.clear();
                for one in input.chunks_exact(POSITIONS * c_in) {
                    v.extend_from_slice(&one[p * c_in..(p + 1) * c_in]);
                }
                multiply_position(kernel, p, (tiles, rows, c_in, c_out), v, low, m);
            })
        });
    let per_part = bands_per_part(total_bands, tiles_per_band, TILES_PER_PART);
    out.parts_mut(TILE, per_part)
        .into_par_iter()
        .for_each(|mut part| {
            let first = part.first_band * tiles_per_band;
            write_outputs(x, &mut part, (&products, rows, first), bias);
        });
    BUFFERS.give(input);
    BUFFERS.give(products);
}

/// Writes a part's outputs from `products` (`[36][rows][c_out]`, the part's tiles from row
/// `first`).
fn write_outputs(
    x: &Activations,
    part: &mut Part<'_>,
    (products, rows, first): (&[f32], usize, usize),
    bias: &[f32],
) {
    let (h, w, c_out) = (x.h, x.w, bias.len());
    let tiles_per_band = w.div_ceil(TILE);
    let origin = x.band_start_row(part.first_band, TILE);
    for t in 0..part.bands * tiles_per_band {
        let Tile { img, ty, tx } = tile_place(x, part.first_band, tiles_per_band, t);
        let row0 = img * h + ty * TILE - origin;
        let valid_rows = TILE.min(h - ty * TILE);
        let valid_cols = TILE.min(w - tx * TILE);
        transform_output(products, bias, first + t, rows, |r, col, lane0, values| {
            if r < valid_rows && col < valid_cols {
                let at = ((row0 + r) * w + tx * TILE + col) * c_out + lane0;
                let target: &mut Lanes = (&mut part.data[at..at + LANES])
                    .try_into()
                    .expect("8 lanes");
                *target = *values;
            }
        });
    }
}

/// Tile position `p`'s product: `m` (`rows x c_out`, rows past `tiles` unused) = `v`
/// (`tiles x c_in`) times the kernel's `U[p]`.
fn multiply_position(
    kernel: &Kernel,
    p: usize,
    (tiles, rows, c_in, c_out): (usize, usize, usize, usize),
    v: &[f32],
    low: &mut LowPrecisionRows,
    m: &mut [f32],
) {
    match kernel {
        Kernel::F32(u) => matmul(tiles, c_in, c_out, v, &u[p * c_in * c_out..], m),
        Kernel::Bf16(u) => {
            let bf16_rows = &mut low.bf16;
            bf16_rows.resize(rows * c_in, 0);
            bf16::convert_to_bf16(v, &mut bf16_rows[..tiles * c_in]);
            bf16_rows[tiles * c_in..].fill(0);
            bf16::matmul_bf16(rows, c_in, c_out, bf16_rows, &u[p * c_in * c_out..], m);
        }
        Kernel::Int8(u) => {
            low.int8.resize(rows * c_in, 0);
            low.scales.resize(rows, 0.0);
            int8::quantize_rows(v, (rows, tiles, c_in), &mut low.int8, &mut low.scales);
            int8::matmul_int8(rows, (&low.int8, &low.scales), &u[p], m);
        }
    }
}

/// Buffers of [`convolve_by_positions`] kept between calls.
static BUFFERS: SpareBuffers = SpareBuffers::new(4);

/// A kept buffer (or a new one) of `len` values.
fn take_buffer(len: usize) -> Vec<f32> {
    let mut buffer = BUFFERS.take();
    buffer.resize(len, 0.0);
    buffer
}

/// Writes the transformed input of `tile`, the part's `t`-th, into `input`
/// (`[36][tiles][channels]`).
fn transform_input(x: &Activations, tile: Tile, t: usize, tiles: usize, input: &mut [f32]) {
    let Tile { img, ty, tx } = tile;
    let c = x.c;
    // Offsets of the 36 input pixels, None where the tile hangs over the zero padding.
    let mut source = [None; POSITIONS];
    for (i, row) in source.chunks_exact_mut(IN_TILE).enumerate() {
        let y = (ty * TILE + i) as isize - 1;
        if y < 0 || y >= x.h as isize {
            continue;
        }
        for (j, s) in row.iter_mut().enumerate() {
            let col = (tx * TILE + j) as isize - 1;
            if col >= 0 && col < x.w as isize {
                *s = Some(((img * x.h + y as usize) * x.w + col as usize) * c);
            }
        }
    }
    for lane0 in (0..c).step_by(LANES) {
        // Columns first: cols[j] = Bt d[:, j].
        let mut cols = [[[0.0; LANES]; IN_TILE]; IN_TILE];
        for (j, col) in cols.iter_mut().enumerate() {
            let mut d = [[0.0; LANES]; IN_TILE];
            for (i, di) in d.iter_mut().enumerate() {
                if let Some(s) = source[i * IN_TILE + j] {
                    *di = x.data[s + lane0..s + lane0 + LANES]
                        .try_into()
                        .expect("8 lanes");
                }
            }
            input_transform(&d, col);
        }
        // Then rows: V[i, :] = Bt (Bt d)[i, :]. Row by row, written in place: moving whole
        // 6 x 6 x 8 arrays compiles to `memmove` calls that cost as much as the arithmetic.
        let mut transformed = [[0.0; LANES]; IN_TILE];
        #[expect(
            clippy::needless_range_loop,
            reason = "i picks a row across the columns"
        )]
        for i in 0..IN_TILE {
            let row: [Lanes; IN_TILE] = std::array::from_fn(|j| cols[j][i]);
            input_transform(&row, &mut transformed);
            for (j, values) in transformed.iter().enumerate() {
                let at = ((i * IN_TILE + j) * tiles + t) * c + lane0;
                let target: &mut Lanes = (&mut input[at..at + LANES]).try_into().expect("8 lanes");
                *target = *values;
            }
        }
    }
}

/// Turns tile `t`'s 36 products (`rows` rows per position) into its 4x4 outputs (+ bias, ReLU)
/// and hands each output pixel's channels, `LANES` at a time from channel `lane0`, to
/// `write(row, col, lane0, values)`.
fn transform_output(
    products: &[f32],
    bias: &[f32],
    t: usize,
    rows: usize,
    mut write: impl FnMut(usize, usize, usize, &Lanes),
) {
    let c = bias.len();
    for lane0 in (0..c).step_by(LANES) {
        let bias: Lanes = bias[lane0..lane0 + LANES].try_into().expect("8 lanes");
        let mut cols = [[[0.0; LANES]; TILE]; IN_TILE];
        for (j, col) in cols.iter_mut().enumerate() {
            let m: [Lanes; IN_TILE] = std::array::from_fn(|i| {
                let at = ((i * IN_TILE + j) * rows + t) * c + lane0;
                products[at..at + LANES].try_into().expect("8 lanes")
            });
            output_transform(&m, col);
        }
        let mut transformed = [[0.0; LANES]; TILE];
        #[expect(
            clippy::needless_range_loop,
            reason = "r picks a row across the columns"
        )]
        for r in 0..TILE {
            let row: [Lanes; IN_TILE] = std::array::from_fn(|j| cols[j][r]);
            output_transform(&row, &mut transformed);
            for (col, values) in transformed.iter().enumerate() {
                let activated: Lanes = std::array::from_fn(|l| (values[l] + bias[l]).max(0.0));
                write(r, col, lane0, &activated);
            }
        }
    }
}

/// Per-thread buffers of a part (reused across parts and layers).
struct Scratch {
    /// Transformed input, `[36][tiles][c_in]`.
    input: Vec<f32>,
    /// One position's transformed input at bf16 or int8 precision.
    low: LowPrecisionRows,
    /// Products, `[36][rows][c_out]`.
    products: Vec<f32>,
}

/// One tile position's transformed input as the bf16 or int8 products read it, padded to whole
/// blocks of rows.
struct LowPrecisionRows {
    /// bf16 values (bf16 kernels).
    bf16: Vec<u16>,
    /// int8 values offset by 128 (int8 kernels).
    int8: Vec<u8>,
    /// The int8 values' scale per row.
    scales: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = const {
        RefCell::new(Scratch {
            input: Vec::new(),
            low: LowPrecisionRows { bf16: Vec::new(), int8: Vec::new(), scales: Vec::new() },
            products: Vec::new(),
        })
    };
}

/// Where a tile is: image, tile row, tile column.
#[derive(Clone, Copy)]
struct Tile {
    img: usize,
    ty: usize,
    tx: usize,
}

/// Where a part's `t`-th tile is.
fn tile_place(x: &Activations, first_band: usize, tiles_per_band: usize, t: usize) -> Tile {
    let band = first_band + t / tiles_per_band;
    let per_image = x.bands_per_image(TILE);
    Tile {
        img: band / per_image,
        ty: band % per_image,
        tx: t % tiles_per_band,
    }
}

/// `r` = Bt d for one column of six inputs (each `LANES` channels).
#[inline(always)]
fn input_transform(d: &[Lanes; IN_TILE], r: &mut [Lanes; IN_TILE]) {
    for l in 0..LANES {
        let [d0, d1, d2, d3, d4, d5] = std::array::from_fn(|i| d[i][l]);
        r[0][l] = 4.0 * d0 - 5.0 * d2 + d4;
        r[1][l] = -4.0 * (d1 + d2) + d3 + d4;
        r[2][l] = 4.0 * (d1 - d2) - d3 + d4;
        r[3][l] = 2.0 * (d3 - d1) - d2 + d4;
        r[4][l] = 2.0 * (d1 - d3) - d2 + d4;
        r[5][l] = 4.0 * d1 - 5.0 * d3 + d5;
    }
}

/// `y` = At m for one column of six products (each `LANES` channels).
#[inline(always)]
fn output_transform(m: &[Lanes; IN_TILE], y: &mut [Lanes; TILE]) {
    for l in 0..LANES {
        let [m0, m1, m2, m3, m4, m5] = std::array::from_fn(|i| m[i][l]);
        let (s12, d12, s34, d34) = (m1 + m2, m1 - m2, m3 + m4, m3 - m4);
        y[0][l] = m0 + s12 + s34;
        y[1][l] = d12 + 2.0 * d34;
        y[2][l] = s12 + 4.0 * s34;
        y[3][l] = d12 + 8.0 * d34 + m5;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-1, 1).
    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| {
                let v = i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8;
                v as f32 / (1u32 << 23) as f32 - 1.0
            })
            .collect()
    }

    #[test]
    fn parts_and_positions_give_the_same_values_in_every_arithmetic() {
        // Several parts of several bands, a short last band and a narrow last tile column.
        let (n, h, w, c_in, c_out) = (3, 30, 22, 32, 48);
        let x = Activations {
            data: values(n * h * w * c_in, 1),
            n,
            h,
            w,
            c: c_in,
        };
        let f32_kernel = transform_kernel(&values(c_out * c_in * 9, 2), c_in, c_out);
        let bias = values(c_out, 3);
        let kernels = [
            Some(Kernel::F32(f32_kernel.clone())),
            Kernel::bf16(&f32_kernel, c_in, c_out).filter(|_| bf16::unit().is_some()),
            Kernel::int8(&f32_kernel, c_in, c_out),
        ];
        for kernel in kernels.iter().flatten() {
            let mut by_parts = Activations::zeros(n, h, w, c_out);
            let mut by_positions = Activations::zeros(n, h, w, c_out);
            convolve_by_parts(&x, kernel, &bias, &mut by_parts);
            convolve_by_positions(&x, kernel, &bias, &mut by_positions);
            assert!(by_parts.data.iter().any(|v| *v > 0.0));
            assert_eq!(by_parts.data, by_positions.data);
        }
    }
}
