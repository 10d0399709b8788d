//! Machine probes: the read bandwidth and the FMA peak, measured with the
//! same code paths as the scan, so `nidus bench` and the criterion benches
//! can quote the kernel as a fraction of what this machine can do right now.

use std::time::{Duration, Instant};

use crate::Kernel;
use crate::scan::run_chunks;

fn threads_or_default(threads: usize) -> usize {
    if threads == 0 {
        crate::scan::default_threads()
    } else {
        threads.min(crate::scan::MAX_THREADS)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

impl Kernel {
    /// The sum of `data`, read by `threads` threads (0 = all cores) with this
    /// tier's widest loads: the read-bandwidth reference for the scan, which
    /// reads the same bytes. The value itself is only a checksum.
    pub fn sum(&self, data: &[f32], threads: usize) -> f32 {
        let sum = self.imp.sum;
        // Chunked across the workers exactly like the scan's rows.
        run_chunks(
            data.len(),
            threads_or_default(threads).min(data.len().div_ceil(64)),
            || 0.0f32,
            |acc, r| *acc += sum(&data[r]),
        )
        .into_iter()
        .sum()
    }

    /// Runs `iters` iterations of a register-only multiply-add loop on each
    /// of `threads` threads (0 = all cores); see [`Kernel::fma_flops_per_iter`].
    /// The value returned only keeps the work from being optimized away.
    pub fn fma_probe(&self, iters: u64, threads: usize) -> f32 {
        let probe = self.imp.fma_probe;
        let t = threads_or_default(threads);
        std::thread::scope(|s| {
            let others: Vec<_> = (1..t)
                .filter_map(|_| {
                    std::thread::Builder::new()
                        .spawn_scoped(s, || probe(iters))
                        .ok()
                })
                .collect();
            let mine = probe(iters);
            others
                .into_iter()
                .map(|h| h.join().unwrap_or(0.0))
                .sum::<f32>()
                + mine
        })
    }

    /// Floating-point operations (a multiply-add counts 2) per thread per
    /// iteration of [`Kernel::fma_probe`].
    pub fn fma_flops_per_iter(&self) -> u64 {
        self.imp.fma_flops_per_iter
    }

    /// Read bandwidth in GB/s (10^9 bytes per second): the median of
    /// `repeats` (at least 1) timed [`Kernel::sum`]s of `data`. Pass the
    /// matrix the scan reads, larger than the last-level cache, to measure
    /// memory rather than cache.
    pub fn measure_read_bandwidth(&self, data: &[f32], threads: usize, repeats: usize) -> f64 {
        let bytes = std::mem::size_of_val(data) as f64;
        let runs = (0..repeats.max(1))
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(self.sum(std::hint::black_box(data), threads));
                bytes / t.elapsed().as_secs_f64().max(1e-9) / 1e9
            })
            .collect();
        median(runs)
    }

    /// Multiply-add peak in GFLOP/s over `threads` threads (0 = all cores):
    /// the median of 5 runs of [`Kernel::fma_probe`], each sized to last
    /// about `run` (at least 1 ms).
    pub fn measure_fma_peak(&self, threads: usize, run: Duration) -> f64 {
        let t = threads_or_default(threads);
        let flops_per_iter = (self.fma_flops_per_iter() * t as u64) as f64;
        // Calibrate on one short run, then size the timed runs.
        let calib = 100_000u64;
        let start = Instant::now();
        std::hint::black_box(self.fma_probe(calib, t));
        let per_iter = start.elapsed().as_secs_f64().max(1e-9) / calib as f64;
        let iters = ((run.max(Duration::from_millis(1)).as_secs_f64() / per_iter) as u64).max(1000);
        let runs = (0..5)
            .map(|_| {
                let start = Instant::now();
                std::hint::black_box(self.fma_probe(std::hint::black_box(iters), t));
                flops_per_iter * iters as f64 / start.elapsed().as_secs_f64().max(1e-9) / 1e9
            })
            .collect();
        median(runs)
    }
}

/// [`Kernel::measure_read_bandwidth`] with the active tier: GB/s reading
/// `data` with `threads` threads (0 = all cores), median of `repeats`.
/// `nidus bench` prints this as `read_bandwidth_gb_per_s`.
pub fn measure_read_bandwidth(data: &[f32], threads: usize, repeats: usize) -> f64 {
    Kernel::active().measure_read_bandwidth(data, threads, repeats)
}

/// [`Kernel::measure_fma_peak`] with the active tier: GFLOP/s with
/// `threads` threads (0 = all cores), runs of about `run` each.
/// `nidus bench` prints this as `fma_peak_gflops`.
pub fn measure_fma_peak(threads: usize, run: Duration) -> f64 {
    Kernel::active().measure_fma_peak(threads, run)
}
