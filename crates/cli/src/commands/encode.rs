//! `medpath encode`: VGG-16 features of images, written as one safetensors tensor.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use medpath_cache::Precision;
use medpath_data::folder::is_image_file;
use medpath_data::{AugmentConfig, Fit, Normalization, Preprocess};
use medpath_experiment::config::EncoderSettings;
use medpath_infer::encoder::{Encoding, default_cache_dir};
use medpath_model::{Featurizer, Vgg16Encoder, ViewRequest, open_cache};
use medpath_weights::{EncoderWeights, OUTPUT_CHANNELS, STRIDE};

use crate::output::emit;
use crate::progress;
use crate::progress::TerminalReporter;

/// Preprocessing conventions on the command line.
#[derive(Clone, Copy, ValueEnum)]
pub enum PreprocessArg {
    /// BGR, 0..255 minus the ImageNet mean (Keras / Caffe VGG weights).
    Caffe,
    /// RGB, /255, ImageNet mean and std (torchvision / timm weights).
    Torchvision,
}

impl From<PreprocessArg> for Normalization {
    fn from(p: PreprocessArg) -> Self {
        match p {
            PreprocessArg::Caffe => Normalization::Caffe,
            PreprocessArg::Torchvision => Normalization::Torchvision,
        }
    }
}

/// How images become square, on the command line.
#[derive(Clone, Copy, ValueEnum)]
pub enum FitArg {
    /// Resize both sides (aspect ratio not kept).
    Stretch,
    /// Keep the aspect ratio, pad with black.
    Pad,
    /// Keep the aspect ratio, cut the centre.
    Crop,
}

impl From<FitArg> for Fit {
    fn from(f: FitArg) -> Self {
        match f {
            FitArg::Stretch => Fit::Stretch,
            FitArg::Pad => Fit::Pad,
            FitArg::Crop => Fit::Crop,
        }
    }
}

/// Encoder options shared by every command that runs the encoder.
#[derive(Args)]
pub struct EncoderArgs {
    /// VGG-16 weights: safetensors (torchvision/timm key names) or a PyTorch .pth/.pt file.
    /// Without it the encoder uses seeded random weights (for trying things out only).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Seed of the random weights used when no --weights is given.
    #[arg(long, default_value_t = 0)]
    pub random_seed: u64,
    /// Input side in pixels, at least 32; features are size/32 on a side (default: 224 for
    /// `encode`, 64 for `demo`).
    #[arg(long)]
    pub size: Option<usize>,
    /// Preprocessing convention; by default the one the weights file declares (safetensors
    /// metadata), else torchvision.
    #[arg(long, value_enum)]
    pub preprocess: Option<PreprocessArg>,
    /// How non-square images become square.
    #[arg(long, value_enum, default_value = "stretch")]
    pub fit: FitArg,
    /// Feature cache folder (default: $MEDPATH_CACHE, else ~/.cache/medpath).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Do not read or write the feature cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Precision of cached features (and so of the features written): by default f32, what
    /// the encoder computes; f16 reads and writes the half-precision entries that runs use.
    #[arg(long, value_enum, default_value = "f32")]
    pub cache_precision: PrecisionArg,
    /// Images per encoder batch.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
}

/// Cache precision on the command line.
#[derive(Clone, Copy, ValueEnum)]
pub enum PrecisionArg {
    /// Half precision (half the disk).
    F16,
    /// Single precision.
    F32,
}

/// Loaded weights, the encoder and the preprocessing they call for.
pub struct LoadedEncoder {
    /// The weights (kept for their hash and source).
    pub weights: EncoderWeights,
    /// The encoder.
    pub encoder: Vgg16Encoder,
    /// The preprocessing to use.
    pub preprocess: Preprocess,
}

impl EncoderArgs {
    /// Loads the weights (or makes random ones, saying so loudly) and settles the preprocessing;
    /// `default_size` applies when `--size` is not given.
    pub fn load(&self, default_size: usize) -> Result<LoadedEncoder> {
        let size = self.size.unwrap_or(default_size);
        if size < 32 {
            bail!("--size {size}: VGG-16 needs at least 32 pixels");
        }
        let settings = EncoderSettings {
            weights: self.weights.clone(),
            random_seed: self.random_seed,
            preprocess: self.preprocess.map(Normalization::from),
            fit: Fit::from(self.fit),
            ..EncoderSettings::default()
        };
        let encoding = Encoding::load(&settings, &mut |warning| eprintln!("WARNING: {warning}"))?;
        let preprocess = encoding.preprocess(size);
        Ok(LoadedEncoder {
            weights: encoding.weights,
            encoder: encoding.encoder,
            preprocess,
        })
    }

    /// The feature cache for these settings, unless disabled.
    pub fn cache(
        &self,
        loaded: &LoadedEncoder,
        augment: &AugmentConfig,
    ) -> Option<medpath_cache::FeatureCache> {
        if self.no_cache {
            return None;
        }
        let root = self.cache.clone().unwrap_or_else(default_cache_dir);
        let precision = match self.cache_precision {
            PrecisionArg::F16 => Precision::F16,
            PrecisionArg::F32 => Precision::F32,
        };
        Some(open_cache(
            &root,
            &loaded.encoder.cache_identity(),
            &loaded.preprocess,
            augment,
            precision,
        ))
    }
}

impl EncoderArgs {
    /// A featurizer for the images themselves (view 0, no augmentation) with these settings.
    pub fn originals_featurizer<'a>(&self, loaded: &'a LoadedEncoder) -> Featurizer<'a> {
        let augment = AugmentConfig {
            views: 1,
            ..AugmentConfig::default()
        };
        Featurizer {
            encoder: &loaded.encoder,
            preprocess: loaded.preprocess,
            augment,
            cache: self.cache(loaded, &augment),
            batch_size: self.batch,
        }
    }
}

/// Arguments of `medpath encode`.
#[derive(Args)]
pub struct EncodeArgs {
    #[command(flatten)]
    encoder: EncoderArgs,
    /// Images (JPEG, PNG or DICOM) or folders of images (searched recursively, sorted).
    #[arg(required_unless_present = "experiment")]
    images: Vec<PathBuf>,
    /// Encode what `medpath run EXPERIMENT` would (every task's inputs and augmented views, the
    /// router's pictures, the generated novelty set) into the experiment's cache; needs --shard
    /// (use --shard 1/1 for all of it in one process).
    #[arg(long, value_name = "EXPERIMENT.toml", requires = "shard", conflicts_with_all = ["images", "out"])]
    experiment: Option<PathBuf>,
    /// With --experiment: override a setting, exactly as `medpath run --set`.
    #[arg(long = "set", value_name = "KEY=VALUE", requires = "experiment")]
    overrides: Vec<String>,
    /// Output safetensors file with one float32 tensor `features` of shape [n, 512, size/32, size/32].
    #[arg(long, required_unless_present = "shard")]
    out: Option<PathBuf>,
    /// Compute only shard I of N (1 <= I <= N) into the cache, and write no output file: an image
    /// belongs to the shard given by its content hash, so N processes (a Slurm array, a
    /// Kubernetes indexed job) started at once share the work, and a plain `encode` of the same
    /// images afterwards finds every feature in the cache.
    #[arg(long, value_name = "I/N", conflicts_with = "out")]
    shard: Option<String>,
}

/// Parses `I/N` (1 <= I <= N).
fn parse_shard(text: &str) -> Result<(usize, usize)> {
    let parsed = text
        .split_once('/')
        .and_then(|(i, n)| {
            Some((
                i.trim().parse::<usize>().ok()?,
                n.trim().parse::<usize>().ok()?,
            ))
        })
        .filter(|&(i, n)| i >= 1 && i <= n);
    parsed.with_context(|| format!("--shard {text}: expected I/N with 1 <= I <= N, e.g. 2/8"))
}

/// Encodes shard `shard` of `images` into the cache; nothing else is written.
fn run_shard(
    args: &EncodeArgs,
    images: &[PathBuf],
    (shard, shards): (usize, usize),
) -> Result<ExitCode> {
    if args.encoder.no_cache {
        bail!("--shard computes features into the cache: it cannot run with --no-cache");
    }
    let mut mine = Vec::new();
    for path in images {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        if medpath_cache::shard_of(&bytes, shards) == shard - 1 {
            mine.push(ViewRequest::file(path.clone()));
        }
    }
    let loaded = args.encoder.load(224)?;
    let featurizer = args.encoder.originals_featurizer(&loaded);
    let bar = progress::bar(mine.len(), "encode shard");
    let started = std::time::Instant::now();
    let stats = featurizer.run(&mine, &mut |_, _| Ok(()), &mut |done| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();
    if !stats.failed.is_empty() {
        bail!(
            "{} of the shard's {} images could not be read: {}",
            stats.failed.len(),
            mine.len(),
            stats.failed.join("; ")
        );
    }
    emit(&format!(
        "shard {shard}/{shards}: {} of {} images ({} computed, {} already in the cache) in {:.1} s\n",
        mine.len(),
        images.len(),
        stats.computed,
        stats.cached,
        started.elapsed().as_secs_f64()
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn expand_images(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("reading folder {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out)?;
            } else if is_image_file(&path) {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut images = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut images)?;
        } else {
            images.push(path.clone());
        }
    }
    if images.is_empty() {
        bail!(
            "no images (.jpg, .jpeg, .png) in {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(images)
}

/// Encodes shard `shard` of everything `medpath run EXPERIMENT` would encode.
fn run_experiment_shard(
    experiment: &std::path::Path,
    overrides: &[String],
    (shard, shards): (usize, usize),
) -> Result<ExitCode> {
    let e = medpath_experiment::Experiment::load(experiment, overrides)?;
    let work = tempfile::tempdir().context("creating a temporary folder for prepared inputs")?;
    let started = std::time::Instant::now();
    let summary = medpath_experiment::shard::encode_shard(
        &e,
        work.path(),
        (shard - 1, shards),
        &mut TerminalReporter::default(),
    )?;
    emit(&format!(
        "shard {shard}/{shards} of {}: {} of {} pictures in {:.1} s\n",
        experiment.display(),
        summary.pictures,
        summary.of,
        started.elapsed().as_secs_f64()
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `medpath encode`.
pub fn run(args: EncodeArgs) -> Result<ExitCode> {
    if let Some(experiment) = &args.experiment {
        let shard = parse_shard(args.shard.as_deref().unwrap_or("1/1"))?;
        return run_experiment_shard(experiment, &args.overrides, shard);
    }
    let images = expand_images(&args.images)?;
    if let Some(shard) = &args.shard {
        return run_shard(&args, &images, parse_shard(shard)?);
    }
    let out = args
        .out
        .clone()
        .context("--out FILE is needed (or --shard I/N to fill the cache only)")?;
    let loaded = args.encoder.load(224)?;
    let featurizer = args.encoder.originals_featurizer(&loaded);
    let side = loaded.preprocess.size / STRIDE;
    let shape = [images.len(), OUTPUT_CHANNELS, side, side];
    let tmp = out.with_extension("safetensors.partial");
    let mut writer = SafetensorsStream::create(
        &tmp,
        "features",
        &shape,
        &[
            ("weights_hash", loaded.weights.hash.as_str()),
            ("preprocess", &format!("{:?}", loaded.preprocess)),
        ],
    )?;
    let requests: Vec<ViewRequest> = images.iter().cloned().map(ViewRequest::file).collect();
    let bar = progress::bar(requests.len(), "encode");
    let started = std::time::Instant::now();
    let mut next = 0usize;
    let result = featurizer.run(
        &requests,
        &mut |index, values| {
            if index != next {
                return Err(medpath_model::ModelError::Input(format!(
                    "{}: could not be read, so the output would lose the image order",
                    images[next].display()
                )));
            }
            next += 1;
            writer
                .append(&values)
                .map_err(|e| medpath_model::ModelError::Input(e.to_string()))
        },
        &mut |done| bar.set_position(done as u64),
    );
    bar.finish_and_clear();
    let stats = match result {
        Ok(stats) if stats.failed.is_empty() => stats,
        Ok(stats) => {
            let _ = std::fs::remove_file(&tmp);
            bail!(
                "{} of {} images could not be read: {}",
                stats.failed.len(),
                images.len(),
                stats.failed.join("; ")
            );
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
    };
    writer.finish()?;
    std::fs::rename(&tmp, &out)
        .with_context(|| format!("renaming {} to {}", tmp.display(), out.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    emit(&format!(
        "{} images -> {} {:?} ({} computed, {} from cache) in {seconds:.1} s ({:.2} images/s)\n",
        images.len(),
        out.display(),
        shape,
        stats.computed,
        stats.cached,
        images.len() as f64 / seconds.max(1e-9)
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// Writes a safetensors file with a single float32 tensor whose values arrive in pieces, so
/// memory stays flat however large the tensor.
struct SafetensorsStream {
    file: std::io::BufWriter<std::fs::File>,
    path: PathBuf,
    remaining: usize,
}

impl SafetensorsStream {
    fn create(path: &Path, name: &str, shape: &[usize], metadata: &[(&str, &str)]) -> Result<Self> {
        let count: usize = shape.iter().product();
        let meta: serde_json::Map<String, serde_json::Value> = metadata
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect();
        let header = serde_json::json!({
            "__metadata__": meta,
            name: { "dtype": "F32", "shape": shape, "data_offsets": [0, count * 4] },
        });
        let mut text = serde_json::to_string(&header)?;
        while text.len() % 8 != 0 {
            text.push(' ');
        }
        let file =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let mut file = std::io::BufWriter::new(file);
        file.write_all(&(text.len() as u64).to_le_bytes())?;
        file.write_all(text.as_bytes())?;
        Ok(SafetensorsStream {
            file,
            path: path.to_path_buf(),
            remaining: count,
        })
    }

    fn append(&mut self, values: &[f32]) -> Result<()> {
        anyhow::ensure!(
            values.len() <= self.remaining,
            "{}: more values than the header declares",
            self.path.display()
        );
        for v in values {
            self.file.write_all(&v.to_le_bytes())?;
        }
        self.remaining -= values.len();
        Ok(())
    }

    fn finish(mut self) -> Result<()> {
        anyhow::ensure!(
            self.remaining == 0,
            "{}: {} values missing",
            self.path.display(),
            self.remaining
        );
        self.file
            .flush()
            .with_context(|| format!("writing {}", self.path.display()))
    }
}
