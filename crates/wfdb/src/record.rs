//! A whole record: its header and the samples of every signal, read from or written to disk.

use std::path::{Path, PathBuf};

use crate::annotation::{Annotation, read_annotations, write_annotations};
use crate::error::{Result, WfdbError};
use crate::format::SampleFormat;
use crate::header::Header;

/// Where a record lives: its folder and its name (`dir/100` for `dir/100.hea`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPath {
    /// The folder holding the record's files.
    pub dir: PathBuf,
    /// The record name, the header's file stem.
    pub name: String,
}

impl RecordPath {
    /// Interprets `dir/100`, `dir/100.hea`, `dir/100.dat` or `dir/100.atr` as record `100` in `dir`.
    pub fn new(path: &Path) -> RecordPath {
        let known_ext = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("hea" | "dat" | "atr")
        );
        let name_os = if known_ext {
            path.file_stem()
        } else {
            path.file_name()
        };
        RecordPath {
            dir: path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(".")),
            name: name_os
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }
    }

    /// The path of the record's file with extension `ext` (`hea`, `atr`, ...).
    pub fn file(&self, ext: &str) -> PathBuf {
        self.dir.join(format!("{}.{ext}", self.name))
    }

    /// Every record in `dir` (each `.hea` file), sorted by name.
    pub fn list_dir(dir: &Path) -> Result<Vec<RecordPath>> {
        let entries = std::fs::read_dir(dir).map_err(|e| WfdbError::io(dir, e))?;
        let mut records = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| WfdbError::io(dir, e))?.path();
            if path.extension().is_some_and(|e| e == "hea") {
                records.push(RecordPath::new(&path));
            }
        }
        records.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(records)
    }
}

/// The result of comparing a signal's samples with the checksum its header states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChecksumCheck {
    /// The checksum in the header, if any.
    pub expected: Option<i16>,
    /// The 16-bit sum of the samples read.
    pub actual: i16,
}

impl ChecksumCheck {
    /// True when the header has no checksum or it matches.
    pub fn ok(&self) -> bool {
        self.expected.is_none_or(|e| e == self.actual)
    }
}

/// A record read into memory: header plus one sample vector per signal (ADC units).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Where the record was read from or will be written to.
    pub path: RecordPath,
    /// The parsed header.
    pub header: Header,
    /// Samples of each signal, in header order.
    pub signals: Vec<Vec<i32>>,
}

/// The 16-bit signed checksum WFDB stores for a signal.
pub fn checksum(samples: &[i32]) -> i16 {
    samples
        .iter()
        .fold(0i16, |acc, &s| acc.wrapping_add(s as i16))
}

impl Record {
    /// Reads the header and every signal of the record at `path` (see [`RecordPath::new`]).
    pub fn read(path: &Path) -> Result<Record> {
        let path = RecordPath::new(path);
        let header_path = path.file("hea");
        let header = Header::read(&header_path)?;
        let mut signals = vec![Vec::new(); header.signals.len()];
        for (file, members) in header.file_groups() {
            let decoded = read_signal_file(&header, &header_path, &file, &members)?;
            for (member, samples) in members.into_iter().zip(decoded) {
                signals[member] = samples;
            }
        }
        Ok(Record {
            path,
            header,
            signals,
        })
    }

    /// Reads the record's annotations from the annotator file `ext` (usually `atr`).
    pub fn read_annotations(&self, ext: &str) -> Result<Vec<Annotation>> {
        read_annotations(&self.path.file(ext))
    }

    /// Samples per signal.
    pub fn n_samples(&self) -> usize {
        self.signals.first().map_or(0, Vec::len)
    }

    /// Sampling frequency in Hz.
    pub fn fs(&self) -> f64 {
        self.header.record.fs
    }

    /// Signal descriptions (lead names) in header order.
    pub fn signal_names(&self) -> Vec<String> {
        self.header
            .signals
            .iter()
            .map(|s| s.description.clone())
            .collect()
    }

    /// Each signal's samples compared with the checksum in the header.
    pub fn checksums(&self) -> Vec<ChecksumCheck> {
        self.header
            .signals
            .iter()
            .zip(&self.signals)
            .map(|(spec, samples)| ChecksumCheck {
                expected: spec.checksum,
                actual: checksum(samples),
            })
            .collect()
    }

    /// Signal `index` in physical units: `(sample - baseline) / gain`.
    pub fn physical(&self, index: usize) -> Vec<f32> {
        let spec = &self.header.signals[index];
        let (baseline, gain) = (spec.baseline as f64, spec.gain);
        self.signals[index]
            .iter()
            .map(|&s| ((s as f64 - baseline) / gain) as f32)
            .collect()
    }

    /// Writes the header and signal files to `self.path`, filling in the number of samples, each
    /// signal's initial value and checksum. Fails when a value does not fit its format.
    pub fn write(&mut self) -> Result<()> {
        let header_path = self.path.file("hea");
        std::fs::create_dir_all(&self.path.dir).map_err(|e| WfdbError::io(&self.path.dir, e))?;
        let n = self.n_samples();
        if let Some((i, s)) = self.signals.iter().enumerate().find(|(_, s)| s.len() != n) {
            return Err(WfdbError::Write {
                path: header_path,
                message: format!("signal {i} has {} samples, signal 0 has {n}", s.len()),
            });
        }
        self.header.record.n_samples = Some(n as u64);
        self.header.record.n_signals = self.signals.len();
        for (spec, samples) in self.header.signals.iter_mut().zip(&self.signals) {
            spec.initial_value = samples.first().copied().unwrap_or(0);
            spec.checksum = Some(checksum(samples));
        }
        for (file, members) in self.header.file_groups() {
            let path = self.path.dir.join(&file);
            let format = group_format(&self.header, &path, &members)?;
            let (lo, hi) = format.value_range();
            let mut interleaved = Vec::with_capacity(n * members.len());
            for t in 0..n {
                for &m in &members {
                    let v = self.signals[m][t];
                    if !(lo..=hi).contains(&v) {
                        return Err(WfdbError::Write {
                            path,
                            message: format!(
                                "signal {m} sample {t} is {v}, outside {lo}..={hi} of format {}",
                                self.header.signals[m].format
                            ),
                        });
                    }
                    interleaved.push(v);
                }
            }
            std::fs::write(&path, format.encode(&interleaved))
                .map_err(|e| WfdbError::io(&path, e))?;
        }
        self.header.write(&header_path)
    }

    /// Writes annotations next to the record, as `<name>.<ext>`.
    pub fn write_annotations(&self, ext: &str, annotations: &[Annotation]) -> Result<()> {
        write_annotations(&self.path.file(ext), annotations)
    }
}

/// The single storage format of the signals in one file; header checks included.
fn group_format(header: &Header, path: &Path, members: &[usize]) -> Result<SampleFormat> {
    let first = &header.signals[members[0]];
    for &m in members {
        let spec = &header.signals[m];
        if spec.format != first.format {
            return Err(WfdbError::Unsupported {
                path: path.to_path_buf(),
                what: format!(
                    "signals in one file with different formats ({} and {})",
                    first.format, spec.format
                ),
            });
        }
        if spec.samples_per_frame != 1 || spec.skew != 0 || spec.block_size != 0 {
            return Err(WfdbError::Unsupported {
                path: path.to_path_buf(),
                what: format!(
                    "signal {m}: samples per frame {}, skew {}, block size {} (only 1, 0, 0)",
                    spec.samples_per_frame, spec.skew, spec.block_size
                ),
            });
        }
    }
    SampleFormat::from_code(first.format).ok_or_else(|| WfdbError::UnsupportedFormat {
        path: path.to_path_buf(),
        format: first.format,
    })
}

/// Reads one signal file and returns the samples of each of its member signals.
fn read_signal_file(
    header: &Header,
    header_path: &Path,
    file: &str,
    members: &[usize],
) -> Result<Vec<Vec<i32>>> {
    let path = Header::sibling(header_path, file);
    let format = group_format(header, header_path, members)?;
    let bytes = std::fs::read(&path).map_err(|e| WfdbError::io(&path, e))?;
    let offset = header.signals[members[0]].byte_offset;
    let data = bytes.get(offset as usize..).unwrap_or(&[]);
    let width = members.len() as u64;
    let n_per_signal = header
        .record
        .n_samples
        .unwrap_or_else(|| format.samples_in(data.len() as u64) / width);
    let total = n_per_signal * width;
    let expected = format.bytes_for(total);
    if (data.len() as u64) < expected {
        return Err(WfdbError::Truncated {
            path,
            samples: n_per_signal,
            expected: expected + offset,
            found: bytes.len() as u64,
        });
    }
    let interleaved = format.decode(data, total as usize);
    let mut out = vec![Vec::with_capacity(n_per_signal as usize); members.len()];
    for frame in interleaved.chunks_exact(members.len()) {
        for (signal, &v) in out.iter_mut().zip(frame) {
            signal.push(v);
        }
    }
    Ok(out)
}
