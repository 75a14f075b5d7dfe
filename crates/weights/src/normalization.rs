//! The pixel convention a set of weights was trained with: the encoder's input must be
//! normalised the same way, so a weight file may declare it and the preprocessing reads it.

use serde::{Deserialize, Serialize};

/// How pixel values are normalised for the encoder; must match the weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalization {
    /// RGB, scaled to [0, 1], minus ImageNet mean, divided by std (torchvision and timm weights).
    Torchvision,
    /// BGR, 0..255 minus the per-channel mean, no scaling (Keras / original Caffe VGG weights).
    Caffe,
}

/// A name that is not a known normalisation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("preprocessing {0:?}: expected caffe or torchvision")]
pub struct UnknownNormalization(pub String);

impl Normalization {
    /// Parses `torchvision` (also `pytorch`, `torch`) or `caffe`, in any case.
    pub fn parse(text: &str) -> Result<Normalization, UnknownNormalization> {
        match text.trim().to_ascii_lowercase().as_str() {
            "torchvision" | "pytorch" | "torch" => Ok(Normalization::Torchvision),
            "caffe" => Ok(Normalization::Caffe),
            other => Err(UnknownNormalization(other.to_string())),
        }
    }

    /// The name written into weight files' metadata.
    pub fn name(self) -> &'static str {
        match self {
            Normalization::Caffe => "caffe",
            Normalization::Torchvision => "torchvision",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_unknown_names_are_refused() {
        for n in [Normalization::Caffe, Normalization::Torchvision] {
            assert_eq!(Normalization::parse(n.name()), Ok(n));
        }
        assert_eq!(
            Normalization::parse(" PyTorch "),
            Ok(Normalization::Torchvision)
        );
        let err = Normalization::parse("keras").unwrap_err();
        assert_eq!(
            err.to_string(),
            "preprocessing \"keras\": expected caffe or torchvision"
        );
    }
}
