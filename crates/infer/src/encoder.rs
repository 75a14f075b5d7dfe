//! The frozen encoder as a run or `predict` loads it: weights, preprocessing convention,
//! feature cache, and where a run keeps its feature sets.

use std::path::{Path, PathBuf};

use medpath_cache::Precision;
use medpath_data::{AugmentConfig, AugmentSet, Fit, Normalization, Preprocess};
use medpath_model::{
    Arithmetic, Featurizer, Vgg16Encoder, ViewRequest, default_engine, open_cache,
};
use medpath_pathnet::{DiskPrecision, FeatureSet};
use medpath_weights::{EncoderWeights, OUTPUT_CHANNELS, STRIDE};
use serde::{Deserialize, Serialize};

use crate::error::{InferError as Error, Result};

/// Where a run keeps its tasks' encoded features while it learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureStore {
    /// In memory.
    #[default]
    Memory,
    /// In unnamed files in the run folder at the cache's precision, read a batch at a time:
    /// memory then stays flat however many examples there are.
    Disk,
}

/// The `[encoder]` section of an experiment file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EncoderSettings {
    /// VGG-16 weights file (safetensors or .pth); none: seeded random weights (demo only).
    pub weights: Option<PathBuf>,
    /// Seed of the random weights.
    pub random_seed: u64,
    /// `caffe` or `torchvision`; default: what the weights declare, else torchvision.
    pub preprocess: Option<Normalization>,
    /// How an image becomes square: `stretch`, `pad` or `crop`.
    pub fit: Fit,
    /// Feature cache folder (default: `$MEDPATH_CACHE`, else `~/.cache/medpath`).
    pub cache: Option<PathBuf>,
    /// Precision of cached features: `f16` or `f32`.
    pub cache_precision: Precision,
    /// Arithmetic of the encoder's matrix products: `f32`, or `bf16` on CPUs with AVX512-BF16
    /// or Intel AMX (faster, features within about 2 % of f32; cached apart from f32's).
    pub precision: Arithmetic,
    /// Images per encoder batch.
    pub batch: usize,
    /// Where a run keeps its tasks' encoded features while it learns: `memory` or `disk`.
    pub features: FeatureStore,
}

impl Default for EncoderSettings {
    fn default() -> Self {
        EncoderSettings {
            weights: None,
            random_seed: 0,
            preprocess: None,
            fit: Fit::Stretch,
            cache: None,
            cache_precision: Precision::F16,
            precision: Arithmetic::F32,
            batch: 8,
            features: FeatureStore::Memory,
        }
    }
}

/// What identifies an encoder's features: stored in the model bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncoderReference {
    /// Weights file, absent for random weights.
    pub weights_file: Option<PathBuf>,
    /// Seed of random weights.
    pub random_seed: Option<u64>,
    /// Hash of the weights.
    pub weights_hash: String,
    /// Normalisation convention.
    pub normalization: Normalization,
    /// How images are made square.
    pub fit: Fit,
    /// Arithmetic of the encoder's matrix products (f32 in bundles from before the setting).
    #[serde(default)]
    pub precision: Arithmetic,
}

/// Features of each requested view (`None` where the input could not be read) and the reasons
/// for the failures.
pub type EncodedViews = (Vec<Option<Vec<f32>>>, Vec<String>);

/// The loaded encoder and its cache.
pub struct Encoding {
    /// The weights.
    pub weights: EncoderWeights,
    /// The network.
    pub encoder: Vgg16Encoder,
    /// Bundle reference.
    pub reference: EncoderReference,
    cache_root: Option<PathBuf>,
    precision: Precision,
    batch: usize,
    /// Where a run keeps its tasks' features when they live on disk (`None`: in memory).
    spill: Option<PathBuf>,
}

/// The default cache folder: `$MEDPATH_CACHE`, else `$XDG_CACHE_HOME/medpath`, else
/// `~/.cache/medpath`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MEDPATH_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("medpath");
    }
    std::env::var_os("HOME").map_or_else(
        || PathBuf::from(".medpath-cache"),
        |h| PathBuf::from(h).join(".cache/medpath"),
    )
}

impl Encoding {
    /// Loads the weights (random ones when none are named: `warn` is told) and settles the
    /// preprocessing: an explicit choice, else the weights' declaration, else torchvision.
    pub fn load(settings: &EncoderSettings, warn: &mut dyn FnMut(String)) -> Result<Encoding> {
        let weights = match &settings.weights {
            Some(path) => EncoderWeights::load(path)?,
            None => {
                warn(format!(
                    "no encoder weights given: the encoder uses RANDOM weights (seed {}); features carry no ImageNet knowledge (demo and tests only)",
                    settings.random_seed
                ));
                EncoderWeights::random(settings.random_seed)
            }
        };
        let normalization = match (settings.preprocess, weights.declared_preprocess) {
            (Some(c), Some(d)) if c != d => {
                warn(format!(
                    "preprocessing {c:?} overrides the {d:?} preprocessing the weights declare; mixing conventions silently degrades features"
                ));
                c
            }
            (Some(c), _) => c,
            (None, Some(d)) => d,
            (None, None) => Normalization::Torchvision,
        };
        let precision = settings.cache_precision;
        // The bundle names the weights by their absolute path, so that `predict` finds them
        // from any folder.
        let weights_file = settings
            .weights
            .as_ref()
            .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()));
        let reference = EncoderReference {
            weights_file,
            random_seed: weights.is_random().then_some(settings.random_seed),
            weights_hash: weights.hash.clone(),
            normalization,
            fit: settings.fit,
            precision: settings.precision,
        };
        let encoder = Vgg16Encoder::new(&weights, &default_engine(settings.precision))?;
        Ok(Encoding {
            weights,
            encoder,
            reference,
            cache_root: Some(settings.cache.clone().unwrap_or_else(default_cache_dir)),
            precision,
            batch: settings.batch.max(1),
            spill: None,
        })
    }

    /// The encoder a model bundle was trained with, without a cache (`predict` sees each
    /// input once); the weights must hash to what the bundle recorded.
    pub fn for_bundle(reference: &EncoderReference) -> Result<Encoding> {
        let weights = match (&reference.weights_file, reference.random_seed) {
            (Some(path), _) => EncoderWeights::load(path).map_err(|e| {
                Error::Config(format!(
                    "the model's encoder weights: {e}; give the file with --weights (it must hash to {})",
                    reference.weights_hash
                ))
            })?,
            (None, Some(seed)) => EncoderWeights::random(seed),
            (None, None) => {
                return Err(Error::Config(
                    "the bundle names neither a weights file nor a random seed".into(),
                ));
            }
        };
        if weights.hash != reference.weights_hash {
            return Err(Error::Config(format!(
                "encoder weights {} hash to {}, but the model was trained with weights hashing to {}: use the same weights file",
                reference
                    .weights_file
                    .as_deref()
                    .map_or("(random)".into(), |p| p.display().to_string()),
                weights.hash,
                reference.weights_hash
            )));
        }
        if !reference.precision.is_available() {
            return Err(Error::Config(format!(
                "this model was trained with the encoder at {} precision, which needs {}; this CPU has none: use it on such a machine, or train it again with encoder.precision = \"f32\"",
                reference.precision.name(),
                reference.precision.needs()
            )));
        }
        let encoder = Vgg16Encoder::new(&weights, &default_engine(reference.precision))?;
        Ok(Encoding {
            weights,
            encoder,
            reference: reference.clone(),
            cache_root: None,
            precision: Precision::F32,
            batch: 8,
            spill: None,
        })
    }

    /// The preprocessing at input side `size`.
    pub fn preprocess(&self, size: usize) -> Preprocess {
        Preprocess {
            size,
            fit: self.reference.fit,
            normalization: self.reference.normalization,
        }
    }

    /// Features of `requests` at side `size` (augmented views from `augment`); `None` for inputs
    /// that could not be read, with the reasons in the second value.
    pub fn features(
        &self,
        requests: &[ViewRequest],
        size: usize,
        augment: AugmentConfig,
        progress: &mut dyn FnMut(usize),
    ) -> Result<EncodedViews> {
        let mut out = vec![None; requests.len()];
        let failed = self.features_into(
            requests,
            size,
            augment,
            &mut |i, values| {
                out[i] = Some(values);
                Ok(())
            },
            progress,
        )?;
        Ok((out, failed))
    }

    /// Like [`Encoding::features`], but hands each request's features to `sink` (with the
    /// request's index) as soon as they are computed or read from the cache, so that no more
    /// than one batch is held here; returns the reasons for inputs that could not be read.
    pub fn features_into(
        &self,
        requests: &[ViewRequest],
        size: usize,
        augment: AugmentConfig,
        sink: &mut dyn FnMut(usize, Vec<f32>) -> Result<()>,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<String>> {
        let preprocess = self.preprocess(size);
        let featurizer = Featurizer {
            encoder: &self.encoder,
            preprocess,
            augment,
            cache: self.cache_root.as_ref().map(|root| {
                open_cache(
                    root,
                    &self.encoder.cache_identity(),
                    &preprocess,
                    &augment,
                    self.precision,
                )
            }),
            batch_size: self.batch,
        };
        // The sink's own error stops the encoder; it is handed back as it was.
        let mut refused = None;
        let outcome = featurizer.run(
            requests,
            &mut |i, values| {
                sink(i, values).map_err(|e| {
                    let message = e.to_string();
                    refused = Some(e);
                    medpath_model::ModelError::Input(message)
                })
            },
            progress,
        );
        match (outcome, refused) {
            (_, Some(e)) => Err(e),
            (Ok(stats), None) => Ok(stats.failed),
            (Err(e), None) => Err(e.into()),
        }
    }

    /// Keeps the feature sets that [`Encoding::task_set`] makes on disk, in unnamed files in
    /// `dir` at the cache's precision, instead of in memory.
    pub fn keep_features_on_disk(&mut self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        self.spill = Some(dir.to_path_buf());
        Ok(())
    }

    /// An empty feature set for a task's (or the router's) pictures at side `size`: on disk
    /// when the run keeps features there (see [`Encoding::keep_features_on_disk`]), else in
    /// memory. On disk, values are kept at the cache's precision, which loses nothing, unless
    /// they are `derived` from cached values (centred, say): those keep f32.
    pub fn task_set(&self, size: usize, side_width: usize, derived: bool) -> Result<FeatureSet> {
        let Some(dir) = &self.spill else {
            return Ok(Encoding::feature_set(size, side_width));
        };
        let precision = match self.precision {
            Precision::F16 if !derived => DiskPrecision::F16,
            _ => DiskPrecision::F32,
        };
        let side = size / STRIDE;
        Ok(FeatureSet::on_disk(side, side, OUTPUT_CHANNELS, dir, precision)?.with_side(side_width))
    }

    /// Features of pictures already fitted to the square side `size` (RGB, 0..255), in batches;
    /// no cache (for pictures that exist only in memory, such as occluded copies).
    pub fn encode_images(
        &self,
        images: &[medpath_data::RgbImage],
        size: usize,
    ) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(images.len());
        let len = medpath_model::Vgg16Encoder::feature_len(size);
        for chunk in images.chunks(self.batch) {
            let inputs: Vec<f32> = chunk
                .iter()
                .flat_map(|im| {
                    medpath_data::preprocess::normalize(im, self.reference.normalization)
                })
                .collect();
            let features = self.encoder.encode(&inputs, chunk.len(), size)?;
            out.extend(features.chunks_exact(len).map(|f| f.to_vec()));
        }
        Ok(out)
    }

    /// An empty feature set for inputs of side `size` with `side_width` side inputs per
    /// example.
    pub fn feature_set(size: usize, side_width: usize) -> FeatureSet {
        let side = size / STRIDE;
        FeatureSet::new(side, side, OUTPUT_CHANNELS).with_side(side_width)
    }
}

/// No augmentation: every input as it is.
pub fn no_augmentation() -> AugmentConfig {
    AugmentSet::Paper.config(1, 0)
}

/// Features of a single image file at side `size` (view 0), for prediction.
pub fn single(encoding: &Encoding, path: PathBuf, size: usize) -> Result<Vec<f32>> {
    let request = ViewRequest::file(path.clone());
    let (mut out, failed) = encoding.features(&[request], size, no_augmentation(), &mut |_| {})?;
    out.pop()
        .flatten()
        .ok_or_else(|| Error::run(&path, failed.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles_from_before_the_precision_setting_encode_at_f32() {
        let old = r#"{"weights_file": null, "random_seed": 3, "weights_hash": "h",
                      "normalization": "caffe", "fit": "stretch"}"#;
        let reference: EncoderReference = serde_json::from_str(old).unwrap();
        assert_eq!(reference.precision, Arithmetic::F32);
        let settings: EncoderSettings = serde_json::from_str(r#"{"precision": "bf16"}"#).unwrap();
        assert_eq!(settings.precision, Arithmetic::Bf16);
        let int8: EncoderSettings = serde_json::from_str(r#"{"precision": "int8"}"#).unwrap();
        assert_eq!(int8.precision, Arithmetic::Int8);
        let wrong = serde_json::from_str::<EncoderSettings>(r#"{"precision": "int4"}"#);
        assert!(wrong.unwrap_err().to_string().contains("int4"));
    }
}
