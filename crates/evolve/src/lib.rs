//! PathNet path search without any ML: a genotype is, per layer, the indices of the active
//! modules; mutation nudges indices; a binary tournament evaluates two genotypes and overwrites
//! the loser with a mutated copy of the winner. The fitness is the caller's: it receives both
//! candidates of a tournament together, so it can train each from the same weights snapshot.

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Active module indices per layer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Genotype {
    /// `layers[l]` holds the active modules of layer `l` (1 to N indices in `0..M`).
    pub layers: Vec<Vec<usize>>,
}

/// What happens to an index pushed out of `0..M` by a mutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Boundary {
    /// Wrap around modulo M.
    Wrap,
    /// Clamp to 0 or M - 1.
    Clamp,
}

/// The shape of the path network a genotype describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchSpace {
    /// Layers L.
    pub layers: usize,
    /// Modules per layer M.
    pub modules: usize,
    /// Active modules per layer N.
    pub active: usize,
    /// Whether a layer may list the same module twice (PathNet's default).
    pub duplicates: bool,
    /// Out-of-range handling.
    pub boundary: Boundary,
}

impl SearchSpace {
    /// The paper's setting: L = 3, M = 10, N = 3, duplicates allowed, wrap-around.
    pub fn paper() -> SearchSpace {
        SearchSpace {
            layers: 3,
            modules: 10,
            active: 3,
            duplicates: true,
            boundary: Boundary::Wrap,
        }
    }

    /// A uniformly random genotype.
    pub fn random(&self, rng: &mut impl Rng) -> Genotype {
        let all: Vec<usize> = (0..self.modules).collect();
        let layers = (0..self.layers)
            .map(|_| {
                if self.duplicates {
                    (0..self.active)
                        .map(|_| rng.random_range(0..self.modules))
                        .collect()
                } else {
                    let mut picked: Vec<usize> = all
                        .choose_multiple(rng, self.active.min(self.modules))
                        .copied()
                        .collect();
                    picked.sort_unstable();
                    picked
                }
            })
            .collect();
        Genotype { layers }
    }

    /// A mutated copy: each index changes with probability 1/(N*L) by a uniform integer in
    /// [-2, 2], then wraps or clamps. Without duplicates, an index that would repeat one already
    /// in its layer keeps its old value.
    pub fn mutate(&self, genotype: &Genotype, rng: &mut impl Rng) -> Genotype {
        let p = 1.0 / (self.active * self.layers).max(1) as f64;
        let m = self.modules as i64;
        let layers = genotype
            .layers
            .iter()
            .map(|layer| {
                let mut out = layer.clone();
                for i in 0..out.len() {
                    if !rng.random_bool(p) {
                        continue;
                    }
                    let moved = out[i] as i64 + rng.random_range(-2..=2);
                    let value = match self.boundary {
                        Boundary::Wrap => moved.rem_euclid(m),
                        Boundary::Clamp => moved.clamp(0, m - 1),
                    } as usize;
                    if self.duplicates
                        || !out.iter().enumerate().any(|(j, v)| j != i && *v == value)
                    {
                        out[i] = value;
                    }
                }
                out
            })
            .collect();
        Genotype { layers }
    }
}

/// When a search stops.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SearchConfig {
    /// Population size P.
    pub population: usize,
    /// Most tournaments to run.
    pub max_tournaments: usize,
    /// Stop as soon as a fitness reaches this value.
    pub threshold: Option<f64>,
}

/// One tournament as it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TournamentRecord {
    /// 0-based tournament number.
    pub tournament: usize,
    /// Population indices of the two candidates.
    pub candidates: [usize; 2],
    /// Their fitness values.
    pub fitness: [f64; 2],
    /// Index of the winner (ties go to the first candidate).
    pub winner: usize,
    /// Best fitness known in the population after the tournament.
    pub best: f64,
    /// Mean fitness of the evaluated members after the tournament.
    pub mean: f64,
}

/// A population under binary-tournament selection. It serialises completely (random state
/// included), so a search saved after any tournament resumes exactly where it stopped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Search {
    /// The search space.
    pub space: SearchSpace,
    /// Stop rules.
    pub config: SearchConfig,
    /// The genotypes.
    pub population: Vec<Genotype>,
    /// Last known fitness of each member (`None` until evaluated).
    pub fitness: Vec<Option<f64>>,
    /// Every tournament so far.
    pub log: Vec<TournamentRecord>,
    rng: ChaCha8Rng,
}

impl Search {
    /// A random population drawn with `seed`.
    pub fn new(space: SearchSpace, config: SearchConfig, seed: u64) -> Search {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let population = (0..config.population.max(2))
            .map(|_| space.random(&mut rng))
            .collect();
        Search {
            space,
            config,
            population,
            fitness: vec![None; config.population.max(2)],
            log: Vec::new(),
            rng,
        }
    }

    /// Whether a stop rule is met.
    pub fn finished(&self) -> bool {
        let reached = match (self.config.threshold, self.best()) {
            (Some(t), Some((_, f))) => f >= t,
            _ => false,
        };
        reached || self.log.len() >= self.config.max_tournaments
    }

    /// The fittest evaluated member and its fitness.
    pub fn best(&self) -> Option<(&Genotype, f64)> {
        self.fitness
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.map(|f| (i, f)))
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(i, f)| (&self.population[i], f))
    }

    /// Runs one tournament: two distinct members, evaluated together by `evaluate`, the loser
    /// replaced by a mutated copy of the winner (its fitness unknown until evaluated).
    pub fn tournament(
        &mut self,
        evaluate: &mut dyn FnMut(&Genotype, &Genotype) -> (f64, f64),
    ) -> &TournamentRecord {
        let n = self.population.len();
        let a = self.rng.random_range(0..n);
        let b = (a + self.rng.random_range(1..n)) % n;
        let (fa, fb) = evaluate(&self.population[a], &self.population[b]);
        self.fitness[a] = Some(fa);
        self.fitness[b] = Some(fb);
        let (winner, loser) = if fa >= fb { (a, b) } else { (b, a) };
        self.population[loser] = self.space.mutate(&self.population[winner], &mut self.rng);
        self.fitness[loser] = None;
        // The copy is unevaluated; the winner's fitness stays known.
        let best = self.best().map_or(fa.max(fb), |(_, f)| f);
        let known: Vec<f64> = self.fitness.iter().flatten().copied().collect();
        let mean = known.iter().sum::<f64>() / known.len().max(1) as f64;
        self.log.push(TournamentRecord {
            tournament: self.log.len(),
            candidates: [a, b],
            fitness: [fa, fb],
            winner,
            best,
            mean,
        });
        self.log.last().expect("just pushed")
    }

    /// Runs tournaments until a stop rule is met.
    pub fn run(&mut self, evaluate: &mut dyn FnMut(&Genotype, &Genotype) -> (f64, f64)) {
        while !self.finished() {
            self.tournament(evaluate);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fraction of positions equal to a target genotype: a fitness with a known optimum.
    fn matches(target: &Genotype, g: &Genotype) -> f64 {
        let total: usize = target.layers.iter().map(Vec::len).sum();
        let same: usize = target
            .layers
            .iter()
            .zip(&g.layers)
            .map(|(t, l)| t.iter().zip(l).filter(|(a, b)| a == b).count())
            .sum();
        same as f64 / total as f64
    }

    #[test]
    fn tournaments_find_a_known_optimum() {
        let space = SearchSpace::paper();
        let target = Genotype {
            layers: vec![vec![1, 7, 3], vec![0, 9, 4], vec![5, 5, 2]],
        };
        let config = SearchConfig {
            population: 20,
            max_tournaments: 5000,
            threshold: Some(1.0),
        };
        let mut search = Search::new(space, config, 3);
        search.run(&mut |a, b| (matches(&target, a), matches(&target, b)));
        let (best, fitness) = search.best().unwrap();
        assert_eq!(fitness, 1.0, "after {} tournaments", search.log.len());
        assert_eq!(best, &target);
        assert!(search.log.len() < 5000);
        let first = search.log.first().unwrap().best;
        assert!(first < 1.0 && search.log.last().unwrap().best == 1.0);
    }

    #[test]
    fn the_same_seed_gives_the_same_search() {
        let space = SearchSpace::paper();
        let target = Genotype {
            layers: vec![vec![2, 2, 2]; 3],
        };
        let config = SearchConfig {
            population: 8,
            max_tournaments: 200,
            threshold: None,
        };
        let run = |seed| {
            let mut s = Search::new(space, config, seed);
            s.run(&mut |a, b| (matches(&target, a), matches(&target, b)));
            (s.population, s.log)
        };
        assert_eq!(run(11), run(11));
        assert_ne!(run(11).1, run(12).1);
    }

    #[test]
    fn mutation_rate_range_and_boundaries() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let space = SearchSpace::paper();
        let g = Genotype {
            layers: vec![vec![0, 9, 5]; 3],
        };
        let trials = 20_000;
        let mut changed = 0usize;
        for _ in 0..trials {
            let m = space.mutate(&g, &mut rng);
            for (old, new) in g.layers.iter().flatten().zip(m.layers.iter().flatten()) {
                let d = (*new as i64 - *old as i64).rem_euclid(10);
                assert!([0, 1, 2, 8, 9].contains(&d), "step {old} -> {new}");
                changed += usize::from(old != new);
            }
        }
        // Each of 9 elements changes with probability 1/9 times 4/5 (a step of 0 changes nothing).
        let rate = changed as f64 / (trials * 9) as f64;
        assert!((rate - 0.8 / 9.0).abs() < 0.01, "rate {rate}");
        let clamp = SearchSpace {
            boundary: Boundary::Clamp,
            duplicates: false,
            ..space
        };
        for _ in 0..2000 {
            let m = clamp.mutate(&g, &mut rng);
            for layer in &m.layers {
                assert!(layer.iter().all(|&v| v < 10));
                let mut sorted = layer.clone();
                sorted.sort_unstable();
                sorted.dedup();
                assert_eq!(sorted.len(), 3, "duplicates in {layer:?}");
            }
        }
        let fresh = clamp.random(&mut rng);
        assert!(fresh.layers.iter().all(|l| l.len() == 3));
    }

    #[test]
    fn a_saved_search_resumes_exactly() {
        let target = Genotype {
            layers: vec![vec![2, 2, 8], vec![6, 1, 0], vec![3, 4, 9]],
        };
        let config = SearchConfig {
            population: 12,
            max_tournaments: 300,
            threshold: None,
        };
        let fitness = |a: &Genotype, b: &Genotype| (matches(&target, a), matches(&target, b));
        let mut whole = Search::new(SearchSpace::paper(), config, 11);
        whole.run(&mut |a, b| fitness(a, b));

        let mut first = Search::new(SearchSpace::paper(), config, 11);
        for _ in 0..137 {
            first.tournament(&mut |a, b| fitness(a, b));
        }
        let saved = serde_json::to_string(&first).unwrap();
        drop(first);
        let mut resumed: Search = serde_json::from_str(&saved).unwrap();
        resumed.run(&mut |a, b| fitness(a, b));
        assert_eq!(resumed.population, whole.population);
        assert_eq!(resumed.log, whole.log);
    }
}
