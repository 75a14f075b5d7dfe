//! WFDB header files (`.hea`): the record line, one line per signal, and comments.
//!
//! Follows PhysioNet's header(5): `name nsig [fs[/counterfreq[(base)]] [nsamp [time [date]]]]` and
//! `file format[xspf][:skew][+offset] [gain[(baseline)][/units] [adcres [adczero [initval
//! [checksum [blocksize [description]]]]]]]`. Missing fields take the documented defaults.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Result, WfdbError};

/// Sampling frequency assumed when the record line gives none.
pub const DEFAULT_FS: f64 = 250.0;
/// Gain (ADC units per physical unit) assumed when a signal line gives none or zero.
pub const DEFAULT_GAIN: f64 = 200.0;

/// The first non-comment line of a header.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordLine {
    /// Record name, e.g. `100`.
    pub name: String,
    /// Number of signals.
    pub n_signals: usize,
    /// Sampling frequency in Hz.
    pub fs: f64,
    /// Counter frequency, if given.
    pub counter_freq: Option<f64>,
    /// Base counter value, if given.
    pub base_counter: Option<f64>,
    /// Samples per signal; `None` when the header leaves it out (then the file size decides).
    pub n_samples: Option<u64>,
    /// Base time `HH:MM:SS`, verbatim.
    pub base_time: Option<String>,
    /// Base date `DD/MM/YYYY`, verbatim.
    pub base_date: Option<String>,
}

/// One signal line of a header, with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalSpec {
    /// Signal file name, relative to the header's folder.
    pub file: String,
    /// Storage format code (212, 16, 80, ...).
    pub format: u16,
    /// Samples per frame (1 for ordinary records).
    pub samples_per_frame: u32,
    /// Skew in frames.
    pub skew: u32,
    /// Bytes to skip at the start of the signal file.
    pub byte_offset: u64,
    /// ADC units per physical unit.
    pub gain: f64,
    /// ADC value that corresponds to zero physical units.
    pub baseline: i32,
    /// Physical units, `mV` by default.
    pub units: String,
    /// ADC resolution in bits.
    pub adc_resolution: u32,
    /// ADC value at the middle of the converter's range.
    pub adc_zero: i32,
    /// Value of the first sample.
    pub initial_value: i32,
    /// 16-bit signed sum of all samples, if the header states one.
    pub checksum: Option<i16>,
    /// Block size in bytes (0 for ordinary files).
    pub block_size: u32,
    /// Signal description, e.g. the lead name `MLII`.
    pub description: String,
}

impl SignalSpec {
    /// A signal line for `file` in `format` with the usual defaults, for writers.
    pub fn new(
        file: impl Into<String>,
        format: u16,
        gain: f64,
        description: impl Into<String>,
    ) -> Self {
        SignalSpec {
            file: file.into(),
            format,
            samples_per_frame: 1,
            skew: 0,
            byte_offset: 0,
            gain,
            baseline: 0,
            units: "mV".to_string(),
            adc_resolution: default_adc_resolution(format),
            adc_zero: 0,
            initial_value: 0,
            checksum: None,
            block_size: 0,
            description: description.into(),
        }
    }
}

/// A parsed header.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// The record line.
    pub record: RecordLine,
    /// One entry per signal, in header order.
    pub signals: Vec<SignalSpec>,
    /// Comment lines without their leading `#`.
    pub comments: Vec<String>,
}

/// ADC resolution WFDB assumes for a format when the header gives none.
pub fn default_adc_resolution(format: u16) -> u32 {
    match format {
        80 | 8 => 8,
        212 => 12,
        310 | 311 => 10,
        _ => 16,
    }
}

impl Header {
    /// Reads and parses a header file.
    pub fn read(path: &Path) -> Result<Header> {
        let bytes = std::fs::read(path).map_err(|e| WfdbError::io(path, e))?;
        let text = String::from_utf8_lossy(&bytes);
        Header::parse(&text, path)
    }

    /// Parses header text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Header> {
        let mut record: Option<RecordLine> = None;
        let mut signals = Vec::new();
        let mut comments = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line_no = index + 1;
            let line = raw.trim_end_matches('\r').trim();
            if line.is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                comments.push(comment.trim_start().to_string());
                continue;
            }
            let err = |message: String| WfdbError::Header {
                path: path.to_path_buf(),
                line: line_no,
                message,
            };
            match &record {
                None => record = Some(parse_record_line(line, path).map_err(err)?),
                Some(rec) if signals.len() < rec.n_signals => {
                    signals.push(parse_signal_line(line).map_err(err)?)
                }
                Some(rec) => {
                    return Err(err(format!(
                        "unexpected line after the {} signal lines: {line:?}",
                        rec.n_signals
                    )));
                }
            }
        }
        let record = record.ok_or_else(|| WfdbError::Header {
            path: path.to_path_buf(),
            line: 1,
            message: "no record line (empty header)".to_string(),
        })?;
        if signals.len() < record.n_signals {
            return Err(WfdbError::Header {
                path: path.to_path_buf(),
                line: text.lines().count(),
                message: format!(
                    "record line declares {} signals but the header has {} signal lines",
                    record.n_signals,
                    signals.len()
                ),
            });
        }
        Ok(Header {
            record,
            signals,
            comments,
        })
    }

    /// Renders the header as WFDB text (LF line endings), every field written out.
    pub fn to_text(&self) -> String {
        let r = &self.record;
        let mut out = format!("{} {} {}", r.name, r.n_signals, format_number(r.fs));
        if let Some(cf) = r.counter_freq {
            let _ = write!(out, "/{}", format_number(cf));
            if let Some(base) = r.base_counter {
                let _ = write!(out, "({})", format_number(base));
            }
        }
        if let Some(n) = r.n_samples {
            let _ = write!(out, " {n}");
            if let Some(t) = &r.base_time {
                let _ = write!(out, " {t}");
                if let Some(d) = &r.base_date {
                    let _ = write!(out, " {d}");
                }
            }
        }
        out.push('\n');
        for s in &self.signals {
            let _ = write!(out, "{} {}", s.file, s.format);
            if s.samples_per_frame != 1 {
                let _ = write!(out, "x{}", s.samples_per_frame);
            }
            if s.skew != 0 {
                let _ = write!(out, ":{}", s.skew);
            }
            if s.byte_offset != 0 {
                let _ = write!(out, "+{}", s.byte_offset);
            }
            let _ = write!(
                out,
                " {}({})/{} {} {} {} {} {}",
                format_number(s.gain),
                s.baseline,
                s.units,
                s.adc_resolution,
                s.adc_zero,
                s.initial_value,
                s.checksum.unwrap_or(0),
                s.block_size
            );
            if !s.description.is_empty() {
                let _ = write!(out, " {}", s.description);
            }
            out.push('\n');
        }
        for c in &self.comments {
            let _ = writeln!(out, "# {c}");
        }
        out
    }

    /// Writes the header to `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.to_text()).map_err(|e| WfdbError::io(path, e))
    }

    /// Index of the first signal whose description is `name` (exact match).
    pub fn signal_index(&self, name: &str) -> Option<usize> {
        self.signals.iter().position(|s| s.description == name)
    }

    /// The signal files named by the header, in order of first appearance, with the indices of
    /// the signals each one holds.
    pub fn file_groups(&self) -> Vec<(String, Vec<usize>)> {
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, s) in self.signals.iter().enumerate() {
            match groups.iter_mut().find(|(f, _)| *f == s.file) {
                Some((_, members)) => members.push(i),
                None => groups.push((s.file.clone(), vec![i])),
            }
        }
        groups
    }

    /// The folder-relative path of a file named in this header, given the header's own path.
    pub fn sibling(header_path: &Path, file: &str) -> PathBuf {
        header_path
            .parent()
            .map(|d| d.join(file))
            .unwrap_or_else(|| PathBuf::from(file))
    }
}

/// Formats a number without a trailing `.0` when it is integral.
fn format_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn parse_num<T: std::str::FromStr>(field: &str, what: &str) -> std::result::Result<T, String> {
    field
        .parse()
        .map_err(|_| format!("{what}: cannot parse {field:?} as a number"))
}

fn parse_record_line(line: &str, path: &Path) -> std::result::Result<RecordLine, String> {
    let mut fields = line.split_whitespace();
    let name_field = fields.next().ok_or("record line is empty")?;
    if name_field.contains('/') {
        return Err(format!(
            "multi-segment record {name_field:?} is not supported ({})",
            path.display()
        ));
    }
    let n_signals: usize = parse_num(
        fields
            .next()
            .ok_or("record line lacks the number of signals")?,
        "number of signals",
    )?;
    let mut rec = RecordLine {
        name: name_field.to_string(),
        n_signals,
        fs: DEFAULT_FS,
        counter_freq: None,
        base_counter: None,
        n_samples: None,
        base_time: None,
        base_date: None,
    };
    if let Some(freq) = fields.next() {
        let (fs, counter) = match freq.split_once('/') {
            Some((fs, counter)) => (fs, Some(counter)),
            None => (freq, None),
        };
        rec.fs = parse_num(fs, "sampling frequency")?;
        if !(rec.fs > 0.0 && rec.fs.is_finite()) {
            rec.fs = DEFAULT_FS;
        }
        if let Some(counter) = counter {
            let (cf, base) = match counter.split_once('(') {
                Some((cf, base)) => (cf, Some(base.trim_end_matches(')'))),
                None => (counter, None),
            };
            rec.counter_freq = Some(parse_num(cf, "counter frequency")?);
            rec.base_counter = base.map(|b| parse_num(b, "base counter")).transpose()?;
        }
    }
    if let Some(n) = fields.next() {
        rec.n_samples = Some(parse_num(n, "number of samples")?);
    }
    rec.base_time = fields.next().map(str::to_string);
    rec.base_date = fields.next().map(str::to_string);
    Ok(rec)
}

/// Splits off the next whitespace-delimited field, returning it and the rest of the line.
fn next_field(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    if s.is_empty() {
        return None;
    }
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    Some((&s[..end], &s[end..]))
}

fn parse_format_field(field: &str) -> std::result::Result<(u16, u32, u32, u64), String> {
    let digits_end = field
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(field.len());
    let format: u16 = parse_num(&field[..digits_end], "format")?;
    let (mut spf, mut skew, mut offset) = (1u32, 0u32, 0u64);
    let mut rest = &field[digits_end..];
    while let Some(tag) = rest.chars().next() {
        let body = &rest[tag.len_utf8()..];
        let end = body
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(body.len());
        let value = &body[..end];
        match tag {
            'x' => spf = parse_num(value, "samples per frame")?,
            ':' => skew = parse_num(value, "skew")?,
            '+' => offset = parse_num(value, "byte offset")?,
            _ => return Err(format!("malformed format field {field:?}")),
        }
        rest = &body[end..];
    }
    Ok((format, spf, skew, offset))
}

fn parse_signal_line(line: &str) -> std::result::Result<SignalSpec, String> {
    let (file, rest) = next_field(line).ok_or("empty signal line")?;
    let (format_field, mut rest) = next_field(rest)
        .ok_or_else(|| format!("signal line for {file:?} lacks the format field"))?;
    let (format, samples_per_frame, skew, byte_offset) = parse_format_field(format_field)?;
    let mut spec = SignalSpec::new(file, format, DEFAULT_GAIN, "");
    spec.samples_per_frame = samples_per_frame.max(1);
    spec.skew = skew;
    spec.byte_offset = byte_offset;
    let mut baseline = None;
    if let Some((gain_field, r)) = next_field(rest) {
        rest = r;
        let (gain_part, units) = match gain_field.split_once('/') {
            Some((g, u)) => (g, Some(u)),
            None => (gain_field, None),
        };
        let (gain_str, base_str) = match gain_part.split_once('(') {
            Some((g, b)) => (g, Some(b.trim_end_matches(')'))),
            None => (gain_part, None),
        };
        let gain: f64 = parse_num(gain_str, "gain")?;
        spec.gain = if gain == 0.0 { DEFAULT_GAIN } else { gain };
        baseline = base_str.map(|b| parse_num(b, "baseline")).transpose()?;
        if let Some(u) = units {
            spec.units = u.to_string();
        }
        if let Some((f, r)) = next_field(rest) {
            rest = r;
            let res: u32 = parse_num(f, "ADC resolution")?;
            if res != 0 {
                spec.adc_resolution = res;
            }
            if let Some((f, r)) = next_field(rest) {
                rest = r;
                spec.adc_zero = parse_num(f, "ADC zero")?;
                spec.initial_value = spec.adc_zero;
                if let Some((f, r)) = next_field(rest) {
                    rest = r;
                    spec.initial_value = parse_num(f, "initial value")?;
                    if let Some((f, r)) = next_field(rest) {
                        rest = r;
                        let sum: i64 = parse_num(f, "checksum")?;
                        spec.checksum = Some(sum as i16);
                        if let Some((f, r)) = next_field(rest) {
                            rest = r;
                            spec.block_size = parse_num(f, "block size")?;
                            spec.description = rest.trim().to_string();
                        }
                    }
                }
            }
        }
    }
    spec.baseline = baseline.unwrap_or(spec.adc_zero);
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Header> {
        Header::parse(text, Path::new("t.hea"))
    }

    #[test]
    fn parses_mitdb_header_with_crlf_and_comments() {
        let text = "100 2 360 650000\r\n100.dat 212 200 11 1024 995 -22131 0 MLII\r\n100.dat 212 200 11 1024 1011 20052 0 V5\r\n# 69 M 1085 1629 x1\r\n# Aldomet, Inderal\r\n";
        let h = parse(text).unwrap();
        assert_eq!(h.record.name, "100");
        assert_eq!(h.record.n_signals, 2);
        assert_eq!(h.record.fs, 360.0);
        assert_eq!(h.record.n_samples, Some(650000));
        let s = &h.signals[0];
        assert_eq!(
            (s.format, s.gain, s.adc_resolution, s.adc_zero),
            (212, 200.0, 11, 1024)
        );
        assert_eq!(
            (s.initial_value, s.checksum, s.block_size),
            (995, Some(-22131), 0)
        );
        assert_eq!(s.baseline, 1024, "baseline defaults to ADC zero");
        assert_eq!(s.description, "MLII");
        assert_eq!(h.signals[1].description, "V5");
        assert_eq!(h.comments, vec!["69 M 1085 1629 x1", "Aldomet, Inderal"]);
    }

    #[test]
    fn applies_defaults_for_missing_fields() {
        let h = parse("rec 1\nrec.dat 16\n").unwrap();
        assert_eq!(h.record.fs, DEFAULT_FS);
        assert_eq!(h.record.n_samples, None);
        let s = &h.signals[0];
        assert_eq!(s.gain, DEFAULT_GAIN);
        assert_eq!(s.adc_resolution, 16);
        assert_eq!((s.baseline, s.initial_value, s.checksum), (0, 0, None));
        assert_eq!(s.units, "mV");
    }

    #[test]
    fn parses_gain_baseline_units_and_format_suffixes() {
        let h = parse("r 1 500/1000(3) 10 12:30:00 01/02/2000\nr.dat 212x1:0+512 0(-5)/uV 12 0 1 2 0 lead II long name\n").unwrap();
        assert_eq!(h.record.counter_freq, Some(1000.0));
        assert_eq!(h.record.base_counter, Some(3.0));
        assert_eq!(h.record.base_time.as_deref(), Some("12:30:00"));
        assert_eq!(h.record.base_date.as_deref(), Some("01/02/2000"));
        let s = &h.signals[0];
        assert_eq!(s.byte_offset, 512);
        assert_eq!(s.gain, DEFAULT_GAIN, "gain 0 means the default");
        assert_eq!(s.baseline, -5);
        assert_eq!(s.units, "uV");
        assert_eq!(s.description, "lead II long name");
    }

    #[test]
    fn missing_signal_lines_and_fields_are_clear_errors() {
        let err = parse("r 2 360 100\nr.dat 212\n").unwrap_err().to_string();
        assert!(
            err.contains("t.hea") && err.contains("declares 2 signals"),
            "{err}"
        );
        let err = parse("r\n").unwrap_err().to_string();
        assert!(err.contains("number of signals"), "{err}");
        let err = parse("r 1\nr.dat\n").unwrap_err().to_string();
        assert!(err.contains("lacks the format"), "{err}");
        let err = parse("r 1 abc\nr.dat 16\n").unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("\"abc\""), "{err}");
        let err = parse("r/2 2 360\n").unwrap_err().to_string();
        assert!(err.contains("multi-segment"), "{err}");
        assert!(parse("").is_err());
        // Found by fuzzing: a multi-byte character after the format code.
        let err = parse("r 1\nr.dat 16\u{FFFD}x\n").unwrap_err().to_string();
        assert!(err.contains("malformed format field"), "{err}");
    }

    #[test]
    fn text_round_trips() {
        let text = "100 2 360 650000\n100.dat 212 200 11 1024 995 -22131 0 MLII\n100.dat 212 200 11 1024 1011 20052 0 V5\n# comment\n";
        let h = parse(text).unwrap();
        let again = parse(&h.to_text()).unwrap();
        assert_eq!(h, again);
    }
}
