//! STUB — being replaced by the real adapter.
