//! man/ must match the clap definition.

#[test]
fn man_pages_are_current() {
    slipway_tests::check_man_pages(<container_run::Args as clap::CommandFactory>::command());
}

#[test]
fn container_runtime_man_pages_are_current() {
    slipway_tests::check_man_pages(<container_run::oci::Cli as clap::CommandFactory>::command());
}
