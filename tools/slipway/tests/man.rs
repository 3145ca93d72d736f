//! man/ must match the clap definition.

#[test]
fn man_pages_are_current() {
    slipway_tests::check_man_pages(<slipway::Args as clap::CommandFactory>::command());
}
