//! Peak memory and time of training, search and evaluation on generated feature sets kept in
//! memory or on disk: `cargo run --release -p medpath-pathnet --example memory_bench -- N SIDE
//! STORE` (STORE: `memory`, `disk-f16` or `disk-f32`; the spill file goes to `$TMPDIR`). Prints
//! one JSON line. Run one configuration per process so that the peak belongs to it alone;
//! `bench/memory.sh` runs the grid and writes the table.

use std::ops::ControlFlow;
use std::time::Instant;

use medpath_pathnet::{
    Adam, AdamConfig, DiskPrecision, Examples, FeatureSet, FitSettings, Learner, NetworkConfig,
    SearchSettings, SuperNet, evaluate, evolve, fit,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The process's peak resident set in MiB (Linux: `VmHWM`).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// `n` examples of 3 classes (class c raises a band of channels), streamed into `set` one at a
/// time so that only the set holds them.
fn fill(mut set: FeatureSet, n: usize, seed: u64) -> FeatureSet {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let values = set.example_len();
    let per_channel = values / set.channels;
    let mut chw = vec![0f32; values];
    for i in 0..n {
        let label = i % 3;
        for (k, v) in chw.iter_mut().enumerate() {
            let channel = k / per_channel;
            *v = rng.random_range(0.0..2.0) + if channel % 3 == label { 0.5 } else { 0.0 };
        }
        set.push_chw(&chw, label).expect("finite values");
    }
    set
}

/// An empty feature set of `side` x `side` x 512 maps kept as `store` says.
fn empty_set(store: &str, side: usize) -> Result<FeatureSet, medpath_pathnet::Error> {
    let dir = std::env::temp_dir();
    match store {
        "memory" => Ok(FeatureSet::new(side, side, 512)),
        "disk-f16" => FeatureSet::on_disk(side, side, 512, &dir, DiskPrecision::F16),
        "disk-f32" => FeatureSet::on_disk(side, side, 512, &dir, DiskPrecision::F32),
        other => Err(medpath_pathnet::Error::Shape(format!(
            "unknown store `{other}` (memory, disk-f16, disk-f32)"
        ))),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.first().map_or(Ok(10_000), |a| a.parse())?;
    let side: usize = args.get(1).map_or(Ok(2), |a| a.parse())?;
    let store = args.get(2).map_or("memory", String::as_str);
    let empty = || empty_set(store, side);
    let started = Instant::now();
    let train = fill(empty()?, n, 1);
    let val = fill(empty()?, (n / 10).max(30), 2);
    let fill_seconds = started.elapsed().as_secs_f64();

    let mut net = SuperNet::new(NetworkConfig::paper(), 0)?;
    let classes: Vec<String> = ["A", "B", "C"].map(String::from).to_vec();
    let head = net.add_head("bench", &classes, false, 1);
    let mut adam = Adam::new(AdamConfig::default(), &net);
    let mut search = SearchSettings::paper(2, 0);
    search.config.threshold = None;
    search.fitness_samples = Some(500);
    let started = Instant::now();
    let found = evolve(
        Learner {
            net: &mut net,
            adam: &mut adam,
            head,
        },
        Examples {
            train: &train,
            val: &val,
        },
        &search,
        None,
        &mut |_| ControlFlow::Continue(()),
    )?;
    let search_seconds = started.elapsed().as_secs_f64();
    let settings = FitSettings {
        epochs: 1,
        batch: 64,
        patience: None,
        max_steps: None,
        seed: 0,
        regularisation: Default::default(),
    };
    let started = Instant::now();
    let outcome = fit(
        Learner {
            net: &mut net,
            adam: &mut adam,
            head,
        },
        &found.best,
        Examples {
            train: &train,
            val: &val,
        },
        &settings,
        None,
        &mut |_| ControlFlow::Continue(()),
    )?;
    let epoch_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let evaluation = evaluate(&net, head, &found.best, &val)?;
    let eval_seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"n\": {n}, \"side\": {side}, \"store\": \"{store}\", \"feature_gib\": {:.3}, \"peak_rss_mib\": {:.0}, \"fill_s\": {fill_seconds:.1}, \"search_s\": {search_seconds:.1}, \"epoch_s\": {epoch_seconds:.2}, \"eval_s\": {eval_seconds:.2}, \"val_accuracy\": {:.3}, \"steps\": {}}}",
        (n * side * side * 512 * 4) as f64 / (1u64 << 30) as f64,
        peak_rss_mib(),
        evaluation.accuracy,
        outcome.steps
    );
    Ok(())
}
