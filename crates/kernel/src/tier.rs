//! SIMD tiers: detection (once, cached), the forced-tier switch, and the
//! [`Kernel`] handle that binds one tier's implementation.
//!
//! The shape follows memchr: the CPU is probed once and the answer cached in
//! an atomic, so every later call costs one relaxed load. A tier's
//! implementation is a table of safe function pointers that its module only
//! hands out after the CPU features it needs were detected; that check is
//! what makes the `unsafe` inside those functions sound.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::KernelError;
use crate::simd::{self, Impl};

/// A SIMD implementation of the kernel. Ordered from least to most capable:
/// `Tier::Portable < Tier::Neon < Tier::Avx2 < Tier::Avx512`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Tier {
    /// Safe Rust written in fixed-width chunks the compiler vectorizes for
    /// the build target's baseline (SSE2 on x86-64). Runs everywhere.
    Portable = 1,
    /// aarch64 NEON (Advanced SIMD) with fused multiply-add.
    Neon = 2,
    /// x86-64 AVX2 + FMA (Intel Haswell, AMD Zen and later).
    Avx2 = 3,
    /// x86-64 AVX-512F (+ AVX2 + FMA) (Intel Skylake-X, AMD Zen 4 and later).
    Avx512 = 4,
}

impl Tier {
    /// Every tier, most capable first.
    pub const ALL: [Tier; 4] = [Tier::Avx512, Tier::Avx2, Tier::Neon, Tier::Portable];

    /// The short name reported by `nidus bench` and used in bench ids:
    /// `"avx512"`, `"avx2"`, `"neon"` or `"portable"`.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Portable => "portable",
            Tier::Neon => "neon",
            Tier::Avx2 => "avx2",
            Tier::Avx512 => "avx512",
        }
    }

    /// Whether this CPU and build target can run the tier.
    pub fn is_available(self) -> bool {
        simd::implementation(self).is_some()
    }

    /// The tiers this machine can run, most capable first (always ends with
    /// [`Tier::Portable`]). Tests and benches iterate over this.
    pub fn available() -> Vec<Tier> {
        Tier::ALL.into_iter().filter(|t| t.is_available()).collect()
    }

    fn from_u8(v: u8) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| *t as u8 == v)
    }
}

impl std::str::FromStr for Tier {
    type Err = KernelError;

    /// Parses a tier [name](Tier::name) (`"avx512"`, `"avx2"`, `"neon"`,
    /// `"portable"`, ASCII case-insensitive), e.g. for a `--tier` option.
    /// Whether this machine can run it is a separate question
    /// ([`Tier::is_available`]).
    fn from_str(s: &str) -> Result<Tier, KernelError> {
        Tier::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| KernelError::UnknownTier(s.to_owned()))
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// 0 = not detected yet; otherwise a `Tier as u8`.
static DETECTED: AtomicU8 = AtomicU8::new(0);
/// 0 = no override; otherwise the `Tier as u8` that `force_tier` chose.
static FORCED: AtomicU8 = AtomicU8::new(0);

/// The most capable tier this machine supports, detected on first call and
/// cached.
pub fn best_tier() -> Tier {
    if let Some(t) = Tier::from_u8(DETECTED.load(Ordering::Relaxed)) {
        return t;
    }
    let best = Tier::ALL
        .into_iter()
        .find(|t| t.is_available())
        .unwrap_or(Tier::Portable);
    DETECTED.store(best as u8, Ordering::Relaxed);
    best
}

/// The tier the free functions ([`crate::top_k`], [`crate::dot`], ...) use:
/// the one set by [`force_tier`], else [`best_tier`].
pub fn active_tier() -> Tier {
    Tier::from_u8(FORCED.load(Ordering::Relaxed)).unwrap_or_else(best_tier)
}

/// Make the free functions use `tier` from now on, process-wide (for
/// benchmarks and for ruling out a SIMD path when chasing a bug). Forcing
/// [`best_tier()`] undoes an earlier call. Errors with
/// [`KernelError::TierUnavailable`] if this machine cannot run `tier`; the
/// active tier is then unchanged.
///
/// Tests that run in parallel should not use this switch; they should bind a
/// tier explicitly with [`Kernel::new`] instead.
pub fn force_tier(tier: Tier) -> Result<(), KernelError> {
    if !tier.is_available() {
        return Err(KernelError::TierUnavailable(tier));
    }
    FORCED.store(tier as u8, Ordering::Relaxed);
    Ok(())
}

/// The kernel bound to one SIMD tier. Cheap to copy. Every method gives the
/// same results as the free function of the same name run under that tier.
///
/// Within one `Kernel`, scores are bit-for-bit reproducible: [`Kernel::dot`]
/// of a query and a row, the score [`Kernel::top_k`] reports for that row,
/// and the score [`Kernel::top_k_batch`] reports for it are the same `f32`,
/// whatever the thread count. Different tiers round differently (see the
/// crate docs for the bound).
#[derive(Clone, Copy)]
pub struct Kernel {
    pub(crate) imp: &'static Impl,
}

impl Kernel {
    /// The kernel for `tier`, or `None` if this machine cannot run it.
    pub fn new(tier: Tier) -> Option<Kernel> {
        simd::implementation(tier).map(|imp| Kernel { imp })
    }

    /// The kernel for [`active_tier()`].
    pub fn active() -> Kernel {
        // active_tier() only ever returns an available tier; Portable always is.
        Kernel::new(active_tier())
            .or_else(|| Kernel::new(Tier::Portable))
            .unwrap_or(Kernel {
                imp: &simd::portable::IMPL,
            })
    }

    /// The tier this kernel runs.
    pub fn tier(&self) -> Tier {
        self.imp.tier
    }
}

impl fmt::Debug for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kernel")
            .field("tier", &self.tier())
            .finish()
    }
}
