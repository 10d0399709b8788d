//! `nidus bench`: the kernel and the store on generated data (filled in
//! with the store).

use anyhow::{Result, bail};

use crate::args::Matches;

/// Runs `bench`.
pub fn run(_m: &Matches) -> Result<()> {
    bail!("bench is not wired to the store yet")
}
