//! stub
pub fn fuzz_child() {}
