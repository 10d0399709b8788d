//! Generated data with real structure for `demo` and `bench`: vectors drawn
//! around a few cluster centres, with attributes that correlate with the
//! cluster (so filtered searches have something to find), from a seeded
//! generator (the same seed gives the same data on every machine).

use nidus_format::{Attributes, Value};

/// A small, fast, seeded pseudo-random generator (SplitMix64). Not for
/// cryptography; only for reproducible test data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        // Multiply-shift: unbiased enough for test data, and branch-free.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A standard normal sample (Box-Muller).
    pub fn normal(&mut self) -> f32 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }
}

/// The sources the generated records claim to come from (cluster-linked).
pub const SOURCES: &[&str] = &[
    "man", "wiki", "blog", "paper", "code", "mail", "news", "forum",
];

/// Clustered vectors: `clusters` random centres, each point a centre plus
/// Gaussian noise (`spread` relative to the centre's length).
#[derive(Debug, Clone)]
pub struct Clustered {
    /// The dimension.
    pub dim: usize,
    centres: Vec<f32>,
    spread: f32,
    rng: Rng,
}

impl Clustered {
    /// A generator of `dim`-dimensional points around `clusters` centres.
    pub fn new(dim: usize, clusters: usize, spread: f32, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let clusters = clusters.max(1);
        let centres = (0..clusters * dim).map(|_| rng.normal()).collect();
        Clustered {
            dim,
            centres,
            spread,
            rng,
        }
    }

    /// The number of clusters.
    pub fn clusters(&self) -> usize {
        self.centres.len() / self.dim.max(1)
    }

    /// Appends one point to `out`; returns its cluster.
    pub fn point(&mut self, out: &mut Vec<f32>) -> usize {
        let c = self.rng.below(self.clusters() as u64) as usize;
        self.point_in(c, out);
        c
    }

    /// Appends one point of cluster `c` to `out`.
    pub fn point_in(&mut self, c: usize, out: &mut Vec<f32>) {
        let dim = self.dim;
        for i in 0..dim {
            let noise = self.rng.normal() * self.spread;
            out.push(self.centres[c * dim + i] + noise);
        }
    }

    /// Attributes for record `i` of cluster `c`: `source` (a string tied to
    /// the cluster), `year` (an int), `score` (a float), `tags` (a list) and
    /// `draft` (a bool, absent on most records).
    pub fn attrs(&mut self, i: u64, c: usize) -> Attributes {
        let mut a = Attributes::new();
        a.insert("source".into(), Value::from(SOURCES[c % SOURCES.len()]));
        a.insert("year".into(), Value::Int(2000 + self.rng.below(26) as i64));
        a.insert("score".into(), Value::Float(self.rng.unit()));
        a.insert(
            "path".into(),
            Value::Str(format!("docs/{}/{i}.txt", SOURCES[c % SOURCES.len()])),
        );
        let mut tags = vec![format!("cluster-{c}")];
        if i.is_multiple_of(3) {
            tags.push("triple".into());
        }
        a.insert("tags".into(), Value::List(tags));
        if i.is_multiple_of(10) {
            a.insert("draft".into(), Value::Bool(true));
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_and_clustered() {
        let mut a = Clustered::new(16, 4, 0.1, 7);
        let mut b = Clustered::new(16, 4, 0.1, 7);
        let (mut va, mut vb) = (Vec::new(), Vec::new());
        let ca = a.point(&mut va);
        let cb = b.point(&mut vb);
        assert_eq!((ca, &va), (cb, &vb));
        // Points of one cluster are far closer to each other than to another
        // cluster's points.
        let mut g = Clustered::new(32, 2, 0.1, 1);
        let (mut p, mut q, mut r) = (Vec::new(), Vec::new(), Vec::new());
        g.point_in(0, &mut p);
        g.point_in(0, &mut q);
        g.point_in(1, &mut r);
        let cos = |x: &[f32], y: &[f32]| {
            let d: f32 = x.iter().zip(y).map(|(a, b)| a * b).sum();
            let n = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>().sqrt();
            d / (n(x) * n(y))
        };
        assert!(cos(&p, &q) > 0.9, "{}", cos(&p, &q));
        assert!(cos(&p, &r) < 0.6, "{}", cos(&p, &r));
    }

    #[test]
    fn rng_ranges() {
        let mut r = Rng::new(3);
        for _ in 0..10_000 {
            assert!(r.below(7) < 7);
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            assert!(r.normal().is_finite());
        }
    }

    #[test]
    fn attrs_follow_the_cluster() {
        let mut g = Clustered::new(4, 8, 0.1, 1);
        let a = g.attrs(30, 2);
        assert_eq!(a["source"], Value::from("blog"));
        assert!(matches!(a["year"], Value::Int(y) if (2000..2026).contains(&y)));
        assert_eq!(a["draft"], Value::Bool(true));
        assert!(!g.attrs(31, 2).contains_key("draft"));
    }
}
