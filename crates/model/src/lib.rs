//! medpath's networks on burn (Flex CPU backend by default): the frozen VGG-16 encoder.

pub mod encoder;
pub mod error;
pub mod featurize;

pub use encoder::Vgg16Encoder;
pub use error::{ModelError, Result};
pub use featurize::{EncodeStats, Featurizer, ViewRequest, cache_namespace, open_cache};

/// The device medpath computes on: the first GPU when built with the `cuda` or `wgpu` feature,
/// otherwise burn's Flex CPU backend (pure Rust, multi-threaded, SIMD).
pub fn default_device() -> burn::tensor::Device {
    #[cfg(feature = "cuda")]
    return burn::tensor::Device::cuda(0);
    #[cfg(all(feature = "wgpu", not(feature = "cuda")))]
    return burn::tensor::Device::wgpu(Default::default());
    #[cfg(not(any(feature = "cuda", feature = "wgpu")))]
    burn::tensor::Device::flex()
}
