//! stub
pub fn writer_child() {}
pub fn reader_child() {}
