//! DICOM input: the same X-ray as PNG and as DICOM in each encoding decodes to the same gray
//! levels (within 1), headers are read, and damaged or unsupported files are clear errors.
//! Fixtures: `tests/fixtures/dicom/make_dicom_fixtures.py`.

use std::path::{Path, PathBuf};

use medpath_data::{ImageDataset, load_rgb};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/dicom")
        .join(name)
}

/// Largest difference between two decoded pictures of the same size, and the share of
/// samples that differ by more than one gray level.
fn differences(a: &Path, b: &Path) -> (f32, f64) {
    let (x, _) = load_rgb(a).unwrap_or_else(|e| panic!("{e}"));
    let (y, _) = load_rgb(b).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((x.width, x.height), (y.width, y.height), "{}", a.display());
    let d: Vec<f32> = x
        .pixels
        .iter()
        .zip(&y.pixels)
        .map(|(p, q)| (p - q).abs())
        .collect();
    let over = d.iter().filter(|&&v| v > 1.0).count() as f64 / d.len() as f64;
    (d.iter().copied().fold(0.0, f32::max), over)
}

fn max_difference(a: &Path, b: &Path) -> f32 {
    differences(a, b).0
}

#[test]
fn every_encoding_decodes_to_the_png_within_one_gray_level() {
    for name in ["normal", "pneumonia"] {
        let png = fixture(&format!("{name}.png"));
        for variant in [
            "mono2_8.dcm",
            "noext",
            "implicit.dcm",
            "bigendian.dcm",
            "deflated.dcm",
            "rle.dcm",
            "mono1_12.dcm",
            "rescale_16.dcm",
            "two_frames.dcm",
            "rgb.dcm",
        ] {
            let dicom = fixture(&format!("{name}_{variant}"));
            let d = max_difference(&dicom, &png);
            assert!(d <= 1.0, "{name}_{variant}: differs by {d} gray levels");
        }
        // More than 8 bits without a window: shown over the range of values present.
        let d = max_difference(
            &fixture(&format!("{name}_nowindow_16.dcm")),
            &fixture(&format!("{name}_nowindow_expected.png")),
        );
        assert!(
            d <= 1.0,
            "{name}_nowindow_16.dcm: differs by {d} gray levels"
        );
        // JPEG baseline is lossy: its reference is what another decoder (libjpeg, through
        // Pillow) makes of the same stream. Decoders may round the inverse DCT differently, so a
        // few samples may differ by 2.
        let (d, over) = differences(
            &fixture(&format!("{name}_jpeg.dcm")),
            &fixture(&format!("{name}_jpeg_expected.png")),
        );
        assert!(
            d <= 2.0 && over < 0.001,
            "{name}_jpeg.dcm: up to {d} gray levels, {:.3} % over 1",
            100.0 * over
        );
    }
}

#[test]
fn headers_are_read() {
    let (_, info) = load_rgb(&fixture("normal_two_frames.dcm")).unwrap();
    let dicom = info.dicom.expect("a DICOM header");
    assert_eq!(dicom.frames, 2);
    assert_eq!(dicom.patient_id.as_deref(), Some("PATIENT-N1"));
    assert_eq!(dicom.modality.as_deref(), Some("CR"));
    assert_eq!(dicom.body_part.as_deref(), Some("CHEST"));
    assert_eq!(info.channels, 1);
    let (_, info) = load_rgb(&fixture("pneumonia_mono1_12.dcm")).unwrap();
    let dicom = info.dicom.unwrap();
    assert_eq!(
        (dicom.photometric.as_str(), dicom.bits_stored),
        ("MONOCHROME1", 12)
    );
    let (_, png) = load_rgb(&fixture("normal.png")).unwrap();
    assert!(png.dicom.is_none());
}

#[test]
fn damaged_and_unsupported_files_are_clear_errors() {
    let err = load_rgb(&fixture("normal_truncated.dcm"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("normal_truncated.dcm"), "{err}");
    let err = load_rgb(&fixture("normal_jpeg2000.dcm"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("normal_jpeg2000.dcm") && err.contains("1.2.840.10008.1.2.4.90"),
        "{err}"
    );
    // Found by fuzzing: RLE segments that claim more bytes than they hold make the decoder
    // crate index out of bounds; the panic becomes an error naming the file.
    let err = load_rgb(&fixture("corrupt_rle_fuzz.dcm"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("corrupt_rle_fuzz.dcm") && err.contains("DICOM"),
        "{err}"
    );
    let err = load_rgb(&fixture("truncated.jpeg"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("truncated.jpeg") && err.contains("truncated: 1500 bytes"),
        "{err}"
    );
}

#[test]
fn folders_of_dicom_files_split_by_patient_id() {
    let tmp = tempfile::tempdir().unwrap();
    for (class, name) in [("NORMAL", "normal"), ("PNEUMONIA", "pneumonia")] {
        let dir = tmp.path().join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, variant) in ["mono2_8.dcm", "rle.dcm", "noext"].iter().enumerate() {
            std::fs::copy(
                fixture(&format!("{name}_{variant}")),
                dir.join(format!("image{i}{}", if i == 2 { "" } else { ".dcm" })),
            )
            .unwrap();
        }
    }
    let set = ImageDataset::scan(tmp.path()).unwrap();
    assert_eq!(set.entries.len(), 6, "{:?}", set.warnings);
    let mut patients: Vec<&str> = set.entries.iter().map(|e| e.patient.as_str()).collect();
    patients.dedup();
    assert_eq!(patients, vec!["PATIENT-N1", "PATIENT-P1"]);
}
