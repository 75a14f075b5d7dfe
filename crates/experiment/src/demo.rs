//! The demo: generated data (synthetic WFDB records, two-class shape images) and the built-in
//! experiment that runs on them with the same code as `medpath run`.

use std::path::Path;

use medpath_ecg::{SynthOptions, write_synthetic_set};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::Experiment;
use crate::error::{Error, Result};
use medpath_runkit::write_atomic;

/// Side of the generated images.
pub(crate) const SIDE: usize = 80;

/// One generated gray image: a filled disc (`DISC`) or a ring (`RING`) at a random place and
/// size, on a noisy background with a soft gradient, so the classes differ visibly but not by
/// mean brightness alone.
pub(crate) fn shape_image(ring: bool, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let cx = rng.random_range(25.0..55.0f32);
    let cy = rng.random_range(25.0..55.0f32);
    let r = rng.random_range(12.0..20.0f32);
    let width = rng.random_range(3.0..5.0f32);
    let tilt = rng.random_range(-0.6..0.6f32);
    let mut pixels = Vec::with_capacity(SIDE * SIDE);
    for y in 0..SIDE {
        for x in 0..SIDE {
            let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
            let inside = if ring {
                (d - r).abs() < width
            } else {
                d < r * 0.8
            };
            let background = 60.0 + tilt * (x as f32 - 40.0) + rng.random_range(-25.0..25.0f32);
            let value = if inside {
                190.0 + rng.random_range(-25.0..25.0f32)
            } else {
                background
            };
            pixels.push(value.clamp(0.0, 255.0) as u8);
        }
    }
    pixels
}

fn png_gray(pixels: &[u8], side: usize) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().expect("writing to memory");
        writer.write_image_data(pixels).expect("writing to memory");
    }
    out
}

/// Writes `per_class` generated images of each class into `dir/DISC` and `dir/RING`.
pub fn write_shapes(dir: &Path, per_class: usize, seed: u64) -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for (class, ring) in [("DISC", false), ("RING", true)] {
        for i in 0..per_class {
            let pixels = shape_image(ring, &mut rng);
            write_atomic(
                &dir.join(class).join(format!("shape{i:04}.png")),
                &png_gray(&pixels, SIDE),
            )?;
        }
    }
    Ok(())
}

/// Generates the demo data under `data_dir` (skipped when present) and returns the built-in
/// experiment over it.
pub fn prepare_demo(data_dir: &Path, seed: u64, weights: Option<&Path>) -> Result<Experiment> {
    let records = data_dir.join("ecg_records");
    let shapes = data_dir.join("shapes");
    if !records.join("s006.hea").exists() {
        write_synthetic_set(
            &records,
            &SynthOptions {
                records: 6,
                duration_s: 150.0,
                seed,
            },
        )?;
    }
    if !shapes.join("RING").is_dir() {
        write_shapes(&shapes, 120, seed)?;
    }
    let text = format!(
        r#"
name = "demo (generated data)"
seed = {seed}
order = ["ecg", "shapes"]

[encoder]
cache = {cache:?}

[search]
population = 10
tournaments = 12
steps = 20
fitness_samples = 300

[train]
epochs = 12
patience = 3

[router]
size = 64
max_per_task = 300
tournaments = 4

[evaluation]
bootstrap = 500
samples = 3

[tasks.ecg]
kind = "ecg"
mitdb = {records:?}
size = 64
protocol = "intra-patient"

[tasks.shapes]
kind = "images"
root = {shapes:?}
size = 64
"#,
        cache = data_dir.join("cache"),
        records = records,
        shapes = shapes,
    );
    let mut e = Experiment::parse(&text, &[], "built-in demo experiment")?;
    e.encoder.weights = weights.map(Path::to_path_buf);
    if e.tasks.is_empty() {
        return Err(Error::Config("the demo experiment has no tasks".into()));
    }
    Ok(e)
}
