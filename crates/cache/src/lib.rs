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

/// The shard (`0..shards`) that content with these bytes belongs to: the first eight bytes of
/// its SHA-256, modulo `shards`. Stable across machines and runs, and even over many inputs, so
/// the processes of a job array can each encode their share into one cache.
pub fn shard_of(bytes: &[u8], shards: usize) -> usize {
    shard_of_digest(&Sha256::digest(bytes).into(), shards)
}

/// The shard (`0..shards`) of content whose SHA-256 is `digest` (see [`shard_of`]).
pub fn shard_of_digest(digest: &[u8; 32], shards: usize) -> usize {
    let head = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
    (head % shards.max(1) as u64) as usize
}

/// What a cache folder holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    /// Namespaces (settings under which features were computed).
    pub namespaces: usize,
    /// Entries in all.
    pub entries: usize,
    /// Their size in bytes.
    pub bytes: u64,
    /// Temporary files of writers (a killed writer leaves one behind).
    pub temporaries: usize,
    /// Entries that do not read back (with `verify`; empty otherwise).
    pub damaged: Vec<PathBuf>,
}

/// Counts what is under `root` and, when `verify`, reads every entry back (header and length),
/// listing the damaged ones.
pub fn scan(root: &Path, verify: bool) -> Result<CacheStats> {
    let io = |p: &Path, e| CacheError::Io {
        path: p.to_path_buf(),
        source: e,
    };
    let mut stats = CacheStats::default();
    let sorted = |dir: &Path| -> Result<Vec<PathBuf>> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        paths.sort();
        Ok(paths)
    };
    if !root.exists() {
        return Ok(stats);
    }
    for namespace in sorted(root)?.into_iter().filter(|p| p.is_dir()) {
        stats.namespaces += 1;
        let cache = FeatureCache {
            dir: namespace.clone(),
            precision: Precision::F32,
        };
        for shard in sorted(&namespace)?.into_iter().filter(|p| p.is_dir()) {
            for file in sorted(&shard)? {
                let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
                let name = name.unwrap_or_default();
                if name.ends_with(".tmp") {
                    stats.temporaries += 1;
                    continue;
                }
                let Some(item) = name.strip_suffix(".feat") else {
                    continue;
                };
                stats.entries += 1;
                stats.bytes += file.metadata().map_err(|e| io(&file, e))?.len();
                if verify && cache.get(item).is_err() {
                    stats.damaged.push(file.clone());
                }
            }
        }
    }
    Ok(stats)
}

/// Removes the damaged entries `stats` lists and temporary files older than `stale` (a writer
/// killed midway left them), so the entries are computed again when next needed; returns how
/// many files went.
pub fn repair(root: &Path, stats: &CacheStats, stale: std::time::Duration) -> Result<usize> {
    let mut removed = 0;
    for file in &stats.damaged {
        std::fs::remove_file(file).map_err(|e| CacheError::Io {
            path: file.clone(),
            source: e,
        })?;
        removed += 1;
    }
    let walk = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default()
    };
    for namespace in walk(root) {
        for shard in walk(&namespace) {
            for file in walk(&shard) {
                let old = file
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age >= stale);
                if file.to_string_lossy().ends_with(".tmp") && old {
                    let _ = std::fs::remove_file(&file);
                    removed += 1;
                }
            }
        }
    }
    Ok(removed)
}

/// A name for a temporary file that no other process, here or on another machine sharing the
/// folder, uses at the same time: process id, host, time and a counter.
fn temporary_name(item: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let unique = key_of(&[
        &host,
        &std::process::id().to_string(),
        &nanos.to_string(),
        &COUNTER.fetch_add(1, Ordering::Relaxed).to_string(),
    ]);
    format!(".{item}.{}.tmp", &unique[..16])
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
        let tmp = dir.join(temporary_name(item));
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
    fn scan_counts_verify_finds_damage_and_repair_removes_it() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = FeatureCache::new(tmp.path(), &key_of(&["ns"]), Precision::F16);
        for i in 0..5 {
            cache
                .put(&key_of(&[&i.to_string()]), &[1.0, 2.0, 3.0])
                .unwrap();
        }
        let victim = cache.path(&key_of(&["3"]));
        std::fs::write(&victim, b"MPFC").unwrap();
        let stats = scan(tmp.path(), true).unwrap();
        assert_eq!((stats.namespaces, stats.entries), (1, 5));
        assert_eq!(stats.damaged, vec![victim.clone()]);
        assert_eq!(
            repair(tmp.path(), &stats, std::time::Duration::ZERO).unwrap(),
            1
        );
        let after = scan(tmp.path(), true).unwrap();
        assert_eq!((after.entries, after.damaged.len()), (4, 0));
        let shards: Vec<usize> = (0..300u32).map(|i| shard_of(&i.to_le_bytes(), 3)).collect();
        for s in 0..3 {
            let n = shards.iter().filter(|&&x| x == s).count();
            assert!((70..130).contains(&n), "shard {s}: {n} of 300");
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
