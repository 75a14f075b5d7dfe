//! From image files to encoder features: decode, fit to the input size, augment (view > 0),
//! normalise, encode in batches, with a content-addressed cache in front so that each
//! (weights, preprocessing, image, view) is computed once.

use std::path::PathBuf;
use std::sync::Arc;

use medpath_cache::{FeatureCache, Precision, key_of};
use medpath_data::{
    AugmentConfig, PixelImage, Preprocess, RgbImage, apply_transform, image::load_rgb,
    preprocess::normalize,
};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::encoder::Vgg16Encoder;
use crate::error::Result;

/// Where an image to encode comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// A file (JPEG, PNG or DICOM, recognised by content).
    File(PathBuf),
    /// A picture drawn in memory (an ECG beat), with a name for messages.
    Pixels {
        /// What the picture is (a record and beat, say), for messages.
        name: String,
        /// The picture.
        image: Arc<PixelImage>,
    },
}

impl ImageSource {
    /// The file's path, or the picture's name.
    pub fn describe(&self) -> String {
        match self {
            ImageSource::File(path) => path.display().to_string(),
            ImageSource::Pixels { name, .. } => name.clone(),
        }
    }

    /// SHA-256 of the content: the file's bytes, or the picture's shape and pixels. Features are
    /// cached under it, so the same content is encoded once whatever its name. A file that
    /// cannot be read is an error naming it.
    pub fn digest(&self) -> std::result::Result<[u8; 32], String> {
        match self {
            ImageSource::File(path) => {
                let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
                Ok(Sha256::digest(&bytes).into())
            }
            ImageSource::Pixels { image, .. } => Ok(image.digest()),
        }
    }

    /// The decoded image, or why it cannot be decoded (naming the file).
    pub fn load(&self) -> std::result::Result<RgbImage, String> {
        match self {
            ImageSource::File(path) => load_rgb(path)
                .map(|(image, _)| image)
                .map_err(|e| e.to_string()),
            ImageSource::Pixels { image, .. } => Ok(image.to_rgb()),
        }
    }
}

/// One image view to encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewRequest {
    /// The image.
    pub source: ImageSource,
    /// 0 for the image itself, 1.. for augmented views.
    pub view: usize,
}

impl ViewRequest {
    /// The image file `path` itself (view 0).
    pub fn file(path: PathBuf) -> ViewRequest {
        ViewRequest {
            source: ImageSource::File(path),
            view: 0,
        }
    }

    /// Augmented view `view` of the image file `path`.
    pub fn file_view(path: PathBuf, view: usize) -> ViewRequest {
        ViewRequest {
            source: ImageSource::File(path),
            view,
        }
    }

    /// A picture drawn in memory, named `name` in messages (view 0).
    pub fn pixels(name: String, image: Arc<PixelImage>) -> ViewRequest {
        ViewRequest {
            source: ImageSource::Pixels { name, image },
            view: 0,
        }
    }
}

/// Counts of an encoding run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncodeStats {
    /// Views run through the encoder.
    pub computed: usize,
    /// Views read from the cache.
    pub cached: usize,
    /// Views whose image could not be read, with the reason (they are skipped).
    pub failed: Vec<String>,
}

/// Encodes image views with one encoder, preprocessing, augmentation and (optionally) cache.
pub struct Featurizer<'a> {
    /// The encoder.
    pub encoder: &'a Vgg16Encoder,
    /// Input preprocessing.
    pub preprocess: Preprocess,
    /// Augmentation of views 1..; view 0 is never augmented.
    pub augment: AugmentConfig,
    /// Where features are cached, if anywhere.
    pub cache: Option<FeatureCache>,
    /// Images per encoder batch at 224 px (smaller images go in larger batches).
    pub batch_size: usize,
}

/// The cache namespace for an encoder (its [`Vgg16Encoder::cache_identity`]), preprocessing and
/// augmentation: every setting that changes the features is in it.
pub fn cache_namespace(
    encoder_identity: &str,
    preprocess: &Preprocess,
    augment: &AugmentConfig,
) -> String {
    let preprocess = format!("{preprocess:?}");
    let mut augment_key = format!(
        "flip={} zoom={} rot={} seed={}",
        augment.flip, augment.zoom, augment.rotation_deg, augment.seed
    );
    // Written only when used, so caches made before these settings existed stay valid.
    if augment.has_photometric_or_shift() {
        augment_key.push_str(&format!(
            " shift={} contrast={} gamma={}",
            augment.translate, augment.contrast, augment.gamma
        ));
    }
    if augment.aspect > 0.0 {
        augment_key.push_str(&format!(" aspect={}", augment.aspect));
    }
    let augment = augment_key;
    key_of(&[
        "medpath-features-v1",
        encoder_identity,
        &preprocess,
        &augment,
    ])
}

/// Opens the cache for a featurizer's settings under `root`. f32 entries live in their own
/// namespace, so asking for f32 never returns values an f16 run stored (the f16 namespace is
/// the plain one, which keeps caches written before this distinction valid).
pub fn open_cache(
    root: &std::path::Path,
    encoder_identity: &str,
    preprocess: &Preprocess,
    augment: &AugmentConfig,
    precision: Precision,
) -> FeatureCache {
    let namespace = cache_namespace(encoder_identity, preprocess, augment);
    let namespace = match precision {
        Precision::F16 => namespace,
        Precision::F32 => key_of(&[&namespace, "f32"]),
    };
    FeatureCache::new(root, &namespace, precision)
}

impl Featurizer<'_> {
    /// Encodes `requests` in order, calling `on_result(index, features)` for each one that
    /// succeeds, in request order; a file that cannot be read is counted in
    /// [`EncodeStats::failed`] and skipped. `progress(done)` follows each batch. Memory holds one
    /// batch at a time.
    pub fn run(
        &self,
        requests: &[ViewRequest],
        on_result: &mut dyn FnMut(usize, Vec<f32>) -> Result<()>,
        progress: &mut dyn FnMut(usize),
    ) -> Result<EncodeStats> {
        let size = self.preprocess.size;
        let mut stats = EncodeStats::default();
        let batch = self.batch_images();
        for (chunk_index, chunk) in requests.chunks(batch).enumerate() {
            let base = chunk_index * batch;
            // Reading, decoding and preprocessing run on all cores; a serial loop left one core
            // idle while the other decoded.
            let prepared: Vec<Prepared> = chunk.par_iter().map(|r| self.prepare(r)).collect();
            let mut results: Vec<Option<Vec<f32>>> = vec![None; chunk.len()];
            let mut pending: Vec<(usize, String)> = Vec::new();
            let mut inputs: Vec<f32> = Vec::new();
            for (k, outcome) in prepared.into_iter().enumerate() {
                match outcome {
                    Prepared::Cached(values) => {
                        results[k] = Some(values);
                        stats.cached += 1;
                    }
                    Prepared::Input { item, values } => {
                        inputs.extend(values);
                        pending.push((k, item));
                    }
                    Prepared::Failed(e) => stats.failed.push(e),
                }
            }
            if !pending.is_empty() {
                let features = self.encoder.encode(&inputs, pending.len(), size)?;
                let per = features.len() / pending.len();
                for ((k, item), values) in pending.into_iter().zip(features.chunks_exact(per)) {
                    results[k] = Some(match &self.cache {
                        Some(cache) => {
                            cache.put(&item, values)?;
                            cache.quantize(values)
                        }
                        None => values.to_vec(),
                    });
                    stats.computed += 1;
                }
            }
            for (k, values) in results.into_iter().enumerate() {
                if let Some(values) = values {
                    on_result(base + k, values)?;
                }
            }
            progress(base + chunk.len());
        }
        Ok(stats)
    }

    /// Images per encoder batch: [`Self::batch_size`] at 224 px, proportionally more for smaller
    /// images (as many pixels per batch, at most 256 images), so that small pictures still give
    /// both cores enough rows of tiles. Features do not depend on how images are batched.
    fn batch_images(&self) -> usize {
        let size = self.preprocess.size.max(1);
        let batch = self.batch_size.max(1);
        batch.max((batch * 224 * 224 / (size * size)).min(256))
    }

    /// One request read from the cache, or loaded, made square, augmented and normalised.
    fn prepare(&self, request: &ViewRequest) -> Prepared {
        let digest = match request.source.digest() {
            Ok(d) => d,
            Err(e) => return Prepared::Failed(e),
        };
        let item = key_of(&[&hex(&digest), &request.view.to_string()]);
        if let Some(cache) = &self.cache {
            // A damaged entry is recomputed and overwritten.
            if let Ok(Some(values)) = cache.get(&item) {
                return Prepared::Cached(values);
            }
        }
        match request.source.load() {
            Ok(image) => {
                let mut fitted = self.preprocess.fit(&image);
                if request.view > 0 {
                    let key = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
                    fitted = apply_transform(&fitted, &self.augment.transform(key, request.view));
                }
                Prepared::Input {
                    item,
                    values: normalize(&fitted, self.preprocess.normalization),
                }
            }
            Err(e) => Prepared::Failed(e),
        }
    }
}

/// A request after [`Featurizer::prepare`].
enum Prepared {
    /// Its features, from the cache.
    Cached(Vec<f32>),
    /// Its encoder input, and its cache item.
    Input { item: String, values: Vec<f32> },
    /// Why it could not be read.
    Failed(String),
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use medpath_data::{Fit, Normalization};

    #[test]
    fn f32_and_f16_features_never_share_a_namespace() {
        let preprocess = Preprocess {
            size: 64,
            fit: Fit::Stretch,
            normalization: Normalization::Caffe,
        };
        let augment = AugmentConfig::default();
        let root = std::path::Path::new("cache");
        let half = open_cache(root, "h", &preprocess, &augment, Precision::F16);
        let single = open_cache(root, "h", &preprocess, &augment, Precision::F32);
        assert_ne!(half.dir(), single.dir());
        assert_eq!(
            half.dir(),
            root.join(cache_namespace("h", &preprocess, &augment))
        );
    }
}
