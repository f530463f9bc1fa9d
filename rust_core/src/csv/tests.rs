//! End-to-end tests of the CSV module.
