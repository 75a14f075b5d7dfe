//! Times path-search tournaments with the default module widths on random 512-channel feature
//! maps: `cargo run --release -p medpath-pathnet --example tournament_speed -- [SIDE] [VAL]`.

use std::ops::ControlFlow;
use std::time::Instant;

use medpath_pathnet::{
    Adam, AdamConfig, Examples, FeatureSet, Learner, NetworkConfig, SearchSettings, SuperNet,
    evolve,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_set(n: usize, side: usize, rng: &mut ChaCha8Rng) -> FeatureSet {
    let mut set = FeatureSet::new(side, side, 512);
    for i in 0..n {
        let chw: Vec<f32> = (0..512 * side * side)
            .map(|_| rng.random_range(0.0..4.0))
            .collect();
        set.push_chw(&chw, i % 3).expect("finite values");
    }
    set
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let side = args.first().copied().unwrap_or(2);
    let val_size = args.get(1).copied().unwrap_or(2000);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let train = random_set(2000, side, &mut rng);
    let val = random_set(val_size, side, &mut rng);
    let mut net = SuperNet::new(NetworkConfig::paper(), 0).expect("valid config");
    let classes: Vec<String> = ["A", "L", "R"].map(String::from).to_vec();
    let head = net.add_head("bench", &classes, false, 1);
    let mut adam = Adam::new(AdamConfig::default(), &net);
    let tournaments = 10;
    let mut settings = SearchSettings::paper(tournaments, 0);
    settings.config.threshold = None;
    let started = Instant::now();
    let outcome = evolve(
        Learner {
            net: &mut net,
            adam: &mut adam,
            head,
        },
        Examples {
            train: &train,
            val: &val,
        },
        &settings,
        None,
        &mut |_| ControlFlow::Continue(()),
    )
    .expect("search runs");
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{side}x{side} maps, {val_size} validation examples: {:.3} s per tournament (2 x T = {} steps of batch {}), {:.0} steps/s",
        seconds / tournaments as f64,
        settings.steps,
        settings.batch,
        outcome.steps as f64 / seconds
    );
}
