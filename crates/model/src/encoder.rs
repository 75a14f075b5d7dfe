//! The frozen VGG-16 encoder: 13 convolutions (3x3, padding 1, ReLU) and 5 max-pools, built from
//! the layer plan and checked weights, run by one of two engines.

use burn::tensor::activation::relu;
use burn::tensor::module::{conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor, TensorData};
use medpath_conv::{Arithmetic, Vgg16Cpu};
use medpath_weights::{EncoderWeights, MIN_INPUT, OUTPUT_CHANNELS, PlanStep, STRIDE};

use crate::error::{ModelError, Result};

/// What runs the encoder's arithmetic.
#[derive(Debug, Clone)]
pub enum Engine {
    /// medpath-conv's CPU kernels (Winograd F(4x4, 3x3), NHWC, multi-threaded) with their matrix
    /// products in the given arithmetic: the default without a GPU feature (f32), about 3x faster
    /// than burn's Flex backend on a 2-core AVX2 machine.
    Cpu(Arithmetic),
    /// burn 0.22 on a device: Flex on the CPU, or a GPU with the `cuda` or `wgpu` feature.
    Burn(Device),
}

impl Engine {
    /// A short name for logs and benchmark lines.
    pub fn describe(&self) -> String {
        match self {
            Engine::Cpu(Arithmetic::F32) => "cpu (winograd)".into(),
            Engine::Cpu(a) => match a.unit() {
                Some(unit) => format!("cpu (winograd, {} {unit})", a.name()),
                None => format!("cpu (winograd, {})", a.name()),
            },
            Engine::Burn(device) => format!("burn 0.22 ({device:?})"),
        }
    }

    /// Parses `cpu` (f32) or `burn` (burn on [`crate::default_device`]).
    pub fn parse(name: &str) -> Result<Engine> {
        match name {
            "cpu" => Ok(Engine::Cpu(Arithmetic::F32)),
            "burn" => Ok(Engine::Burn(crate::default_device())),
            other => Err(ModelError::Input(format!(
                "encoder engine `{other}`: expected cpu or burn"
            ))),
        }
    }
}

struct ConvLayer {
    weight: Tensor<4>,
    bias: Tensor<1>,
}

enum BurnLayer {
    Conv(Box<ConvLayer>),
    Pool,
}

enum Network {
    Cpu(Vgg16Cpu),
    Burn {
        layers: Vec<BurnLayer>,
        device: Device,
    },
}

/// VGG-16's convolutional part with fixed weights.
pub struct Vgg16Encoder {
    network: Network,
    /// Hash of the weights (part of every feature cache key).
    pub weights_hash: String,
    /// Whether the weights are seeded random ones (features then carry no ImageNet knowledge).
    pub random_weights: bool,
}

impl Vgg16Encoder {
    /// Builds the encoder for `engine` from checked weights; an error where this CPU lacks the
    /// engine's arithmetic.
    pub fn new(weights: &EncoderWeights, engine: &Engine) -> Result<Vgg16Encoder> {
        let network = match engine {
            Engine::Cpu(arithmetic) => {
                Network::Cpu(Vgg16Cpu::with_arithmetic(weights, *arithmetic)?)
            }
            Engine::Burn(device) => Network::Burn {
                layers: burn_layers(weights, device),
                device: device.clone(),
            },
        };
        Ok(Vgg16Encoder {
            network,
            weights_hash: weights.hash.clone(),
            random_weights: weights.is_random(),
        })
    }

    /// Encodes `n` preprocessed square images of side `size` (CHW each, concatenated) and returns
    /// their features, `n * 512 * (size/32)^2` values (NCHW).
    pub fn encode(&self, inputs: &[f32], n: usize, size: usize) -> Result<Vec<f32>> {
        if size < MIN_INPUT {
            return Err(ModelError::Input(format!(
                "input size {size}: VGG-16 needs at least {MIN_INPUT} pixels"
            )));
        }
        if inputs.len() != n * 3 * size * size {
            return Err(ModelError::Input(format!(
                "{} input values for {n} images of 3 x {size} x {size}",
                inputs.len()
            )));
        }
        if n == 0 {
            return Ok(Vec::new());
        }
        match &self.network {
            Network::Cpu(net) => Ok(net.encode_nchw(inputs, n, size, size)),
            Network::Burn { layers, device } => {
                let x = Tensor::<4>::from_data(
                    TensorData::new(inputs.to_vec(), [n, 3, size, size]),
                    device,
                );
                burn_forward(layers, x)
                    .into_data()
                    .try_into_vec::<f32>()
                    .map_err(|e| ModelError::Backend(format!("{e:?}")))
            }
        }
    }

    /// What the feature cache keys this encoder's output by in place of the bare weights hash:
    /// the hash alone for burn (the key caches have always used), the hash and the kernel family
    /// for the CPU engine, and its arithmetic where it is not f32 (with bf16's unit). The two engines agree to a few
    /// millionths, but f16 rounding can turn that into a last-bit difference, and a warm run must
    /// give the same bytes as a cold one.
    pub fn cache_identity(&self) -> String {
        match &self.network {
            Network::Cpu(net) if net.arithmetic() == Arithmetic::Bf16 => {
                // bf16's units sum in different orders: each keys its own features.
                let unit = format!("bf16-{}", Arithmetic::Bf16.unit().unwrap_or("none"));
                medpath_cache::key_of(&[&self.weights_hash, "cpu-winograd-f4x4", &unit])
            }
            // int8's sums are integers: every unit gives the same values.
            Network::Cpu(net) if net.arithmetic() == Arithmetic::Int8 => {
                medpath_cache::key_of(&[&self.weights_hash, "cpu-winograd-f4x4", "int8"])
            }
            Network::Cpu(_) => medpath_cache::key_of(&[&self.weights_hash, "cpu-winograd-f4x4"]),
            Network::Burn { .. } => self.weights_hash.clone(),
        }
    }

    /// Values per image that [`Self::encode`] returns for inputs of side `size`.
    pub fn feature_len(size: usize) -> usize {
        let side = size / STRIDE;
        OUTPUT_CHANNELS * side * side
    }
}

/// The plan's layers as burn tensors on `device`.
fn burn_layers(weights: &EncoderWeights, device: &Device) -> Vec<BurnLayer> {
    weights
        .steps()
        .map(|step| match step {
            PlanStep::Pool => BurnLayer::Pool,
            PlanStep::Conv(c) => {
                let weight = TensorData::new(c.weight.clone(), [c.output, c.input, 3, 3]);
                let bias = TensorData::new(c.bias.clone(), [c.output]);
                BurnLayer::Conv(Box::new(ConvLayer {
                    weight: Tensor::from_data(weight, device),
                    bias: Tensor::from_data(bias, device),
                }))
            }
        })
        .collect()
}

/// Runs burn layers on a `[n, 3, h, w]` batch; returns `[n, 512, h/32, w/32]`.
fn burn_forward(layers: &[BurnLayer], mut x: Tensor<4>) -> Tensor<4> {
    let conv = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    for layer in layers {
        x = match layer {
            BurnLayer::Conv(c) => relu(conv2d(
                x,
                c.weight.clone(),
                Some(c.bias.clone()),
                conv.clone(),
            )),
            BurnLayer::Pool => max_pool2d(x, MaxPoolOptions::new([2, 2])),
        };
    }
    x
}
