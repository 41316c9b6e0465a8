//! See tests/e2e: this crate holds only tests.
