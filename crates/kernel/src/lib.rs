//! nidus-kernel: placeholder, filled in by its issue.
#![deny(unsafe_op_in_unsafe_fn)]
