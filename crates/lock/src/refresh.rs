//! The holder's heartbeat: a background thread that keeps the lock file's
//! modification time fresh while the lock is held (SPEC.md §6.3, "Liveness"),
//! and notices when the path stops naming our file.

use std::fs::{self, File};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime};

use crate::file::FileId;

/// Owns the heartbeat thread; [`Refresher::stop`] ends and joins it.
pub(crate) struct Refresher {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    lost: Arc<AtomicBool>,
}

impl Refresher {
    /// Starts refreshing `file`'s modification time every `period`.
    pub(crate) fn start(
        path: PathBuf,
        file: Arc<File>,
        id: FileId,
        period: Duration,
    ) -> std::io::Result<Refresher> {
        let (stop, stopped) = mpsc::channel::<()>();
        let lost = Arc::new(AtomicBool::new(false));
        let lost_flag = Arc::clone(&lost);
        let thread = thread::Builder::new()
            .name("nidus-lock-refresh".to_string())
            .spawn(move || {
                // A message or a dropped sender both mean "stop".
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(period) {
                    // A failed touch is not fatal: readers then see an older
                    // time, and only other hosts (TTL rule) may judge us dead,
                    // which `WriteLock::verify` reports as `Lost`.
                    let _ = file.set_modified(SystemTime::now());
                    let ours = fs::metadata(&path).is_ok_and(|m| FileId::of(&m) == id);
                    if !ours {
                        lost_flag.store(true, Ordering::Release);
                    }
                }
            })?;
        Ok(Refresher {
            stop: Some(stop),
            thread: Some(thread),
            lost,
        })
    }

    /// Has the heartbeat seen the path stop naming our file?
    pub(crate) fn lost(&self) -> bool {
        self.lost.load(Ordering::Acquire)
    }

    /// Stops the thread and waits for it, so it holds no handle to the file.
    pub(crate) fn stop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // The thread does not panic; if it somehow did, there is nothing
            // left to clean up.
            let _ = thread.join();
        }
    }
}

impl Drop for Refresher {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How often a holder with this TTL refreshes: four beats per TTL, so one
/// late beat does not make it look dead.
pub(crate) fn period(ttl: Duration) -> Duration {
    (ttl / 4).max(Duration::from_millis(1))
}
