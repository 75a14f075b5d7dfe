//! medpath's frozen VGG-16 encoder: medpath-conv's CPU kernels by default, burn 0.22 (Flex on
//! the CPU, or a GPU with the `cuda` or `wgpu` feature) as the other engine; and the featurizer
//! that feeds it and caches its output.

pub mod encoder;
pub mod error;
pub mod featurize;

pub use encoder::{Engine, Vgg16Encoder};
pub use error::{ModelError, Result};
pub use featurize::{
    EncodeStats, Featurizer, ImageSource, ViewRequest, cache_namespace, open_cache,
};
pub use medpath_conv::Arithmetic;

/// The engine medpath encodes with at `arithmetic`: burn on the GPU when built with the `cuda`
/// or `wgpu` feature (which ignores it), otherwise medpath-conv's CPU kernels.
pub fn default_engine(arithmetic: Arithmetic) -> Engine {
    if cfg!(any(feature = "cuda", feature = "wgpu")) {
        Engine::Burn(default_device())
    } else {
        Engine::Cpu(arithmetic)
    }
}

/// The device burn computes on: the first GPU when built with the `cuda` or `wgpu` feature,
/// otherwise burn's Flex CPU backend (pure Rust, multi-threaded, SIMD).
pub fn default_device() -> burn::tensor::Device {
    #[cfg(feature = "cuda")]
    return burn::tensor::Device::cuda(0);
    #[cfg(all(feature = "wgpu", not(feature = "cuda")))]
    return burn::tensor::Device::wgpu(Default::default());
    #[cfg(not(any(feature = "cuda", feature = "wgpu")))]
    burn::tensor::Device::flex()
}
