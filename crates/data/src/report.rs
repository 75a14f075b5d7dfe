//! What `medpath data inspect` shows: layout, classes, counts per split and class, patients,
//! duplicate groups, image sizes and unreadable files.

use std::collections::{BTreeMap, BTreeSet};

use medpath_split::Role;
use serde::Serialize;

use crate::dicom::DicomInfo;
use crate::folder::{ImageDataset, Layout};
use crate::image::load_rgb;
use crate::splits::ContentHash;
use crate::splits::{SplitAssignment, duplicate_groups};

/// Smallest, median and largest of a list of pixel sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SizeRange {
    /// Smallest.
    pub min: usize,
    /// Median.
    pub median: usize,
    /// Largest.
    pub max: usize,
}

impl SizeRange {
    fn of(mut values: Vec<usize>) -> Option<SizeRange> {
        values.sort_unstable();
        Some(SizeRange {
            min: *values.first()?,
            median: values[values.len() / 2],
            max: *values.last()?,
        })
    }
}

/// Counts of one part of the split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartCounts {
    /// Images per class, in class order.
    pub per_class: BTreeMap<String, usize>,
    /// Distinct patient ids.
    pub patients: usize,
}

/// A data set summary, ready to print or serialise as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetReport {
    /// The folder.
    pub root: String,
    /// Its layout.
    pub layout: Layout,
    /// Class names, sorted.
    pub classes: Vec<String>,
    /// Images per class in the folders as given (per given split for the Kermany layout;
    /// `all` for an ImageFolder).
    pub given: BTreeMap<String, BTreeMap<String, usize>>,
    /// Counts per part of the patient-aware split medpath uses.
    pub split: BTreeMap<String, PartCounts>,
    /// What the split decided and why.
    pub split_notes: Vec<String>,
    /// Distinct patient ids.
    pub patients: usize,
    /// Groups of byte-identical files (paths relative to the root).
    pub duplicate_groups: Vec<Vec<String>>,
    /// Patient or duplicate groups on two sides of the split (should be empty).
    pub straddling_groups: usize,
    /// Width range of the readable images.
    pub width: Option<SizeRange>,
    /// Height range of the readable images.
    pub height: Option<SizeRange>,
    /// Readable images by channels stored in the file (`1`, `3`, ...).
    pub channels: BTreeMap<u8, usize>,
    /// DICOM files by what their headers say: `modality`, `body part`, `photometric`,
    /// `bits stored` and `frames`, each a count per value (empty without DICOM files).
    pub dicom: BTreeMap<String, BTreeMap<String, usize>>,
    /// Files that could not be decoded, with the reason; they are skipped everywhere.
    pub unreadable: Vec<String>,
    /// Warnings from scanning the folders.
    pub warnings: Vec<String>,
}

/// What decoding every image of a data set found: sizes, channel counts, DICOM header values
/// and the files that did not decode.
#[derive(Default)]
struct Decoded {
    widths: Vec<usize>,
    heights: Vec<usize>,
    channels: BTreeMap<u8, usize>,
    unreadable: Vec<String>,
    dicom: BTreeMap<String, BTreeMap<String, usize>>,
}

impl Decoded {
    /// Decodes every image of `dataset`, calling `progress` after each.
    fn scan(dataset: &ImageDataset, progress: &mut dyn FnMut(usize)) -> Decoded {
        let mut out = Decoded::default();
        for (i, entry) in dataset.entries.iter().enumerate() {
            match load_rgb(&entry.path) {
                Ok((_, info)) => {
                    out.widths.push(info.width);
                    out.heights.push(info.height);
                    *out.channels.entry(info.channels).or_default() += 1;
                    if let Some(d) = &info.dicom {
                        out.count_dicom(d);
                    }
                }
                Err(e) => out.unreadable.push(e.to_string()),
            }
            progress(i + 1);
        }
        out
    }

    /// Counts one DICOM file's header values.
    fn count_dicom(&mut self, d: &DicomInfo) {
        let unknown = || "(none)".to_string();
        for (key, value) in [
            ("modality", d.modality.clone().unwrap_or_else(unknown)),
            ("body part", d.body_part.clone().unwrap_or_else(unknown)),
            ("photometric", d.photometric.clone()),
            ("bits stored", d.bits_stored.to_string()),
            ("frames", d.frames.to_string()),
        ] {
            *self
                .dicom
                .entry(key.to_string())
                .or_default()
                .entry(value)
                .or_default() += 1;
        }
    }
}

impl DatasetReport {
    /// Builds the report. Every image is decoded, so corrupt files show up here; `progress` is
    /// called after each image.
    pub fn build(
        dataset: &ImageDataset,
        hashes: &[ContentHash],
        split: &SplitAssignment,
        progress: &mut dyn FnMut(usize),
    ) -> DatasetReport {
        let relative = |i: usize| {
            let p = &dataset.entries[i].path;
            p.strip_prefix(&dataset.root)
                .unwrap_or(p)
                .display()
                .to_string()
        };
        let mut given: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        let mut parts: BTreeMap<String, (BTreeMap<String, usize>, BTreeSet<&str>)> =
            BTreeMap::new();
        for (entry, role) in dataset.entries.iter().zip(&split.roles) {
            let class = dataset.classes[entry.class].clone();
            let given_name = entry.given_split.map_or("all", Role::as_str).to_string();
            *given
                .entry(given_name)
                .or_default()
                .entry(class.clone())
                .or_default() += 1;
            let part = parts.entry(role.as_str().to_string()).or_default();
            *part.0.entry(class).or_default() += 1;
            part.1.insert(&entry.patient);
        }
        let decoded = Decoded::scan(dataset, progress);
        let Decoded {
            widths,
            heights,
            channels,
            unreadable,
            dicom,
        } = decoded;
        let mut warnings = dataset.warnings.clone();
        let multi_frame: usize = dicom.get("frames").map_or(0, |f| {
            f.iter().filter(|(k, _)| *k != "1").map(|(_, n)| n).sum()
        });
        if multi_frame > 0 {
            warnings.push(format!(
                "{multi_frame} multi-frame DICOM files: only their first frame is used"
            ));
        }
        let patients: BTreeSet<&str> = dataset.entries.iter().map(|e| e.patient.as_str()).collect();
        DatasetReport {
            root: dataset.root.display().to_string(),
            layout: dataset.layout,
            classes: dataset.classes.clone(),
            given,
            split: parts
                .into_iter()
                .map(|(k, (per_class, p))| {
                    (
                        k,
                        PartCounts {
                            per_class,
                            patients: p.len(),
                        },
                    )
                })
                .collect(),
            split_notes: split.notes.clone(),
            patients: patients.len(),
            duplicate_groups: duplicate_groups(hashes)
                .into_iter()
                .map(|g| g.into_iter().map(relative).collect())
                .collect(),
            straddling_groups: split.straddling_groups.len(),
            width: SizeRange::of(widths),
            height: SizeRange::of(heights),
            channels,
            dicom,
            unreadable,
            warnings,
        }
    }

    /// A readable multi-line summary.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{} ({})\nclasses: {}\n",
            self.root,
            self.layout.describe(),
            self.classes.join(", ")
        );
        for (split, counts) in &self.given {
            let parts: Vec<String> = counts.iter().map(|(c, n)| format!("{c} {n}")).collect();
            out += &format!("  given {split:<5}: {}\n", parts.join(", "));
        }
        out += &format!("patients: {}\n", self.patients);
        out += "patient-aware split used by medpath:\n";
        for (part, counts) in &self.split {
            let parts: Vec<String> = counts
                .per_class
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect();
            out += &format!(
                "  {part:<5}: {} ({} patients)\n",
                parts.join(", "),
                counts.patients
            );
        }
        for note in &self.split_notes {
            out += &format!("  note: {note}\n");
        }
        out += &format!(
            "duplicate groups (byte-identical files): {} ({} files); groups straddling the split: {}\n",
            self.duplicate_groups.len(),
            self.duplicate_groups.iter().map(Vec::len).sum::<usize>(),
            self.straddling_groups
        );
        if let (Some(w), Some(h)) = (self.width, self.height) {
            out += &format!(
                "image sizes: width {}..{} (median {}), height {}..{} (median {})\n",
                w.min, w.max, w.median, h.min, h.max, h.median
            );
        }
        let ch: Vec<String> = self
            .channels
            .iter()
            .map(|(c, n)| format!("{n} with {c} channel(s)"))
            .collect();
        out += &format!("channels: {}\n", ch.join(", "));
        for (key, counts) in &self.dicom {
            let values: Vec<String> = counts.iter().map(|(v, n)| format!("{v} {n}")).collect();
            out += &format!("DICOM {key}: {}\n", values.join(", "));
        }
        out += &format!("unreadable files (skipped): {}\n", self.unreadable.len());
        for u in &self.unreadable {
            out += &format!("  {u}\n");
        }
        for w in &self.warnings {
            out += &format!("warning: {w}\n");
        }
        out
    }
}
