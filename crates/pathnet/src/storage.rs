//! Where a feature set keeps its maps: in memory, or in a file on disk read a batch at a time,
//! so that training, search and evaluation on more features than fit in memory run in memory
//! bounded by the batch, not by the data set.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use half::f16;
use half::slice::HalfFloatSliceExt;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How values are stored in a disk-backed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskPrecision {
    /// 2 bytes per value (what the feature cache stores by default): half the disk and reads.
    F16,
    /// 4 bytes per value: exactly what was pushed.
    F32,
}

impl DiskPrecision {
    fn bytes(self) -> usize {
        match self {
            DiskPrecision::F16 => 2,
            DiskPrecision::F32 => 4,
        }
    }
}

/// An unnamed file (it disappears when the last set using it is dropped, or the process ends,
/// even by a kill) holding rows of `row_len` values.
#[derive(Debug)]
pub(crate) struct SpillFile {
    file: File,
    precision: DiskPrecision,
    row_len: usize,
    /// Rows written so far (the next row goes after them).
    rows: std::sync::atomic::AtomicU64,
}

impl SpillFile {
    fn row_bytes(&self) -> usize {
        self.row_len * self.precision.bytes()
    }

    fn io(e: std::io::Error, what: &str) -> Error {
        Error::Shape(format!("feature spill file: {what}: {e}"))
    }

    fn write_row(&self, row: &[f32]) -> Result<u64> {
        let bytes = match self.precision {
            DiskPrecision::F32 => row
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>(),
            DiskPrecision::F16 => {
                let mut halves = vec![f16::ZERO; row.len()];
                halves.convert_from_f32_slice(row);
                halves.iter().flat_map(|v| v.to_le_bytes()).collect()
            }
        };
        let index = self.rows.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        write_at(&self.file, &bytes, index * self.row_bytes() as u64)
            .map_err(|e| Self::io(e, "writing a row"))?;
        Ok(index)
    }

    /// Appends physical row `index` to `out` as f32, using `bytes` as scratch.
    fn read_row(&self, index: u64, bytes: &mut Vec<u8>, out: &mut Vec<f32>) -> Result<()> {
        bytes.resize(self.row_bytes(), 0);
        read_at(&self.file, bytes, index * self.row_bytes() as u64)
            .map_err(|e| Self::io(e, "reading a row"))?;
        match self.precision {
            DiskPrecision::F32 => out.extend(
                bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            ),
            DiskPrecision::F16 => {
                let start = out.len();
                out.resize(start + self.row_len, 0.0);
                let halves: Vec<f16> = bytes
                    .chunks_exact(2)
                    .map(|c| f16::from_le_bytes([c[0], c[1]]))
                    .collect();
                halves.convert_to_f32_slice(&mut out[start..]);
            }
        }
        Ok(())
    }
}

#[cfg(unix)]
fn write_at(file: &File, bytes: &[u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
}

#[cfg(unix)]
fn read_at(file: &File, bytes: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, bytes, offset)
}

#[cfg(windows)]
fn write_at(file: &File, mut bytes: &[u8], mut offset: u64) -> std::io::Result<()> {
    while !bytes.is_empty() {
        let n = std::os::windows::fs::FileExt::seek_write(file, bytes, offset)?;
        bytes = &bytes[n..];
        offset += n as u64;
    }
    Ok(())
}

#[cfg(windows)]
fn read_at(file: &File, mut bytes: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    while !bytes.is_empty() {
        let n = std::os::windows::fs::FileExt::seek_read(file, bytes, offset)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        bytes = &mut bytes[n..];
        offset += n as u64;
    }
    Ok(())
}

/// The maps of a feature set, one row of `row_len` values per example.
#[derive(Debug, Clone)]
pub(crate) enum Rows {
    /// All rows in one vector.
    Memory(Vec<f32>),
    /// Rows in a file, shared by the sets selected from one another; `order[i]` is the file
    /// row of example `i`.
    Disk {
        file: Arc<SpillFile>,
        order: Vec<u64>,
    },
}

impl Rows {
    /// Rows in an unnamed file in `dir`.
    pub(crate) fn on_disk(dir: &Path, row_len: usize, precision: DiskPrecision) -> Result<Rows> {
        let file = tempfile::tempfile_in(dir).map_err(|e| Error::File {
            path: dir.to_path_buf(),
            reason: format!("cannot create a feature spill file here: {e}"),
        })?;
        Ok(Rows::Disk {
            file: Arc::new(SpillFile {
                file,
                precision,
                row_len,
                rows: 0.into(),
            }),
            order: Vec::new(),
        })
    }

    /// Whether the rows are on disk, and in what precision.
    pub(crate) fn disk_precision(&self) -> Option<DiskPrecision> {
        match self {
            Rows::Memory(_) => None,
            Rows::Disk { file, .. } => Some(file.precision),
        }
    }

    /// Appends one row.
    pub(crate) fn push(&mut self, row: &[f32]) -> Result<()> {
        match self {
            Rows::Memory(values) => values.extend_from_slice(row),
            Rows::Disk { file, order } => order.push(file.write_row(row)?),
        }
        Ok(())
    }

    /// Appends rows `indices` (each `row_len` long) to `out`.
    pub(crate) fn gather(
        &self,
        indices: &[usize],
        row_len: usize,
        out: &mut Vec<f32>,
    ) -> Result<()> {
        match self {
            Rows::Memory(values) => {
                for &i in indices {
                    out.extend_from_slice(&values[i * row_len..(i + 1) * row_len]);
                }
            }
            Rows::Disk { file, order } => {
                let mut scratch = Vec::new();
                for &i in indices {
                    file.read_row(order[i], &mut scratch, out)?;
                }
            }
        }
        Ok(())
    }

    /// The rows at `indices` as a new store (sharing the file for disk rows: nothing copied).
    pub(crate) fn select(&self, indices: &[usize], row_len: usize) -> Result<Rows> {
        Ok(match self {
            Rows::Memory(_) => {
                let mut values = Vec::with_capacity(indices.len() * row_len);
                self.gather(indices, row_len, &mut values)?;
                Rows::Memory(values)
            }
            Rows::Disk { file, order } => Rows::Disk {
                file: Arc::clone(file),
                order: indices.iter().map(|&i| order[i]).collect(),
            },
        })
    }

    /// Appends the `count` rows of `other`.
    pub(crate) fn extend(&mut self, other: &Rows, count: usize, row_len: usize) -> Result<()> {
        match (&mut *self, other) {
            (
                Rows::Disk { file, order },
                Rows::Disk {
                    file: theirs,
                    order: rows,
                },
            ) if Arc::ptr_eq(file, theirs) => {
                order.extend_from_slice(rows);
            }
            _ => {
                let mut row = Vec::with_capacity(row_len);
                for i in 0..count {
                    row.clear();
                    other.gather(&[i], row_len, &mut row)?;
                    self.push(&row)?;
                }
            }
        }
        Ok(())
    }

    /// Applies `f` to every row. Changed disk rows are appended to the file and the set points
    /// at them, so sets sharing the old rows are unchanged.
    pub(crate) fn map(&mut self, row_len: usize, f: &mut dyn FnMut(&mut [f32])) -> Result<()> {
        match self {
            Rows::Memory(values) => values.chunks_exact_mut(row_len).for_each(f),
            Rows::Disk { file, order } => {
                let mut row = Vec::with_capacity(row_len);
                let mut scratch = Vec::new();
                for slot in order.iter_mut() {
                    row.clear();
                    file.read_row(*slot, &mut scratch, &mut row)?;
                    f(&mut row);
                    *slot = file.write_row(&row)?;
                }
            }
        }
        Ok(())
    }
}
