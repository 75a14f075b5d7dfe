//! DICOM images through the dicom-rs crates (`dicom-object` reads the file, `dicom-pixeldata`
//! decodes the pixel data in pure Rust: native little/big endian, deflated, RLE Lossless, JPEG
//! baseline, extended and lossless). The display pipeline is the standard's: modality LUT
//! (Rescale Slope and Intercept), VOI LUT (the first window, or the VOI LUT sequence; without
//! either, the whole stored range for 8 bits or fewer, so an 8-bit picture shows as it is, and
//! the range of values present for more bits, as viewers do: a 16-bit CT slice without a window
//! uses a few hundred of the 65,536 levels, and over the whole range it would show as flat gray),
//! MONOCHROME1 inverted, then 8 bits per sample. Only the first
//! frame of a multi-frame object is used (the image's [`DicomInfo::frames`] says how many there
//! were, so callers can warn).

use std::path::Path;

use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, OpenFileOptions};
use dicom_pixeldata::{ConvertOptions, ModalityLutOption, PixelDecoder, VoiLutOption, WindowLevel};
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::pixels::RgbImage;

/// What a DICOM file says about its image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DicomInfo {
    /// Modality (0008,0060), e.g. `CR`, `DX`, `CT`.
    pub modality: Option<String>,
    /// Body Part Examined (0018,0015).
    pub body_part: Option<String>,
    /// Photometric Interpretation (0028,0004).
    pub photometric: String,
    /// Bits Stored (0028,0101).
    pub bits_stored: u16,
    /// Patient ID (0010,0020), used to keep a patient's images on one side of a split.
    pub patient_id: Option<String>,
    /// Frames in the object (only the first is used).
    pub frames: u32,
    /// The transfer syntax UID.
    pub transfer_syntax: String,
}

/// Whether `bytes` (the start of a file) are a DICOM Part 10 file: 128 bytes of preamble, then
/// `DICM`.
pub fn is_dicom(bytes: &[u8]) -> bool {
    bytes.len() >= 132 && &bytes[128..132] == b"DICM"
}

/// Whether the file at `path` is a DICOM Part 10 file, judged by its content.
pub fn is_dicom_file(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 132];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| is_dicom(&head))
}

fn text(object: &DefaultDicomObject, tag: dicom_object::Tag) -> Option<String> {
    object
        .element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim().trim_end_matches('\0').to_string())
        .filter(|s| !s.is_empty())
}

fn number(object: &DefaultDicomObject, tag: dicom_object::Tag) -> Option<f64> {
    object
        .element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_float64().ok())
}

/// The header of a DICOM file (without decoding its pixels).
pub fn read_info(path: &Path) -> Result<DicomInfo> {
    guarded(path, || {
        let object = open(path, true)?;
        Ok(info_of(&object))
    })
}

thread_local! {
    static DECODING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread is inside the DICOM reader: a panic hook can stay quiet then, because
/// [`guarded`] turns the panic into an error that names the file.
pub fn decoding_in_progress() -> bool {
    DECODING.with(std::cell::Cell::get)
}

/// Runs `work` (which calls into dicom-rs) so that a panic inside it becomes an error naming the
/// file. Fuzzing found one: RLE Lossless pixel data whose segments claim more bytes than they
/// hold makes dicom-transfer-syntax-registry 0.10.1 index out of bounds.
fn guarded<T>(path: &Path, work: impl FnOnce() -> Result<T>) -> Result<T> {
    let was = DECODING.with(|d| d.replace(true));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
    DECODING.with(|d| d.set(was));
    outcome.unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "no message".into());
        Err(DataError::Decode {
            path: path.to_path_buf(),
            message: format!("DICOM: the decoder failed on corrupt data ({what})"),
        })
    })
}

fn open(path: &Path, header_only: bool) -> Result<DefaultDicomObject> {
    let options = OpenFileOptions::new();
    let options = if header_only {
        options.read_until(tags::PIXEL_DATA)
    } else {
        options
    };
    options.open_file(path).map_err(|e| DataError::Decode {
        path: path.to_path_buf(),
        message: format!("DICOM: {e}"),
    })
}

fn info_of(object: &DefaultDicomObject) -> DicomInfo {
    DicomInfo {
        modality: text(object, tags::MODALITY),
        body_part: text(object, tags::BODY_PART_EXAMINED),
        photometric: text(object, tags::PHOTOMETRIC_INTERPRETATION).unwrap_or_default(),
        bits_stored: number(object, tags::BITS_STORED).unwrap_or(8.0) as u16,
        patient_id: text(object, tags::PATIENT_ID),
        frames: number(object, tags::NUMBER_OF_FRAMES).map_or(1, |n| n.max(1.0) as u32),
        transfer_syntax: object
            .meta()
            .transfer_syntax()
            .trim_end_matches('\0')
            .to_string(),
    }
}

/// The window that shows the whole stored range (after the modality LUT): used when the file
/// has neither a window nor a VOI LUT.
fn stored_range_window(object: &DefaultDicomObject, info: &DicomInfo) -> WindowLevel {
    let signed = number(object, tags::PIXEL_REPRESENTATION).unwrap_or(0.0) == 1.0;
    let bits = i32::from(info.bits_stored.clamp(1, 32));
    let (lo, hi) = if signed {
        (-(2f64.powi(bits - 1)), 2f64.powi(bits - 1) - 1.0)
    } else {
        (0.0, 2f64.powi(bits) - 1.0)
    };
    let slope = number(object, tags::RESCALE_SLOPE).unwrap_or(1.0);
    let intercept = number(object, tags::RESCALE_INTERCEPT).unwrap_or(0.0);
    let (a, b) = (slope * lo + intercept, slope * hi + intercept);
    let (lo, hi) = (a.min(b), a.max(b));
    WindowLevel {
        center: (lo + hi + 1.0) / 2.0,
        width: hi - lo + 1.0,
    }
}

/// Decodes the first frame of a DICOM file to 8-bit RGB (gray repeated), through the display
/// pipeline, with the file's header. Corrupt data is an error, never a panic.
pub fn load_dicom(path: &Path) -> Result<(RgbImage, DicomInfo)> {
    guarded(path, || decode_first_frame(path))
}

fn decode_first_frame(path: &Path) -> Result<(RgbImage, DicomInfo)> {
    let object = open(path, false)?;
    let info = info_of(&object);
    let error = |message: String| DataError::Decode {
        path: path.to_path_buf(),
        message,
    };
    let has_voi = object
        .element_opt(tags::WINDOW_CENTER)
        .ok()
        .flatten()
        .is_some()
        || object
            .element_opt(tags::VOILUT_SEQUENCE)
            .ok()
            .flatten()
            .is_some();
    let decoded = object.decode_pixel_data_frame(0).map_err(|e| {
        let syntax = dicom_transfer_syntax_name(&info.transfer_syntax);
        error(format!(
            "DICOM pixel data (transfer syntax {} {syntax}) cannot be decoded: {e}",
            info.transfer_syntax
        ))
    })?;
    let voi = if has_voi {
        VoiLutOption::First
    } else if info.bits_stored > 8 {
        VoiLutOption::Normalize
    } else {
        VoiLutOption::Custom(stored_range_window(&object, &info))
    };
    let options = ConvertOptions::new()
        .with_modality_lut(ModalityLutOption::Default)
        .with_voi_lut(voi)
        .force_8bit();
    let image = decoded
        .to_dynamic_image_with_options(0, &options)
        .map_err(|e| error(format!("DICOM pixel data cannot be shown: {e}")))?
        .to_rgb8();
    let (width, height) = (image.width() as usize, image.height() as usize);
    Ok((
        RgbImage {
            width,
            height,
            pixels: image.into_raw().into_iter().map(f32::from).collect(),
        },
        info,
    ))
}

/// A readable name for the transfer syntaxes one meets, for error messages.
fn dicom_transfer_syntax_name(uid: &str) -> &'static str {
    match uid {
        "1.2.840.10008.1.2" => "(implicit VR little endian)",
        "1.2.840.10008.1.2.1" => "(explicit VR little endian)",
        "1.2.840.10008.1.2.1.99" => "(deflated explicit VR little endian)",
        "1.2.840.10008.1.2.2" => "(explicit VR big endian)",
        "1.2.840.10008.1.2.5" => "(RLE lossless)",
        "1.2.840.10008.1.2.4.50" => "(JPEG baseline)",
        "1.2.840.10008.1.2.4.51" => "(JPEG extended)",
        "1.2.840.10008.1.2.4.57" | "1.2.840.10008.1.2.4.70" => "(JPEG lossless)",
        "1.2.840.10008.1.2.4.80" | "1.2.840.10008.1.2.4.81" => "(JPEG-LS)",
        "1.2.840.10008.1.2.4.90" | "1.2.840.10008.1.2.4.91" => "(JPEG 2000)",
        _ => "",
    }
}
