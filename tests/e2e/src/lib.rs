//! End-to-end tests of the histo workspace (no library code): `tests/reproduce_tiny.rs` runs
//! `cargo xtask reproduce --scale tiny` — synthetic data, RSP tiling and pretraining, the
//! random-init baseline, SSL and SSL_CR on the three tasks, test-set evaluation, slide heat-maps
//! with slide AUC and FROC — in a temporary folder, and checks that every stage wrote its
//! outputs and that every number of the report parses (not particular values).
