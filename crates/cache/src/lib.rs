//! A content-addressed, on-disk cache of feature arrays.
//!
//! An entry is keyed by a *namespace* (everything that changes the features: weights hash,
//! preprocessing, input size, augmentation settings) and an *item* key (the image's content hash
//! and the view id). Entries are written to a temporary file and renamed into place, so a killed
//! run never leaves a half-written entry; they are memory-mapped when read. Values are stored as
//! f16 (half the disk, about 3 significant digits) or f32.
//!
//! File layout: `ROOT/<namespace>/<first two hex digits>/<item>.feat`, each file an 16-byte
//! header (`MPFC`, version, dtype, reserved, element count as u64 LE) followed by the values in
//! little-endian order.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

const MAGIC: &[u8; 4] = b"MPFC";
const VERSION: u8 = 1;
const HEADER: usize = 16;

/// Storage precision of cached values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// IEEE half precision (2 bytes a value).
    F16,
    /// IEEE single precision (4 bytes a value).
    F32,
}

impl Precision {
    fn code(self) -> u8 {
        match self {
            Precision::F16 => 1,
            Precision::F32 => 2,
        }
    }
}

/// What can go wrong with the cache. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Reading or writing failed.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// An entry is damaged (it is then ignored and recomputed by callers that use [`FeatureCache::get`]).
    #[error("{path}: damaged cache entry: {message}", path = path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, CacheError>;

/// Hex SHA-256 of the parts, separated so that ("ab", "c") and ("a", "bc") differ.
pub fn key_of(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A cache rooted at a folder, for one namespace.
#[derive(Debug, Clone)]
pub struct FeatureCache {
    dir: PathBuf,
    precision: Precision,
}

impl FeatureCache {
    /// The cache for `namespace` (see [`key_of`]) under `root`, storing values at `precision`.
    pub fn new(root: &Path, namespace: &str, precision: Precision) -> FeatureCache {
        FeatureCache {
            dir: root.join(namespace),
            precision,
        }
    }

    /// The folder of this namespace.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, item: &str) -> PathBuf {
        let shard = item.get(..2).unwrap_or("xx");
        self.dir.join(shard).join(format!("{item}.feat"))
    }

    /// Whether an entry exists for `item`.
    pub fn contains(&self, item: &str) -> bool {
        self.path(item).is_file()
    }

    /// Reads the entry of `item` as f32 values; `Ok(None)` when there is none. A damaged entry
    /// is an error that names the file.
    pub fn get(&self, item: &str) -> Result<Option<Vec<f32>>> {
        let path = self.path(item);
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(CacheError::Io { path, source: e }),
        };
        // SAFETY: entries are never modified in place (writers rename a finished temporary
        // file over them), so the mapped bytes cannot change under us.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| CacheError::Io {
            path: path.clone(),
            source: e,
        })?;
        let damaged = |message: String| CacheError::Damaged {
            path: path.clone(),
            message,
        };
        if map.len() < HEADER || &map[..4] != MAGIC || map[4] != VERSION {
            return Err(damaged("bad header".into()));
        }
        let count = u64::from_le_bytes(map[8..16].try_into().expect("8 bytes")) as usize;
        let body = &map[HEADER..];
        let values = match map[5] {
            1 if body.len() == count * 2 => body
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            2 if body.len() == count * 4 => body
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            code => {
                return Err(damaged(format!(
                    "dtype {code} with {} bytes for {count} values",
                    body.len()
                )));
            }
        };
        Ok(Some(values))
    }

    /// The values as this cache stores them (rounded to f16 at f16 precision), so that a
    /// freshly computed result equals what a later read of the cache returns.
    pub fn quantize(&self, values: &[f32]) -> Vec<f32> {
        match self.precision {
            Precision::F16 => values
                .iter()
                .map(|v| half::f16::from_f32(*v).to_f32())
                .collect(),
            Precision::F32 => values.to_vec(),
        }
    }

    /// Stores `values` for `item`, atomically (temporary file, then rename).
    pub fn put(&self, item: &str, values: &[f32]) -> Result<()> {
        let path = self.path(item);
        let dir = path.parent().expect("entries live in a shard folder");
        std::fs::create_dir_all(dir).map_err(|e| CacheError::Io {
            path: dir.to_path_buf(),
            source: e,
        })?;
        let mut bytes = Vec::with_capacity(HEADER + values.len() * 4);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&[VERSION, self.precision.code(), 0, 0]);
        bytes.extend_from_slice(&(values.len() as u64).to_le_bytes());
        match self.precision {
            Precision::F16 => values
                .iter()
                .for_each(|v| bytes.extend_from_slice(&half::f16::from_f32(*v).to_le_bytes())),
            Precision::F32 => values
                .iter()
                .for_each(|v| bytes.extend_from_slice(&v.to_le_bytes())),
        }
        let tmp = dir.join(format!(".{item}.{}.tmp", std::process::id()));
        let io = |p: &Path, e| CacheError::Io {
            path: p.to_path_buf(),
            source: e,
        };
        let mut file = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_data())
            .map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_in_both_precisions() {
        let tmp = tempfile::tempdir().unwrap();
        let values: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin() * 50.0).collect();
        for precision in [Precision::F16, Precision::F32] {
            let cache = FeatureCache::new(
                tmp.path(),
                &key_of(&["ns", &format!("{precision:?}")]),
                precision,
            );
            let item = key_of(&["image", "0"]);
            assert_eq!(cache.get(&item).unwrap(), None);
            cache.put(&item, &values).unwrap();
            assert!(cache.contains(&item));
            let back = cache.get(&item).unwrap().unwrap();
            assert_eq!(back, cache.quantize(&values));
            let worst = back
                .iter()
                .zip(&values)
                .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
                .fold(0f32, f32::max);
            match precision {
                Precision::F32 => assert_eq!(back, values),
                Precision::F16 => assert!(worst < 1e-3, "{worst}"),
            }
        }
    }

    #[test]
    fn damaged_entries_are_named_and_keys_are_separated() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = FeatureCache::new(tmp.path(), "ns", Precision::F32);
        let item = key_of(&["x"]);
        cache.put(&item, &[1.0, 2.0]).unwrap();
        let path = cache.path(&item);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let err = cache.get(&item).unwrap_err().to_string();
        assert!(err.contains(".feat") && err.contains("damaged"), "{err}");
        assert_ne!(key_of(&["ab", "c"]), key_of(&["a", "bc"]));
        // No temporary files are left behind.
        let leftovers = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".tmp")
            });
        assert_eq!(leftovers.count(), 0);
    }
}
