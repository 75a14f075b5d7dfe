//! MIT-format annotation files (`.atr` and friends): reading, writing and the code table.
//!
//! Each 16-bit little-endian word holds a code `A = word >> 10` and a value `I = word & 0x3FF`.
//! Codes 1..=49 are annotations at `time += I`; the pseudo-codes SKIP (59), NUM (60), SUB (61),
//! CHN (62) and AUX (63) modify the time or the annotation before them; `A = 0, I = 0` ends the file.

use std::path::Path;

use crate::error::{Result, WfdbError};

/// Largest code of a real annotation (WFDB's `ACMAX`).
pub const MAX_CODE: u8 = 49;
const SKIP: u16 = 59;
const NUM: u16 = 60;
const SUB: u16 = 61;
const CHN: u16 = 62;
const AUX: u16 = 63;

/// Mnemonic symbols of annotation codes 0..=49 as WFDB prints them; `""` marks unassigned codes.
const SYMBOLS: [&str; 50] = [
    " ", "N", "L", "R", "a", "V", "F", "J", "A", "S", "E", "j", "/", "Q", "~", "", "|", "", "s",
    "T", "*", "D", "\"", "=", "p", "B", "^", "t", "+", "u", "?", "!", "[", "]", "e", "n", "@", "x",
    "f", "(", ")", "r", "", "", "", "", "", "", "", "",
];

/// Long names of the codes, used where a symbol cannot serve (for instance as a folder name).
const NAMES: [&str; 50] = [
    "NOTQRS", "NORMAL", "LBBB", "RBBB", "ABERR", "PVC", "FUSION", "NPC", "APC", "SVPB", "VESC",
    "NESC", "PACE", "UNKNOWN", "NOISE", "CODE15", "ARFCT", "CODE17", "STCH", "TCH", "SYSTOLE",
    "DIASTOLE", "NOTE", "MEASURE", "PWAVE", "BBB", "PACESP", "TWAVE", "RHYTHM", "UWAVE", "LEARN",
    "FLWAV", "VFON", "VFOFF", "AESC", "SVESC", "LINK", "NAPC", "PFUS", "WFON", "WFOFF", "RONT",
    "CODE42", "CODE43", "CODE44", "CODE45", "CODE46", "CODE47", "CODE48", "CODE49",
];

/// Codes that mark a heart beat (WFDB's `isqrs`).
const BEAT_CODES: [u8; 19] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 25, 30, 34, 35, 38, 41,
];

/// One annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    /// Sample number (time) of the annotation.
    pub sample: i64,
    /// Annotation code, 0..=49.
    pub code: u8,
    /// Subtype (SUB), 0 unless set.
    pub subtype: i8,
    /// Signal (channel) number (CHN), carried over from the previous annotation unless set.
    pub chan: u8,
    /// Annotator number field (NUM), carried over from the previous annotation unless set.
    pub num: i8,
    /// Auxiliary bytes (AUX), e.g. the rhythm text `(AFIB` of a `+` annotation.
    pub aux: Option<Vec<u8>>,
}

impl Annotation {
    /// An annotation of `code` at `sample` with every other field at its default.
    pub fn new(sample: i64, code: u8) -> Self {
        Annotation {
            sample,
            code,
            subtype: 0,
            chan: 0,
            num: 0,
            aux: None,
        }
    }

    /// The WFDB symbol of the code (`N`, `A`, `+`, ...), or `[code]` for unassigned codes.
    pub fn symbol(&self) -> String {
        symbol_of(self.code)
    }

    /// Whether the annotation marks a beat.
    pub fn is_beat(&self) -> bool {
        BEAT_CODES.contains(&self.code)
    }

    /// The auxiliary text, lossily decoded, without trailing NULs.
    pub fn aux_text(&self) -> Option<String> {
        self.aux.as_ref().map(|a| {
            String::from_utf8_lossy(a)
                .trim_end_matches('\0')
                .to_string()
        })
    }
}

/// The symbol of an annotation code, or `[code]` where the code has none.
pub fn symbol_of(code: u8) -> String {
    match SYMBOLS.get(code as usize) {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => format!("[{code}]"),
    }
}

/// The long name of an annotation code (`NORMAL`, `APC`, ...).
pub fn name_of(code: u8) -> String {
    NAMES
        .get(code as usize)
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("CODE{code}"))
}

/// The code of a symbol (`"A"` gives 8), or `None` when no code has it.
pub fn code_of(symbol: &str) -> Option<u8> {
    SYMBOLS
        .iter()
        .position(|s| !s.is_empty() && *s == symbol)
        .map(|i| i as u8)
}

/// Reads an MIT-format annotation file.
pub fn read_annotations(path: &Path) -> Result<Vec<Annotation>> {
    let bytes = std::fs::read(path).map_err(|e| WfdbError::io(path, e))?;
    parse_annotations(&bytes, path)
}

/// Parses MIT-format annotation bytes; `path` is only used in error messages.
pub fn parse_annotations(bytes: &[u8], path: &Path) -> Result<Vec<Annotation>> {
    let corrupt = |offset: usize, message: String| WfdbError::Annotation {
        path: path.to_path_buf(),
        offset,
        message,
    };
    let word_at = |pos: usize| -> Option<u16> {
        bytes
            .get(pos..pos + 2)
            .map(|w| u16::from_le_bytes([w[0], w[1]]))
    };
    let mut out: Vec<Annotation> = Vec::new();
    let mut time: i64 = 0;
    let (mut chan, mut num) = (0u8, 0i8);
    let mut pos = 0usize;
    while pos < bytes.len() {
        let at = pos;
        let word = word_at(pos).ok_or_else(|| corrupt(at, "file ends inside a word".into()))?;
        pos += 2;
        let (code, value) = (word >> 10, word & 0x3FF);
        match code {
            0 if value == 0 => return Ok(out),
            SKIP => {
                let (hi, lo) = match (word_at(pos), word_at(pos + 2)) {
                    (Some(hi), Some(lo)) => (hi, lo),
                    _ => return Err(corrupt(at, "SKIP without its 4-byte interval".into())),
                };
                pos += 4;
                time += (((hi as u32) << 16) | lo as u32) as i32 as i64;
            }
            NUM | SUB | CHN | AUX => {
                let Some(last) = out.last_mut() else {
                    return Err(corrupt(
                        at,
                        format!("modifier code {code} before any annotation"),
                    ));
                };
                match code {
                    NUM => {
                        num = value as u8 as i8;
                        last.num = num;
                    }
                    SUB => last.subtype = value as u8 as i8,
                    CHN => {
                        chan = value as u8;
                        last.chan = chan;
                    }
                    _ => {
                        let len = (value & 0xFF) as usize;
                        let text = bytes.get(pos..pos + len).ok_or_else(|| {
                            corrupt(at, format!("AUX of {len} bytes runs past the end"))
                        })?;
                        last.aux = Some(text.to_vec());
                        pos += len + (len & 1);
                    }
                }
            }
            c if c <= MAX_CODE as u16 => {
                time += value as i64;
                if time < 0 {
                    return Err(corrupt(at, format!("negative annotation time {time}")));
                }
                out.push(Annotation {
                    sample: time,
                    code: c as u8,
                    subtype: 0,
                    chan,
                    num,
                    aux: None,
                });
            }
            c => return Err(corrupt(at, format!("invalid annotation code {c}"))),
        }
    }
    Ok(out)
}

/// Encodes annotations in MIT format; they must be in time order.
pub fn encode_annotations(annotations: &[Annotation], path: &Path) -> Result<Vec<u8>> {
    let invalid = |message: String| WfdbError::Write {
        path: path.to_path_buf(),
        message,
    };
    let mut out: Vec<u8> = Vec::with_capacity(annotations.len() * 2 + 2);
    let put = |out: &mut Vec<u8>, w: u16| out.extend_from_slice(&w.to_le_bytes());
    let mut time: i64 = 0;
    let (mut chan, mut num) = (0u8, 0i8);
    for (i, a) in annotations.iter().enumerate() {
        if a.code > MAX_CODE {
            return Err(invalid(format!(
                "annotation {i}: code {} > {MAX_CODE}",
                a.code
            )));
        }
        let mut delta = a.sample - time;
        if delta < 0 {
            return Err(invalid(format!(
                "annotation {i} at sample {} comes before the previous one at {time}",
                a.sample
            )));
        }
        if delta > 0x3FF {
            let skip = i32::try_from(delta)
                .map_err(|_| invalid(format!("annotation {i}: interval {delta} too long")))?
                as u32;
            for w in [SKIP << 10, (skip >> 16) as u16, (skip & 0xFFFF) as u16] {
                put(&mut out, w);
            }
            delta = 0;
        }
        if a.code == 0 && delta == 0 {
            return Err(invalid(format!(
                "annotation {i}: code 0 at the time of the previous annotation cannot be stored"
            )));
        }
        put(&mut out, ((a.code as u16) << 10) | delta as u16);
        if a.subtype != 0 {
            put(&mut out, (SUB << 10) | a.subtype as u8 as u16);
        }
        if a.chan != chan {
            chan = a.chan;
            put(&mut out, (CHN << 10) | chan as u16);
        }
        if a.num != num {
            num = a.num;
            put(&mut out, (NUM << 10) | num as u8 as u16);
        }
        if let Some(aux) = &a.aux {
            if aux.len() > 255 {
                return Err(invalid(format!(
                    "annotation {i}: AUX of {} bytes (at most 255)",
                    aux.len()
                )));
            }
            put(&mut out, (AUX << 10) | aux.len() as u16);
            out.extend_from_slice(aux);
            if aux.len() % 2 == 1 {
                out.push(0);
            }
        }
        time = a.sample;
    }
    out.extend_from_slice(&0u16.to_le_bytes());
    Ok(out)
}

/// Writes annotations to an MIT-format file.
pub fn write_annotations(path: &Path, annotations: &[Annotation]) -> Result<()> {
    let bytes = encode_annotations(annotations, path)?;
    std::fs::write(path, bytes).map_err(|e| WfdbError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> &'static Path {
        Path::new("t.atr")
    }

    #[test]
    fn symbols_and_codes_agree() {
        for (symbol, code) in [
            ("N", 1),
            ("L", 2),
            ("R", 3),
            ("A", 8),
            ("V", 5),
            ("+", 28),
            ("/", 12),
        ] {
            assert_eq!(code_of(symbol), Some(code));
            assert_eq!(symbol_of(code), symbol);
        }
        assert_eq!(symbol_of(45), "[45]");
        assert_eq!(name_of(8), "APC");
        assert!(Annotation::new(0, 8).is_beat());
        assert!(!Annotation::new(0, 28).is_beat());
    }

    #[test]
    fn round_trips_every_modifier() {
        let mut anns = vec![
            Annotation::new(18, 28),
            Annotation::new(77, 1),
            Annotation::new(5000, 8),
            Annotation::new(5000, 22),
            Annotation::new(100_000_000, 5),
            Annotation::new(100_000_001, 1),
        ];
        anns[0].aux = Some(b"(N".to_vec());
        anns[2].subtype = -3;
        anns[2].chan = 1;
        anns[3].chan = 1;
        anns[3].aux = Some(b"odd".to_vec());
        anns[4].num = -1;
        anns[4].chan = 1;
        anns[5].num = 5;
        anns[5].chan = 0;
        let bytes = encode_annotations(&anns, path()).unwrap();
        assert_eq!(parse_annotations(&bytes, path()).unwrap(), anns);
    }

    #[test]
    fn parses_a_hand_written_file() {
        // N at 10, SKIP 2000, A at 2000+10+5, AUX "(AB", SUB 2, then end.
        let words: Vec<u16> = vec![
            (1 << 10) | 10,
            SKIP << 10,
            0,
            2000,
            (8 << 10) | 5,
            (AUX << 10) | 3,
        ];
        let mut bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        bytes.extend_from_slice(b"(AB\0");
        bytes.extend_from_slice(&((SUB << 10) | 2).to_le_bytes());
        bytes.extend_from_slice(&0u16.to_le_bytes());
        let anns = parse_annotations(&bytes, path()).unwrap();
        assert_eq!(anns.len(), 2);
        assert_eq!((anns[0].sample, anns[0].symbol().as_str()), (10, "N"));
        assert_eq!((anns[1].sample, anns[1].symbol().as_str()), (2015, "A"));
        assert_eq!(anns[1].aux_text().as_deref(), Some("(AB"));
        assert_eq!(anns[1].subtype, 2);
    }

    #[test]
    fn corrupt_files_are_errors_not_panics() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![0x01], "inside a word"),
            ((SKIP << 10).to_le_bytes().to_vec(), "SKIP"),
            (
                ((AUX << 10) | 9).to_le_bytes().to_vec(),
                "before any annotation",
            ),
            (
                ((55u16) << 10).to_le_bytes().to_vec(),
                "invalid annotation code 55",
            ),
        ];
        for (bytes, expected) in cases {
            let err = parse_annotations(&bytes, path()).unwrap_err().to_string();
            assert!(err.contains("t.atr") && err.contains(expected), "{err}");
        }
        let mut aux_past_end: Vec<u8> = ((1u16 << 10) | 1).to_le_bytes().to_vec();
        aux_past_end.extend_from_slice(&((AUX << 10) | 40).to_le_bytes());
        let err = parse_annotations(&aux_past_end, path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("runs past the end"), "{err}");
    }

    #[test]
    fn writer_rejects_unordered_and_invalid_annotations() {
        let err = encode_annotations(&[Annotation::new(5, 1), Annotation::new(4, 1)], path());
        assert!(err.unwrap_err().to_string().contains("comes before"));
        assert!(encode_annotations(&[Annotation::new(5, 60)], path()).is_err());
    }
}
