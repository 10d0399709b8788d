//! Simulated power loss through the I/O seam (SPEC.md §6.1, §6.2, §6.5,
//! §7.3), as redb's crash_consistency test does with its storage backend.
//! A SIGKILL keeps the page cache; a power cut keeps only what was synced.
//! The file system here keeps two images of everything the store touches:
//! the live one (the real files) and the durable one: a file's bytes as of
//! its last `sync_data`, a directory's entries (files and subdirectories)
//! as of its last `sync_dir`. After every operation the durable image is
//! recorded; each is then restored into a fresh directory (as is, and with
//! a random part of the unsynced appended bytes kept, or zeroed: §6.1 item
//! 2) and opened. It must open, ending clean or torn, and hold every write
//! call acknowledged before that moment, whole, and at most the one in
//! flight.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use nidus::store::io::{FileId, FileSystem, OpenMode, StdFileSystem, StoreFile};
use nidus::{ErrorKind, FileEnd, Filter, Options, Record, Store};

use super::model::{Pred, Reference};
use super::support::{Rng, base_seed, soak, tempdir};

/// One file: its durable bytes, and the name it has now (none once it was
/// removed or renamed over), where its live bytes are.
#[derive(Debug, Default)]
struct Durable(Mutex<Vec<u8>>, Mutex<Option<PathBuf>>);

impl Durable {
    fn named(path: &Path, bytes: Vec<u8>) -> Arc<Durable> {
        Arc::new(Durable(
            Mutex::new(bytes),
            Mutex::new(Some(path.to_path_buf())),
        ))
    }
}

/// What a power cut would leave: every durable file by its durable path,
/// with its live bytes too (for the variants that keep unsynced appends).
#[derive(Debug, Clone)]
struct Image {
    files: Vec<(PathBuf, Vec<u8>, Vec<u8>)>,
    /// Write calls acknowledged, and begun, when the image was taken.
    acked: usize,
    begun: usize,
}

#[derive(Debug, Default)]
struct Ns {
    /// Files by their live name.
    live: BTreeMap<PathBuf, Arc<Durable>>,
    /// Files by their durable name.
    durable: BTreeMap<PathBuf, Arc<Durable>>,
    /// Directories created through the seam, and which of them are durable
    /// (their entry in the parent synced).
    created_dirs: BTreeSet<PathBuf>,
    durable_dirs: BTreeSet<PathBuf>,
    images: Vec<Image>,
}

#[derive(Debug)]
struct PowerFs {
    ns: Mutex<Ns>,
    acked: Arc<AtomicUsize>,
    begun: Arc<AtomicUsize>,
}

#[derive(Debug)]
struct PowerFile {
    inner: Box<dyn StoreFile>,
    durable: Arc<Durable>,
    fs: Arc<PowerFs>,
}

impl PowerFs {
    /// Records the durable image after an operation.
    fn snapshot(&self) {
        let mut ns = self.ns.lock().unwrap();
        let mut files = Vec::new();
        for (path, d) in &ns.durable {
            let visible = path
                .ancestors()
                .skip(1)
                .all(|a| !ns.created_dirs.contains(a) || ns.durable_dirs.contains(a));
            if visible {
                let durable = d.0.lock().unwrap().clone();
                // The same file's live bytes (not whatever the name holds now).
                let live = match &*d.1.lock().unwrap() {
                    Some(p) => std::fs::read(p).unwrap_or_default(),
                    None => durable.clone(),
                };
                files.push((path.clone(), durable, live));
            }
        }
        let image = Image {
            files,
            acked: self.acked.load(Ordering::SeqCst),
            begun: self.begun.load(Ordering::SeqCst),
        };
        ns.images.push(image);
    }

    fn state_for(&self, path: &Path) -> Arc<Durable> {
        let mut ns = self.ns.lock().unwrap();
        if let Some(d) = ns.live.get(path) {
            return Arc::clone(d);
        }
        // A file that existed before: durable as it is.
        let d = Durable::named(path, std::fs::read(path).unwrap_or_default());
        ns.live.insert(path.to_path_buf(), Arc::clone(&d));
        ns.durable.insert(path.to_path_buf(), Arc::clone(&d));
        d
    }
}

/// The seam handed to the store: a shared [`PowerFs`].
#[derive(Debug)]
struct Seam(Arc<PowerFs>);

impl Read for PowerFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}
impl Seek for PowerFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}
impl Write for PowerFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.fs.snapshot();
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
impl StoreFile for PowerFile {
    fn sync_data(&mut self) -> io::Result<()> {
        self.inner.sync_data()?;
        let pos = self.inner.stream_position()?;
        self.inner.seek(SeekFrom::Start(0))?;
        let mut all = Vec::new();
        self.inner.read_to_end(&mut all)?;
        self.inner.seek(SeekFrom::Start(pos))?;
        *self.durable.0.lock().unwrap() = all;
        self.fs.snapshot();
        Ok(())
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)?;
        self.fs.snapshot();
        Ok(())
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn id(&self) -> io::Result<FileId> {
        self.inner.id()
    }
}

impl FileSystem for Seam {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StoreFile>> {
        let inner = StdFileSystem.open(path, mode)?;
        let durable = if mode == OpenMode::CreateNew {
            // A new file: empty when durable, and its name not yet durable.
            let d = Durable::named(path, Vec::new());
            self.0
                .ns
                .lock()
                .unwrap()
                .live
                .insert(path.to_path_buf(), Arc::clone(&d));
            d
        } else {
            self.0.state_for(path)
        };
        Ok(Box::new(PowerFile {
            inner,
            durable,
            fs: Arc::clone(&self.0),
        }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        StdFileSystem.rename(from, to)?;
        let mut ns = self.0.ns.lock().unwrap();
        if let Some(d) = ns.live.remove(from) {
            *d.1.lock().unwrap() = Some(to.to_path_buf());
            if let Some(old) = ns.live.insert(to.to_path_buf(), d) {
                *old.1.lock().unwrap() = None;
            }
        }
        drop(ns);
        self.0.snapshot();
        Ok(())
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        StdFileSystem.sync_dir(dir)?;
        let mut ns = self.0.ns.lock().unwrap();
        let live: Vec<_> = ns
            .live
            .iter()
            .filter(|(p, _)| p.parent() == Some(dir))
            .map(|(p, d)| (p.clone(), Arc::clone(d)))
            .collect();
        ns.durable.retain(|p, _| p.parent() != Some(dir));
        ns.durable.extend(live);
        let subdirs: Vec<PathBuf> = ns
            .created_dirs
            .iter()
            .filter(|d| d.parent() == Some(dir))
            .cloned()
            .collect();
        ns.durable_dirs.extend(subdirs);
        drop(ns);
        self.0.snapshot();
        Ok(())
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        StdFileSystem.remove_file(path)?;
        if let Some(d) = self.0.ns.lock().unwrap().live.remove(path) {
            *d.1.lock().unwrap() = None;
        }
        self.0.snapshot();
        Ok(())
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let missing: Vec<PathBuf> = dir
            .ancestors()
            .filter(|a| !a.exists())
            .map(Path::to_path_buf)
            .collect();
        StdFileSystem.create_dir_all(dir)?;
        self.0.ns.lock().unwrap().created_dirs.extend(missing);
        self.0.snapshot();
        Ok(())
    }
    fn id_of(&self, path: &Path) -> io::Result<FileId> {
        StdFileSystem.id_of(path)
    }
}

const DIM: usize = 6;

/// A write call on the store, and the same call on the model.
type StoreCall = Box<dyn Fn(&mut Store) -> nidus::Result<()>>;
type ModelCall = Box<dyn Fn(&mut Reference)>;

/// One write call of the workload and its effect on the model.
fn call(rng: &mut Rng, n: usize) -> (StoreCall, ModelCall) {
    match rng.below(8) {
        0..=3 => {
            let recs: Vec<Record> = (0..rng.range(1, 30))
                .map(|i| {
                    let v: Vec<f32> = (0..DIM).map(|_| rng.unit_f32() + 0.001).collect();
                    Record::new(format!("r{}", rng.below(60)), v)
                        .attr("n", n as i64)
                        .attr("i", i as i64)
                })
                .collect();
            let r2 = recs.clone();
            (
                Box::new(move |s| s.upsert("c", &recs)),
                Box::new(move |m| m.upsert("c", &r2)),
            )
        }
        4 => {
            let ids: Vec<String> = (0..rng.range(1, 10))
                .map(|_| format!("r{}", rng.below(60)))
                .collect();
            let i2 = ids.clone();
            (
                Box::new(move |s| {
                    if s.has_collection("c") {
                        s.delete("c", &ids).map(drop)
                    } else {
                        Ok(())
                    }
                }),
                Box::new(move |m| {
                    m.delete("c", &i2);
                }),
            )
        }
        5 => {
            let bound = n as i64 - 3;
            (
                Box::new(move |s| {
                    if s.has_collection("c") {
                        s.delete_where("c", Filter::lt("n", bound)).map(drop)
                    } else {
                        Ok(())
                    }
                }),
                Box::new(move |m| {
                    m.delete_where("c", &Pred::Lt("n", bound as f64));
                }),
            )
        }
        6 => (Box::new(|s| s.compact()), Box::new(|_| {})),
        _ => {
            let v = format!("v{n}");
            let v2 = v.clone();
            (
                Box::new(move |s| {
                    if s.has_collection("c") {
                        s.set_metadata("c", "k", &v)
                    } else {
                        s.create_collection("m").map(drop)
                    }
                }),
                Box::new(move |m| match m.collections.get_mut("c") {
                    Some(c) => {
                        c.metadata.insert("k".into(), v2.clone());
                    }
                    None => {
                        m.collections.entry("m".into()).or_default();
                    }
                }),
            )
        }
    }
}

/// Restores `image` (paths under `from` moved under `to`), with the unsynced
/// appended bytes of each file: none, a prefix, or zeros (`variant` 0..3).
fn restore(image: &Image, from: &Path, to: &Path, variant: usize, rng: &mut Rng) {
    std::fs::create_dir_all(to).unwrap();
    for (path, durable, live) in &image.files {
        let rel = path.strip_prefix(from).unwrap();
        let dst = to.join(rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        let mut bytes = durable.clone();
        if live.len() > durable.len() && live.starts_with(durable) {
            let extra = &live[durable.len()..];
            let keep = rng.below(extra.len() + 1);
            match variant {
                1 => bytes.extend_from_slice(&extra[..keep]),
                2 => bytes.resize(durable.len() + keep, 0),
                3 => {
                    // Unsynced appends land out of order: a stretch of
                    // them reads as zeros, later ones survive.
                    let mut e = extra.to_vec();
                    let from = rng.below(e.len());
                    let to = rng.range(from, e.len());
                    e[from..to].fill(0);
                    bytes.extend_from_slice(&e);
                }
                _ => {}
            }
        }
        std::fs::write(dst, bytes).unwrap();
    }
}

#[test]
fn a_power_cut_at_any_moment_keeps_every_acknowledged_call() {
    let seed = base_seed() ^ 0x90_4E12;
    let mut images_checked = 0;
    let mut calls_total = 0;
    for run in 0..3 * soak() {
        let tmp = tempdir();
        // Two directory levels the store creates itself.
        let dir = tmp.path().join("nested").join("store");
        let acked = Arc::new(AtomicUsize::new(0));
        let begun = Arc::new(AtomicUsize::new(0));
        let fs = Arc::new(PowerFs {
            ns: Mutex::default(),
            acked: Arc::clone(&acked),
            begun: Arc::clone(&begun),
        });
        let mut rng = Rng::new(seed + run as u64);
        // Odd runs defer syncs: a call counts as acknowledged once a flush
        // after it returned.
        let deferred = run % 2 == 1;
        let durability = if deferred {
            nidus::Durability::Deferred
        } else {
            nidus::Durability::Sync
        };
        // Every third run starts from a damaged store: a whole batch, then
        // a damaged one and a whole one after it; the first writable open
        // sets the damage aside (a side file, synced) and cuts the data
        // file (SPEC.md §7.6), under power cuts too.
        let damaged = run % 3 == 2;
        let mut first = Reference::default();
        let mut damage: Option<(usize, Vec<u8>)> = None;
        if damaged {
            let mut s = Store::open(&dir, Options::new(DIM)).expect("the damaged store");
            let recs = vec![Record::new("pre", vec![1.0; DIM])];
            s.upsert("c", &recs).unwrap();
            first.upsert("c", &recs);
            drop(s);
            let path = dir.join(nidus::format::DATA_FILE);
            let good = std::fs::read(&path).unwrap();
            let mut s = Store::open(&dir, Options::new(DIM)).unwrap();
            s.upsert("c", &[Record::new("lost", vec![2.0; DIM])])
                .unwrap();
            drop(s);
            let mut bytes = std::fs::read(&path).unwrap();
            bytes[good.len() + 16] ^= 0x10;
            bytes.extend_from_within(good.len()..);
            std::fs::write(&path, &bytes).unwrap();
            damage = Some((good.len(), bytes));
        }
        let mut opts = Options::new(DIM)
            .auto_compact(0.4, 20)
            .durability(durability)
            .file_system(Arc::new(Seam(Arc::clone(&fs))));
        if damaged {
            opts = opts.open_valid_prefix();
        }
        let mut store = Store::open(&dir, opts).expect("open");
        let mut states = vec![first];
        let calls = 30;
        for n in 0..calls {
            let (run_call, model) = call(&mut rng, n);
            begun.store(n + 1, Ordering::SeqCst);
            run_call(&mut store).unwrap_or_else(|e| panic!("call {n}: {e}"));
            if !deferred {
                acked.store(n + 1, Ordering::SeqCst);
            } else if rng.chance(0.3) {
                store.flush().expect("flush");
                acked.store(n + 1, Ordering::SeqCst);
            }
            let mut next = states.last().unwrap().clone();
            model(&mut next);
            states.push(next);
        }
        drop(store);
        calls_total += calls;
        let images = std::mem::take(&mut fs.ns.lock().unwrap().images);
        for (k, image) in images.iter().enumerate() {
            for variant in 0..4 {
                let ctx = format!(
                    "seed {} run {run}: power cut after operation {k} of {} (variant {variant}, {} calls acknowledged)",
                    seed,
                    images.len(),
                    image.acked
                );
                let to = tmp.path().join(format!("cut-{k}-{variant}"));
                restore(image, tmp.path(), &to, variant, &mut rng);
                let restored = to.join("nested").join("store");
                images_checked += 1;
                // Once the cut of a damaged file is durable, so is the copy
                // of what it cut.
                if let Some((offset, bytes)) = &damage {
                    let data =
                        std::fs::read(restored.join(nidus::format::DATA_FILE)).unwrap_or_default();
                    if data.len() < bytes.len() && variant == 0 {
                        let side = restored.join(format!("data.nidus.corrupt-{offset}"));
                        assert_eq!(
                            std::fs::read(&side).ok().as_deref(),
                            Some(&bytes[*offset..]),
                            "{ctx}: the damaged bytes were cut but their copy is not durable"
                        );
                    }
                }
                // Out-of-order survivors are corruption (§6.2): the valid
                // prefix must still hold every acknowledged call.
                let opts = if variant == 3 || damaged {
                    Options::existing().read_only().open_valid_prefix()
                } else {
                    Options::existing().read_only()
                };
                match Store::open(&restored, opts) {
                    Err(e) if e.kind() == ErrorKind::NotFound && image.acked == 0 => continue,
                    Err(e) => panic!("{ctx}: {e}"),
                    Ok(s) => {
                        assert!(
                            variant == 3
                                || damaged
                                || !matches!(s.open_report().end, FileEnd::Corrupt { .. }),
                            "{ctx}"
                        );
                        let ok =
                            (image.acked..=image.begun).any(|j| states[j].check(&s, 1000).is_ok());
                        if !ok {
                            let diffs: Vec<String> = (image.acked..=image.begun)
                                .map(|j| {
                                    format!(
                                        "after {j} calls: {}",
                                        states[j].check(&s, 1000).unwrap_err()
                                    )
                                })
                                .collect();
                            panic!(
                                "{ctx}: acknowledged calls lost or a call partly applied ({:?}): {}",
                                s.open_report(),
                                diffs.join("; ")
                            );
                        }
                    }
                }
                let _ = std::fs::remove_dir_all(&to);
            }
        }
    }
    eprintln!("power: {calls_total} calls, {images_checked} power-cut images opened");
}
