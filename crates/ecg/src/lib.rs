//! ECG beats for image classifiers: R-peak-centred windows cut from WFDB records, drawn as
//! anti-aliased trace images, with RR timing, record- and beat-level splits, and a generator of
//! synthetic records.

pub mod aami;
pub mod augment;
pub mod beats;
pub mod conduction;
pub mod error;
pub mod export;
pub mod leads;
pub mod morphology;
pub mod pipeline;
pub mod qrs;
pub mod relative;
pub mod render;
pub mod splits;
pub mod synth;
pub mod timing;

pub use aami::{AAMI_CLASSES, AamiClass, AamiView, aami_class};
pub use augment::BeatAugment;
pub use beats::{
    Beat, BeatOptions, Normalization, RecordBeats, all_beats, bin_means, record_beats,
    reference_beats,
};
pub use error::{EcgError, Result};
pub use export::{ExportSummary, ExportedBeat, ViewPlan, export_beat_images, first_lead_only};
pub use leads::{LeadChoice, LeadSource, parse_lead_list};
pub use morphology::{MEASUREMENTS, lead_measurements};
pub use pipeline::{
    BeatsFrom, EcgPipeline, Picture, RecordInput, SideInput, SignalProblem, TransformedRecord,
    signal_problem,
};
pub use qrs::{detect_qrs, match_beats};
pub use render::{BeatImage, TraceStyle, render_traces};
pub use synth::{Conduction, SynthOptions, synthesize, write_synthetic_set};
pub use timing::{BeatTiming, RHYTHM_FEATURES, beat_timings, rhythm_features};
