//! Loading VGG-16 convolution weights from safetensors or PyTorch files, or making seeded random
//! ones, with every name and shape checked against the plan.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::normalization::Normalization;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use sha2::{Digest, Sha256};

use crate::plan::{Step, VGG16, convolutions};

/// What can go wrong loading weights. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file could not be read.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The weights file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a readable safetensors or PyTorch file.
    #[error("{path}: not a readable weights file: {message}", path = path.display())]
    Format {
        /// The weights file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A tensor the encoder needs is missing.
    #[error("{path}: missing tensor {name} (expected shape {expected:?}); the file has {found} tensors, e.g. {examples}", path = path.display())]
    Missing {
        /// The weights file.
        path: PathBuf,
        /// The tensor name.
        name: String,
        /// Its expected shape.
        expected: Vec<usize>,
        /// How many tensors the file has.
        found: usize,
        /// A few of the names it has.
        examples: String,
    },
    /// A tensor has the wrong shape or element type.
    #[error("{path}: tensor {name} has {found}, expected {expected}", path = path.display())]
    Mismatch {
        /// The weights file.
        path: PathBuf,
        /// The tensor name.
        name: String,
        /// What the file has.
        found: String,
        /// What the encoder needs.
        expected: String,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, WeightsError>;

/// Where weights came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum WeightSource {
    /// A file on disk.
    File {
        /// Its path.
        path: PathBuf,
    },
    /// Seeded random initialisation (demo and tests only: the features mean nothing).
    Random {
        /// The seed.
        seed: u64,
    },
}

/// One convolution's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvParams {
    /// Checkpoint key prefix (`features.0`).
    pub key: &'static str,
    /// Input channels.
    pub input: usize,
    /// Output channels.
    pub output: usize,
    /// Kernel, OIHW (`output * input * 3 * 3` values).
    pub weight: Vec<f32>,
    /// Bias (`output` values).
    pub bias: Vec<f32>,
}

/// One step of the VGG-16 plan with its parameters.
#[derive(Debug, Clone, Copy)]
pub enum PlanStep<'a> {
    /// A 3x3 convolution (padding 1) followed by ReLU.
    Conv(&'a ConvParams),
    /// 2x2 max-pooling with stride 2.
    Pool,
}

/// The 13 convolutions of VGG-16 with where they came from.
#[derive(Debug, Clone)]
pub struct EncoderWeights {
    /// Parameters in plan order.
    pub convs: Vec<ConvParams>,
    /// SHA-256 (hex) of the weights file, or of the seed for random weights: part of every
    /// feature cache key.
    pub hash: String,
    /// The preprocessing the file declares in its metadata, if it declares one.
    pub declared_preprocess: Option<Normalization>,
    /// Where the weights came from.
    pub source: WeightSource,
    /// Tensors in the file that the encoder does not use (e.g. `classifier.*`).
    pub ignored: Vec<String>,
}

/// A tensor read from a file, before checking.
struct RawTensor {
    dtype: String,
    shape: Vec<usize>,
    values: Option<Vec<f32>>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn f32_from_le(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn read_safetensors(
    path: &Path,
    bytes: &[u8],
) -> Result<(BTreeMap<String, RawTensor>, Option<Normalization>)> {
    let format = |message: String| WeightsError::Format {
        path: path.to_path_buf(),
        message,
    };
    let tensors = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| format(format!("safetensors: {e}")))?;
    let (_, metadata) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| format(format!("safetensors: {e}")))?;
    let declared = match metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get("preprocess"))
    {
        Some(p) => {
            Some(Normalization::parse(p).map_err(|e| format(format!("metadata preprocess: {e}")))?)
        }
        None => None,
    };
    let mut out = BTreeMap::new();
    for (name, view) in tensors.tensors() {
        let dtype = format!("{:?}", view.dtype()).to_lowercase();
        let values = (view.dtype() == safetensors::Dtype::F32).then(|| f32_from_le(view.data()));
        out.insert(
            name,
            RawTensor {
                dtype,
                shape: view.shape().to_vec(),
                values,
            },
        );
    }
    Ok((out, declared))
}

fn read_pytorch(path: &Path) -> Result<BTreeMap<String, RawTensor>> {
    let format = |message: String| WeightsError::Format {
        path: path.to_path_buf(),
        message,
    };
    let reader = pytorch_reader::PytorchReader::new(path)
        .map_err(|e| format(format!("PyTorch checkpoint: {e}")))?;
    // Checkpoints that nest the weights (`{"state_dict": ...}`) are opened under that key.
    let reader = if reader.keys().iter().any(|k| k.starts_with("features.")) {
        reader
    } else {
        ["state_dict", "model"]
            .iter()
            .find_map(|key| pytorch_reader::PytorchReader::with_top_level_key(path, key).ok())
            .unwrap_or(reader)
    };
    let mut out = BTreeMap::new();
    for (name, tensor) in reader.into_tensors() {
        let dtype = format!("{:?}", tensor.dtype()).to_lowercase();
        let values = if matches!(tensor.dtype(), pytorch_reader::DType::F32) {
            let bytes = tensor.read().map_err(|e| WeightsError::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
            Some(f32_from_le(&bytes))
        } else {
            None
        };
        out.insert(
            name,
            RawTensor {
                dtype,
                shape: tensor.shape().to_vec(),
                values,
            },
        );
    }
    Ok(out)
}

/// Takes tensor `name` out of `tensors`, checking shape and element type.
fn take(
    path: &Path,
    tensors: &mut BTreeMap<String, RawTensor>,
    name: &str,
    expected: &[usize],
) -> Result<Vec<f32>> {
    let Some(raw) = tensors.remove(name) else {
        let examples: Vec<&str> = tensors.keys().take(4).map(String::as_str).collect();
        return Err(WeightsError::Missing {
            path: path.to_path_buf(),
            name: name.to_string(),
            expected: expected.to_vec(),
            found: tensors.len(),
            examples: if examples.is_empty() {
                "none".into()
            } else {
                examples.join(", ")
            },
        });
    };
    let mismatch = |found: String, expected: String| WeightsError::Mismatch {
        path: path.to_path_buf(),
        name: name.to_string(),
        found,
        expected,
    };
    if raw.shape != expected {
        return Err(mismatch(
            format!("shape {:?}", raw.shape),
            format!("shape {expected:?}"),
        ));
    }
    let values = raw
        .values
        .ok_or_else(|| mismatch(format!("element type {}", raw.dtype), "float32".into()))?;
    if let Some(bad) = values.iter().position(|v| !v.is_finite()) {
        return Err(mismatch(
            format!("a non-finite value at element {bad}"),
            "finite values".into(),
        ));
    }
    Ok(values)
}

impl EncoderWeights {
    /// The plan's 18 steps in order, each convolution with its parameters: what an engine builds
    /// its layers from.
    pub fn steps(&self) -> impl Iterator<Item = PlanStep<'_>> {
        let mut convs = self.convs.iter();
        VGG16.iter().map(move |step| match step {
            Step::Pool => PlanStep::Pool,
            Step::Conv { .. } => PlanStep::Conv(
                convs
                    .next()
                    .expect("EncoderWeights holds one entry per convolution of the plan"),
            ),
        })
    }

    /// Loads a safetensors file (torchvision/timm key names) or a PyTorch `.pt`/`.pth` file
    /// (a state dict, a full-model save, or a checkpoint nesting the state dict under
    /// `state_dict` or `model`). Tensors other than `features.*` (such as `classifier.*`) are
    /// ignored and listed in [`Self::ignored`].
    pub fn load(path: &Path) -> Result<EncoderWeights> {
        let bytes = std::fs::read(path).map_err(|e| WeightsError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        let is_safetensors = bytes.len() >= 9 && bytes[8] == b'{';
        let (mut tensors, declared_preprocess) = if is_safetensors {
            read_safetensors(path, &bytes)?
        } else {
            (read_pytorch(path)?, None)
        };
        let mut convs = Vec::with_capacity(13);
        for (key, input, output) in convolutions() {
            let weight = take(
                path,
                &mut tensors,
                &format!("{key}.weight"),
                &[output, input, 3, 3],
            )?;
            let bias = take(path, &mut tensors, &format!("{key}.bias"), &[output])?;
            convs.push(ConvParams {
                key,
                input,
                output,
                weight,
                bias,
            });
        }
        Ok(EncoderWeights {
            convs,
            hash: sha256_hex(&bytes),
            declared_preprocess,
            source: WeightSource::File {
                path: path.to_path_buf(),
            },
            ignored: tensors.into_keys().collect(),
        })
    }

    /// Seeded random weights (He initialisation for ReLU, `std = sqrt(2 / fan_out)`, as
    /// torchvision initialises VGG; zero biases). For the demo and tests only.
    pub fn random(seed: u64) -> EncoderWeights {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let convs = convolutions()
            .map(|(key, input, output)| {
                let std = (2.0 / (output * 9) as f32).sqrt();
                let normal = Normal::new(0.0f32, std)
                    .unwrap_or_else(|_| Normal::new(0.0, 0.01).expect("valid"));
                let weight = (0..output * input * 9)
                    .map(|_| normal.sample(&mut rng))
                    .collect();
                ConvParams {
                    key,
                    input,
                    output,
                    weight,
                    bias: vec![0.0; output],
                }
            })
            .collect();
        EncoderWeights {
            convs,
            hash: sha256_hex(format!("medpath-random-vgg16-{seed}").as_bytes()),
            declared_preprocess: None,
            source: WeightSource::Random { seed },
            ignored: Vec::new(),
        }
    }

    /// Whether these are random weights.
    pub fn is_random(&self) -> bool {
        matches!(self.source, WeightSource::Random { .. })
    }

    /// Writes the weights as safetensors with torchvision key names and `preprocess` metadata.
    pub fn save_safetensors(&self, path: &Path, preprocess: Normalization) -> Result<()> {
        let io = |e: std::io::Error| WeightsError::Io {
            path: path.to_path_buf(),
            source: e,
        };
        let mut buffers: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for c in &self.convs {
            let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
            buffers.push((
                format!("{}.weight", c.key),
                vec![c.output, c.input, 3, 3],
                bytes(&c.weight),
            ));
            buffers.push((format!("{}.bias", c.key), vec![c.output], bytes(&c.bias)));
        }
        let mut views = Vec::new();
        for (name, shape, data) in &buffers {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                    .map_err(|e| WeightsError::Format {
                        path: path.to_path_buf(),
                        message: e.to_string(),
                    })?;
            views.push((name.clone(), view));
        }
        let metadata = [("preprocess".to_string(), preprocess.name().to_string())]
            .into_iter()
            .collect();
        let bytes =
            safetensors::serialize(views, Some(metadata)).map_err(|e| WeightsError::Format {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        std::fs::write(path, bytes).map_err(io)
    }
}
