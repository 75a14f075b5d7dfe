//! VGG-16's convolutional part as data: one table, each convolution next to its checkpoint key.

/// One step of the feature extractor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// 3x3 convolution (stride 1, padding 1) followed by ReLU.
    Conv {
        /// Key prefix in torchvision/timm checkpoints (`features.N`).
        key: &'static str,
        /// Input channels.
        input: usize,
        /// Output channels.
        output: usize,
    },
    /// 2x2 max pooling with stride 2.
    Pool,
}

const fn conv(key: &'static str, input: usize, output: usize) -> Step {
    Step::Conv { key, input, output }
}

/// VGG-16 `features`: 13 convolutions and 5 max-pools, as in torchvision's `vgg16().features`.
pub const VGG16: [Step; 18] = [
    conv("features.0", 3, 64),
    conv("features.2", 64, 64),
    Step::Pool,
    conv("features.5", 64, 128),
    conv("features.7", 128, 128),
    Step::Pool,
    conv("features.10", 128, 256),
    conv("features.12", 256, 256),
    conv("features.14", 256, 256),
    Step::Pool,
    conv("features.17", 256, 512),
    conv("features.19", 512, 512),
    conv("features.21", 512, 512),
    Step::Pool,
    conv("features.24", 512, 512),
    conv("features.26", 512, 512),
    conv("features.28", 512, 512),
    Step::Pool,
];

/// Channels of the encoder's output.
pub const OUTPUT_CHANNELS: usize = 512;
/// Total down-sampling factor (five 2x2 pools).
pub const STRIDE: usize = 32;
/// Smallest input side VGG-16 accepts (one pixel after five pools).
pub const MIN_INPUT: usize = 32;

/// The convolutions of the plan, in order: (key, input channels, output channels).
pub fn convolutions() -> impl Iterator<Item = (&'static str, usize, usize)> {
    VGG16.iter().filter_map(|s| match *s {
        Step::Conv { key, input, output } => Some((key, input, output)),
        Step::Pool => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_has_13_convolutions_and_5_pools_with_chained_channels() {
        assert_eq!(convolutions().count(), 13);
        assert_eq!(VGG16.iter().filter(|s| **s == Step::Pool).count(), 5);
        let mut channels = 3;
        for (_, input, output) in convolutions() {
            assert_eq!(input, channels);
            channels = output;
        }
        assert_eq!(channels, OUTPUT_CHANNELS);
        let params: usize = convolutions().map(|(_, i, o)| o * i * 9 + o).sum();
        assert_eq!(params, 14_714_688, "the published parameter count");
    }
}
