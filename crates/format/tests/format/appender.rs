//! The append side against failing sinks and real files.

use std::io;

use nidus_format::{
    Appender, Batch, DATA_FILE, End, FormatErrorKind, HEADER_LEN, Header, Op, Reader, Sink,
};

use crate::common::{every_kind, image};

/// A sink that writes only `budget` more bytes, then fails mid-write (as
/// ENOSPC does), and can be told to fail truncation or sync too.
struct Failing {
    bytes: Vec<u8>,
    budget: usize,
    fail_truncate: bool,
    fail_sync: bool,
}

impl Sink for Failing {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let n = buf.len().min(self.budget);
        self.bytes.extend_from_slice(&buf[..n]);
        self.budget -= n;
        if n < buf.len() {
            Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
        } else {
            Ok(())
        }
    }

    fn sync(&mut self) -> io::Result<()> {
        if self.fail_sync {
            Err(io::Error::other("EIO"))
        } else {
            Ok(())
        }
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        if self.fail_truncate {
            return Err(io::Error::other("EIO"));
        }
        self.bytes.truncate(len as usize);
        Ok(())
    }
}

fn failing(header: &Header, budget: usize) -> Failing {
    Failing {
        bytes: header.encode().to_vec(),
        budget,
        fail_truncate: false,
        fail_sync: false,
    }
}

#[test]
fn a_failed_write_leaves_no_partial_frame_and_the_next_append_works() {
    let header = Header::new(5).unwrap();
    let batches = every_kind(5);
    let (full, offsets) = image(&header, &batches);
    let second_frame_len = (offsets[2] - offsets[1]) as usize;
    let first_frame_len = (offsets[1] - offsets[0]) as usize;
    // Fail at every byte of the second frame.
    for cut in 0..second_frame_len {
        let mut app = Appender::new(
            failing(&header, first_frame_len + cut),
            header,
            HEADER_LEN as u64,
        );
        app.append(&batches[0]).unwrap();
        let err = app.append(&batches[1]).unwrap_err();
        assert_eq!(err.kind(), &FormatErrorKind::Io, "{err}");
        assert_eq!(err.offset(), Some(offsets[1]));
        assert_eq!(app.end(), offsets[1]);
        assert_eq!(app.get_ref().bytes.len() as u64, offsets[1], "cut {cut}");
        // Room again: the retry builds on the frame boundary.
        app.get_mut().budget = usize::MAX;
        app.append(&batches[1]).unwrap();
        assert_eq!(app.get_ref().bytes, full[..offsets[2] as usize]);
    }
}

#[test]
fn a_failed_cut_back_or_sync_poisons_the_appender() {
    let header = Header::new(5).unwrap();
    let batches = every_kind(5);
    let mut sink = failing(&header, 10);
    sink.fail_truncate = true;
    let mut app = Appender::new(sink, header, HEADER_LEN as u64).with_path("x/data.nidus");
    assert_eq!(
        app.append(&batches[0]).unwrap_err().kind(),
        &FormatErrorKind::Io
    );
    let err = app.append(&batches[0]).unwrap_err();
    assert_eq!(err.kind(), &FormatErrorKind::Poisoned);
    assert!(
        err.to_string().starts_with("x/data.nidus: byte 32:"),
        "{err}"
    );

    let mut sink = failing(&header, usize::MAX);
    sink.fail_sync = true;
    let mut app = Appender::new(sink, header, HEADER_LEN as u64);
    app.append(&batches[0]).unwrap();
    assert_eq!(app.sync().unwrap_err().kind(), &FormatErrorKind::Io);
    assert_eq!(
        app.append(&batches[0]).unwrap_err().kind(),
        &FormatErrorKind::Poisoned
    );
}

#[test]
fn invalid_batches_write_nothing() {
    let header = Header::new(2).unwrap();
    let mut app = Appender::new(failing(&header, usize::MAX), header, HEADER_LEN as u64);
    let bad = Batch {
        ops: vec![Op::CreateCollection { name: "c".into() }],
        vectors: vec![1.0],
    };
    let err = app.append(&bad).unwrap_err();
    assert!(matches!(err.kind(), FormatErrorKind::InvalidInput { .. }));
    assert_eq!(app.get_ref().bytes.len(), HEADER_LEN);
    assert_eq!(app.end(), HEADER_LEN as u64);
}

#[test]
fn create_append_sync_reopen_truncate_torn_tail_resume() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATA_FILE);
    let header = Header::new(5).unwrap();
    let batches = every_kind(5);
    let mut app = Appender::create(&path, header).unwrap();
    for b in &batches[..3] {
        app.append(b).unwrap();
    }
    app.sync().unwrap();
    let good_end = app.end();
    drop(app);
    assert!(Appender::create(&path, header).is_err(), "never clobbers");

    // Simulate a crash mid-append: half a frame at the end.
    let (frame_image, _) = image(&header, &batches[3..5]);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&frame_image[HEADER_LEN..HEADER_LEN + 10]);
    std::fs::write(&path, &bytes).unwrap();

    let mut reader = Reader::open(&path).unwrap();
    let mut n = 0;
    let mut batch = Batch::default();
    while reader.next_into(&mut batch).unwrap() {
        n += 1;
    }
    assert_eq!(n, 3);
    assert_eq!(
        reader.end(),
        Some(&End::TornTail {
            offset: good_end,
            dropped: 10
        })
    );
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let mut app = Appender::resume(file, &path, *reader.header(), reader.valid_end()).unwrap();
    app.append(&batches[3]).unwrap();
    app.sync().unwrap();
    drop(app);

    let mut reader = Reader::open(&path).unwrap();
    let mut n = 0;
    while reader.next_into(&mut batch).unwrap() {
        n += 1;
    }
    assert_eq!(n, 4);
    assert!(matches!(reader.end(), Some(End::Clean { .. })));
}

#[test]
fn open_names_the_file_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATA_FILE);
    let err = Reader::open(&path).err().unwrap();
    assert_eq!(err.kind(), &FormatErrorKind::Io);
    assert!(err.to_string().contains("data.nidus"), "{err}");
    std::fs::write(&path, b"hello, not a store at all, sorry!").unwrap();
    let err = Reader::open(&path).err().unwrap();
    assert_eq!(err.kind(), &FormatErrorKind::NotNidus);
    assert_eq!(err.path(), Some(path.as_path()));
    assert_eq!(err.offset(), Some(0));
}

#[test]
fn resume_refuses_an_offset_past_the_end_or_inside_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATA_FILE);
    let header = Header::new(3).unwrap();
    drop(Appender::create(&path, header).unwrap());
    let open = || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap()
    };
    for bad in [HEADER_LEN as u64 + 4, 5] {
        let err = Appender::resume(open(), &path, header, bad).unwrap_err();
        assert!(
            matches!(err.kind(), FormatErrorKind::InvalidInput { .. }),
            "{err}"
        );
    }
    assert_eq!(std::fs::metadata(&path).unwrap().len(), HEADER_LEN as u64);
    let app = Appender::resume(open(), &path, header, HEADER_LEN as u64).unwrap();
    assert!(format!("{app:?}").contains("end: 32"));
}

#[test]
fn errors_convert_to_io_errors_with_a_fitting_kind() {
    let err = Reader::new(&b"not nidus at all, no no no no no"[..]).unwrap_err();
    let io_err: io::Error = err.into();
    assert_eq!(io_err.kind(), io::ErrorKind::InvalidData);
    assert!(io_err.to_string().contains("not a nidus data file"));
}
