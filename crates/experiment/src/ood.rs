//! A generated set of pictures that belong to no task, for measuring how well a model rejects
//! what it was not trained for: noise, smooth "cloud" noise, colour gradients, flat gray, stripes
//! and checkerboards, pages of text, the demo's shapes, and ECG traces drawn wrongly (at a tenth
//! of the scale, as a long rhythm strip, white on black). Every picture is made from a seeded
//! generator, so the set is the same on every machine; nothing is downloaded.

use std::path::{Path, PathBuf};

use medpath_ecg::{Conduction, TraceStyle, render_traces, synthesize};
use medpath_plot::{Figure, Raster, TextPage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};

/// Side of the generated pictures.
const SIDE: usize = 160;
/// Pictures of each kind.
pub const PER_KIND: usize = 4;
/// The kinds, in the order they are written (file names start with them).
pub const KINDS: [&str; 10] = [
    "noise",
    "clouds",
    "gradient",
    "gray",
    "stripes",
    "checkers",
    "text",
    "shapes",
    "ecg_scale",
    "ecg_strip",
];

fn canvas_from(pixels: impl Fn(usize, usize) -> [u8; 3]) -> Raster {
    Raster::from_fn(SIDE, SIDE, pixels)
}

/// Value noise: random values on a coarse lattice, bilinearly interpolated, summed over octaves.
fn clouds(rng: &mut ChaCha8Rng) -> Vec<f32> {
    let mut out = vec![0f32; SIDE * SIDE];
    let mut amplitude = 1.0;
    for cells in [4usize, 8, 16, 32] {
        let lattice: Vec<f32> = (0..(cells + 1) * (cells + 1))
            .map(|_| rng.random_range(0.0..1.0))
            .collect();
        for y in 0..SIDE {
            for x in 0..SIDE {
                let (fx, fy) = (
                    x as f32 * cells as f32 / SIDE as f32,
                    y as f32 * cells as f32 / SIDE as f32,
                );
                let (x0, y0) = (fx as usize, fy as usize);
                let (tx, ty) = (fx - x0 as f32, fy - y0 as f32);
                let at = |i: usize, j: usize| lattice[j * (cells + 1) + i];
                let v = at(x0, y0) * (1.0 - tx) * (1.0 - ty)
                    + at(x0 + 1, y0) * tx * (1.0 - ty)
                    + at(x0, y0 + 1) * (1.0 - tx) * ty
                    + at(x0 + 1, y0 + 1) * tx * ty;
                out[y * SIDE + x] += amplitude * v;
            }
        }
        amplitude /= 2.0;
    }
    let max = out.iter().copied().fold(f32::MIN, f32::max);
    out.iter().map(|v| v / max).collect()
}

const WORDS: [&str; 16] = [
    "PATIENT", "REPORT", "THE", "OF", "RESULTS", "NORMAL", "STUDY", "DATE", "FINDINGS", "NO",
    "ACUTE", "SIGNED", "REVIEW", "AND", "PAGE", "NOTE",
];

/// A page of random report words in capitals.
fn text_page(rng: &mut ChaCha8Rng) -> Result<Raster> {
    let lines = (0..12)
        .map(|_| {
            let mut text = String::new();
            while text.len() < 22 {
                text.push_str(WORDS[rng.random_range(0..WORDS.len())]);
                text.push(' ');
            }
            text[..22].to_string()
        })
        .collect();
    Ok(TextPage {
        side: SIDE,
        lines,
        text_size: 11,
    }
    .to_raster()?)
}

/// An ECG that is no beat picture: a whole 12-second strip (`ecg_strip`, every other one white
/// on black) or one second drawn at a tenth of the usual scale (`ecg_scale`).
fn ecg_picture(kind: &str, index: usize, rng: &mut ChaCha8Rng) -> Result<Raster> {
    let conduction = [
        Conduction::Normal,
        Conduction::LeftBundleBranchBlock,
        Conduction::RightBundleBranchBlock,
    ][index % 3];
    let generated = synthesize(
        &format!("ood{index}"),
        conduction,
        12.0,
        rng.random_range(0..u64::MAX),
    );
    let signal = generated.record.physical(0);
    let mut style = TraceStyle::for_size(SIDE as u32);
    let trace = if kind == "ecg_scale" {
        // One second around the middle, drawn at a tenth of the usual scale: the QRS runs far
        // off the picture.
        style.top_mv = 0.25;
        style.bottom_mv = -0.15;
        signal[signal.len() / 2 - 180..signal.len() / 2 + 180].to_vec()
    } else {
        signal.clone()
    };
    let image = render_traces(&[trace], &style)?;
    let white_on_black = kind == "ecg_strip" && index % 2 == 1;
    Ok(canvas_from(|x, y| {
        let v = image.pixels[(y * SIDE + x) * image.channels];
        [if white_on_black { 255 - v } else { v }; 3]
    }))
}

/// The `index`-th generated picture of `kind`.
fn picture(kind: &str, index: usize, rng: &mut ChaCha8Rng) -> Result<Raster> {
    let colour = |rng: &mut ChaCha8Rng| -> [u8; 3] { [0, 1, 2].map(|_| rng.random_range(0..=255)) };
    Ok(match kind {
        "noise" => {
            let values: Vec<[u8; 3]> = (0..SIDE * SIDE).map(|_| colour(rng)).collect();
            canvas_from(|x, y| values[y * SIDE + x])
        }
        "clouds" => {
            let v = clouds(rng);
            let (a, b) = (colour(rng), colour(rng));
            canvas_from(|x, y| medpath_plot::mix(a, b, f64::from(v[y * SIDE + x])))
        }
        "gradient" => {
            let (a, b) = (colour(rng), colour(rng));
            let angle: f64 = rng.random_range(0.0..std::f64::consts::TAU);
            let (s, c) = angle.sin_cos();
            canvas_from(|x, y| {
                let t = ((x as f64 - 80.0) * c + (y as f64 - 80.0) * s) / 226.0 + 0.5;
                medpath_plot::mix(a, b, t)
            })
        }
        "gray" => {
            let level = (index * 255 / (PER_KIND - 1).max(1)) as u8;
            canvas_from(|_, _| [level; 3])
        }
        "stripes" => {
            let period = rng.random_range(6..30);
            let (a, b) = (colour(rng), colour(rng));
            let vertical = index.is_multiple_of(2);
            canvas_from(|x, y| {
                let t = if vertical { x } else { y };
                if (t / period) % 2 == 0 { a } else { b }
            })
        }
        "checkers" => {
            let cell = rng.random_range(8..40);
            canvas_from(|x, y| {
                if (x / cell + y / cell) % 2 == 0 {
                    [240; 3]
                } else {
                    [20; 3]
                }
            })
        }
        "text" => text_page(rng)?,
        "shapes" => {
            let pixels = crate::demo::shape_image(index % 2 == 1, rng);
            let side = crate::demo::SIDE;
            canvas_from(|x, y| [pixels[(y * side / SIDE) * side + x * side / SIDE]; 3])
        }
        "ecg_scale" | "ecg_strip" => ecg_picture(kind, index, rng)?,
        other => {
            return Err(Error::Config(format!(
                "no generated out-of-distribution kind `{other}`"
            )));
        }
    })
}

/// Writes the set into `dir` (`<kind>_<i>.png`) and returns the files in order.
pub fn write_ood_set(dir: &Path, seed: u64) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut files = Vec::new();
    for (k, kind) in KINDS.iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ ((k as u64 + 1) << 32));
        for i in 0..PER_KIND {
            let file = dir.join(format!("{kind}_{i}.png"));
            picture(kind, i, &mut rng)?.save(&file)?;
            files.push(file);
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_is_complete_decodable_and_repeatable() {
        let tmp = tempfile::tempdir().unwrap();
        let a = write_ood_set(&tmp.path().join("a"), 3).unwrap();
        let b = write_ood_set(&tmp.path().join("b"), 3).unwrap();
        assert_eq!(a.len(), KINDS.len() * PER_KIND);
        for (x, y) in a.iter().zip(&b) {
            let (bx, by) = (std::fs::read(x).unwrap(), std::fs::read(y).unwrap());
            assert_eq!(bx, by, "{}", x.display());
            let (image, _) = medpath_data::load_rgb(x).unwrap();
            assert_eq!((image.width, image.height), (SIDE, SIDE));
        }
    }
}
