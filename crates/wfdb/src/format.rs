//! Sample storage formats: decoding bytes into interleaved samples and encoding them back.

/// A storage format this crate can decode and encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFormat {
    /// Format 212: two 12-bit two's-complement samples packed in three bytes.
    Packed12,
    /// Format 16: 16-bit two's complement, little-endian.
    Int16Le,
    /// Format 61: 16-bit two's complement, big-endian.
    Int16Be,
    /// Format 80: 8-bit offset binary (stored value minus 128).
    Offset8,
    /// Format 160: 16-bit offset binary, little-endian (stored value minus 32768).
    Offset16,
}

impl SampleFormat {
    /// The format for a WFDB format code, or `None` when it is not supported.
    pub fn from_code(code: u16) -> Option<SampleFormat> {
        Some(match code {
            212 => SampleFormat::Packed12,
            16 => SampleFormat::Int16Le,
            61 => SampleFormat::Int16Be,
            80 => SampleFormat::Offset8,
            160 => SampleFormat::Offset16,
            _ => return None,
        })
    }

    /// Bytes needed to store `n` samples.
    pub fn bytes_for(self, n: u64) -> u64 {
        match self {
            SampleFormat::Packed12 => (n * 3).div_ceil(2),
            SampleFormat::Int16Le | SampleFormat::Int16Be | SampleFormat::Offset16 => n * 2,
            SampleFormat::Offset8 => n,
        }
    }

    /// Whole samples that `bytes` bytes hold.
    pub fn samples_in(self, bytes: u64) -> u64 {
        match self {
            SampleFormat::Packed12 => bytes * 2 / 3,
            SampleFormat::Int16Le | SampleFormat::Int16Be | SampleFormat::Offset16 => bytes / 2,
            SampleFormat::Offset8 => bytes,
        }
    }

    /// The range of sample values the format can store.
    pub fn value_range(self) -> (i32, i32) {
        match self {
            SampleFormat::Packed12 => (-2048, 2047),
            SampleFormat::Int16Le | SampleFormat::Int16Be | SampleFormat::Offset16 => {
                (i16::MIN as i32, i16::MAX as i32)
            }
            SampleFormat::Offset8 => (-128, 127),
        }
    }

    /// Decodes the first `n` samples of `bytes`; the caller checks `bytes` is long enough.
    pub fn decode(self, bytes: &[u8], n: usize) -> Vec<i32> {
        let mut out = Vec::with_capacity(n);
        match self {
            SampleFormat::Packed12 => {
                let twelve = |v: i32| if v >= 2048 { v - 4096 } else { v };
                for chunk in bytes.chunks(3) {
                    if out.len() >= n {
                        break;
                    }
                    let b0 = chunk[0] as i32;
                    let b1 = chunk.get(1).copied().unwrap_or(0) as i32;
                    out.push(twelve(((b1 & 0x0F) << 8) | b0));
                    if out.len() < n {
                        let b2 = chunk.get(2).copied().unwrap_or(0) as i32;
                        out.push(twelve(((b1 & 0xF0) << 4) | b2));
                    }
                }
            }
            SampleFormat::Int16Le => out.extend(
                bytes
                    .chunks_exact(2)
                    .take(n)
                    .map(|c| i16::from_le_bytes([c[0], c[1]]) as i32),
            ),
            SampleFormat::Int16Be => out.extend(
                bytes
                    .chunks_exact(2)
                    .take(n)
                    .map(|c| i16::from_be_bytes([c[0], c[1]]) as i32),
            ),
            SampleFormat::Offset16 => out.extend(
                bytes
                    .chunks_exact(2)
                    .take(n)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]) as i32 - 32768),
            ),
            SampleFormat::Offset8 => out.extend(bytes.iter().take(n).map(|&b| b as i32 - 128)),
        }
        out
    }

    /// Encodes samples; the caller checks every value is inside [`Self::value_range`].
    pub fn encode(self, samples: &[i32]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes_for(samples.len() as u64) as usize);
        match self {
            SampleFormat::Packed12 => {
                for pair in samples.chunks(2) {
                    let s0 = (pair[0] & 0xFFF) as u16;
                    out.push((s0 & 0xFF) as u8);
                    match pair.get(1) {
                        Some(&s1) => {
                            let s1 = (s1 & 0xFFF) as u16;
                            out.push(((s0 >> 8) as u8) | (((s1 >> 8) as u8) << 4));
                            out.push((s1 & 0xFF) as u8);
                        }
                        None => out.push((s0 >> 8) as u8),
                    }
                }
            }
            SampleFormat::Int16Le => {
                for &s in samples {
                    out.extend_from_slice(&(s as i16).to_le_bytes());
                }
            }
            SampleFormat::Int16Be => {
                for &s in samples {
                    out.extend_from_slice(&(s as i16).to_be_bytes());
                }
            }
            SampleFormat::Offset16 => {
                for &s in samples {
                    out.extend_from_slice(&((s + 32768) as u16).to_le_bytes());
                }
            }
            SampleFormat::Offset8 => out.extend(samples.iter().map(|&s| (s + 128) as u8)),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_212_decodes_the_documented_example() {
        // 995 = 0x3E3 and 1011 = 0x3F3: b0 = 0xE3, b1 = 0x33, b2 = 0xF3.
        let bytes = [0xE3, 0x33, 0xF3];
        assert_eq!(SampleFormat::Packed12.decode(&bytes, 2), vec![995, 1011]);
        // Negative values: -1 = 0xFFF, -2048 = 0x800.
        let enc = SampleFormat::Packed12.encode(&[-1, -2048]);
        assert_eq!(SampleFormat::Packed12.decode(&enc, 2), vec![-1, -2048]);
    }

    #[test]
    fn every_format_round_trips_its_full_range_with_odd_lengths() {
        for format in [
            SampleFormat::Packed12,
            SampleFormat::Int16Le,
            SampleFormat::Int16Be,
            SampleFormat::Offset8,
            SampleFormat::Offset16,
        ] {
            let (lo, hi) = format.value_range();
            let step = ((hi - lo) / 997).max(1);
            let samples: Vec<i32> = (lo..=hi).step_by(step as usize).chain([hi]).collect();
            for len in [samples.len(), samples.len() - 1, 1] {
                let part = &samples[..len];
                let bytes = format.encode(part);
                assert_eq!(
                    bytes.len() as u64,
                    format.bytes_for(len as u64),
                    "{format:?}"
                );
                assert_eq!(format.decode(&bytes, len), part, "{format:?} len {len}");
            }
        }
    }

    #[test]
    fn unknown_codes_are_unsupported() {
        assert_eq!(SampleFormat::from_code(212), Some(SampleFormat::Packed12));
        assert_eq!(SampleFormat::from_code(311), None);
        assert_eq!(SampleFormat::from_code(0), None);
    }
}
