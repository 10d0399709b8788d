//! `nidus demo`: the main job in one command (filled in with the store).

use anyhow::{Result, bail};

use crate::args::Matches;

/// Runs `demo`.
pub fn run(_m: &Matches) -> Result<()> {
    bail!("demo is not wired to the store yet")
}
