//! STUB — the conformance suite for this port is being written.
